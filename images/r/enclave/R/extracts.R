# read_extract("ER_PRS_F") -> data.frame. pyarrow (Python module enclave_data)
# reads the Parquet file; numbers come over as little-endian bytes (Debian's
# reticulate cannot convert NumPy 2 arrays), text as character vectors. Each
# column gets its R class here, and nulls become NA.

list_extracts <- function() {
    as.character(unlist(.enclave_data()$list_extracts()))
}

read_extract <- function(name, columns = NULL) {
    if (!is.null(columns)) columns <- as.list(as.character(columns))
    .as_data_frame(.enclave_data()$r_columns(name, columns))
}

# query_extracts('SELECT PRS_NAT_REF, count(*) AS n FROM "ER_PRS_F" GROUP BY 1') -> data.frame:
# SQL over the extracts, read lazily by DuckDB (stack image); only the result comes to R, so an
# extract too large to load is still queried. Debian has no R arrow or duckdb package.
query_extracts <- function(sql, memory_limit = "1GB") {
    result <- .enclave_data()$r_query(as.character(sql), memory_limit)
    .as_data_frame(result)
}

.as_data_frame <- function(extract) {
    n <- as.integer(extract$nrows)
    vectors <- lapply(extract$columns, .as_r_vector, n = n)
    names(vectors) <- vapply(extract$columns, function(column) column$name, "")
    structure(vectors, class = "data.frame", row.names = .set_row_names(n))
}

.enclave_data <- function() {
    reticulate::import("enclave_data", convert = TRUE)
}

.read_bytes <- function(bytes, what, size, n) {
    readBin(bytes, what = what, n = n, size = size, signed = size != 1L, endian = "little")
}

.as_r_vector <- function(column, n) {
    values <- column$values
    values <- switch(column$kind,
        integer = .read_bytes(values, "integer", 4L, n),
        double = .read_bytes(values, "double", 8L, n),
        logical = as.logical(.read_bytes(values, "integer", 1L, n)),
        character = as.character(unlist(values)),
        factor = structure(.read_bytes(values, "integer", 4L, n),
                           levels = as.character(unlist(column$levels)), class = "factor"),
        Date = structure(.read_bytes(values, "double", 8L, n), class = "Date"),
        POSIXct = structure(.read_bytes(values, "double", 8L, n),
                            class = c("POSIXct", "POSIXt"), tzone = column$tz),
        stop("read_extract: column '", column$name, "' has an unknown kind '", column$kind, "'")
    )
    if (!is.null(column$valid)) values[.read_bytes(column$valid, "integer", 1L, n) == 0L] <- NA
    values
}
