
# Enclave: the module Enclave (read_extract, list_extracts) is on every Julia's load path and
# loaded at start, as the 'enclave' package is in R.
push!(LOAD_PATH, "/opt/enclave-julia")
try
    @eval using Enclave
catch error
    @warn "Enclave's module did not load: read_extract() is unavailable" exception = error
end
