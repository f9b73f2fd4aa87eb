# Masks utils::install.packages (the package is attached after utils at start):
# there is no network in an enclave, so say why at once and how to ask.

install.packages <- function(...) {
    text <- tryCatch(
        readLines("/etc/enclave/NO_PACKAGE_INSTALL.txt", warn = FALSE),
        error = function(e) "Packages cannot be installed inside an enclave (no network): ask ops to add it to the image."
    )
    stop(paste(c("", text), collapse = "\n"), call. = FALSE)
}
