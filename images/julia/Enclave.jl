"""
Enclave: read the project's extracts (the Parquet files mounted read-only in ~/data) from Julia.

    using Enclave                       # loaded at start (startup.jl)
    list_extracts()                     # ["ER_PRS_F", "IR_BEN_R"]
    care = read_extract("ER_PRS_F")     # a NamedTuple of column vectors (missing where null)

Base Julia only: Parquet.jl, Arrow.jl and DataFrames.jl come from Julia's package registry,
which an offline build does not reach. pyarrow (Python module enclave_data) reads the file and
sends the columns as little-endian bytes; `DataFrame(care)` works where DataFrames is installed.
"""
module Enclave

using Dates

export list_extracts, read_extract

const PYTHON = get(ENV, "ENCLAVE_PYTHON", "/opt/enclave-venv/bin/python")
const MAGIC = "ENCLAVE-COLUMNS-1"

function _python(args::Vector{String})
    out, err = IOBuffer(), IOBuffer()
    process = run(pipeline(ignorestatus(`$PYTHON -m enclave_data $args`), stdout=out, stderr=err))
    if !success(process)
        lines = split(strip(String(take!(err))), '\n')
        error(last(lines))   # the Python error's last line names the problem
    end
    return seekstart(out)
end

"""Names of the extracts that read_extract accepts, sorted."""
list_extracts() = filter(!isempty, readlines(_python(["list"])))

"""
    read_extract(name; columns=nothing)

Extract `name` ("ER_PRS_F") as a NamedTuple of column vectors (all columns, or only `columns`).
Integers become Int64, numbers Float64, dates Date, timestamps DateTime (UTC), text String;
a column with nulls is a Vector{Union{Missing, T}}.
"""
function read_extract(name::AbstractString; columns=nothing)
    args = ["julia", String(name)]
    columns === nothing || append!(args, ["--columns", join(string.(columns), ",")])
    io = _python(args)
    readline(io) == MAGIC || error("read_extract: unexpected answer from enclave_data")
    nrows = parse(Int, readline(io))
    ncols = parse(Int, readline(io))
    names, vectors = Symbol[], Any[]
    for _ in 1:ncols
        name, kind, nvalues, nvalid = split(readline(io), '\t')
        values = read(io, parse(Int, nvalues))
        valid = read(io, parse(Int, nvalid))
        push!(names, Symbol(name))
        push!(vectors, _vector(String(kind), values, valid, nrows))
    end
    return NamedTuple{Tuple(names)}(Tuple(vectors))
end

function _vector(kind::String, values::Vector{UInt8}, valid::Vector{UInt8}, n::Int)
    v = if kind == "Int64"
        copy(reinterpret(Int64, values))
    elseif kind == "Float64"
        copy(reinterpret(Float64, values))
    elseif kind == "Bool"
        values .!= 0x00
    elseif kind == "Date"
        Date(1970, 1, 1) .+ Day.(reinterpret(Int32, values))
    elseif kind == "DateTime"
        DateTime(1970, 1, 1) .+ Millisecond.(reinterpret(Int64, values))
    elseif kind == "String"
        offsets = reinterpret(Int64, values[1:8 * (n + 1)])
        text = values[8 * (n + 1) + 1:end]
        [String(text[offsets[i] + 1:offsets[i + 1]]) for i in 1:n]
    else
        error("read_extract: a column of unknown kind $kind")
    end
    isempty(valid) && return v
    out = Vector{Union{Missing, eltype(v)}}(v)
    out[valid .== 0x00] .= missing
    return out
end

end # module
