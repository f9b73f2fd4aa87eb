# export_submit(c("work/table.csv"), "why") -> list(id, state, url, files): asks the
# egress gate to release files of the project's workspace (~/work). The Python
# module enclave_export does the work (through reticulate, like read_extract):
# same paths (absolute or relative to the current directory), same hub token,
# same messages. The gate's refusal becomes an R error with its reason.

export_submit <- function(paths, justification) {
    if (missing(justification) || !is.character(justification) || length(justification) != 1L ||
        is.na(justification) || !nzchar(trimws(justification))) {
        stop("export_submit: a written justification is required: say what the files are and why they must leave",
             call. = FALSE)
    }
    paths <- as.character(paths)
    if (length(paths) == 0L) stop("export_submit: no file named: give at least one file of ~/work", call. = FALSE)
    module <- .enclave_export()
    answer <- tryCatch(
        module$submit(reticulate::r_to_py(as.list(paths)), justification),
        error = function(e) stop("export_submit: ", .python_message(conditionMessage(e)), call. = FALSE)
    )
    cat(reticulate::py_to_r(module$format_request(answer)), "\n", sep = "")
    invisible(reticulate::py_to_r(answer))
}

export_status <- function(id) {
    module <- .enclave_export()
    answer <- tryCatch(
        module$status(reticulate::r_to_py(as.integer(id))),
        error = function(e) stop("export_status: ", .python_message(conditionMessage(e)), call. = FALSE)
    )
    cat(reticulate::py_to_r(module$format_request(answer)), "\n", sep = "")
    invisible(reticulate::py_to_r(answer))
}

.enclave_export <- function() {
    reticulate::import("enclave_export", convert = FALSE)  # the gate's answer stays a dict until shown
}

# reticulate's message is "<class 'enclave_export.ExportError'>: the egress gate answered ..." plus a
# traceback hint on later lines: keep the researcher's part.
.python_message <- function(message) {
    first <- strsplit(message, "\n", fixed = TRUE)[[1]][1]
    sub("^.*ExportError'?>?:[[:space:]]*", "", first)
}
