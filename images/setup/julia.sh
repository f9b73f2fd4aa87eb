#!/usr/bin/env bash
# Julia in the stack image from local files, for sites with no Julia package registry:
#   build/julia/julia.tar.gz   JULIA_TARBALL, the official julia-x.y.z-linux-x86_64.tar.gz:
#                              `julia` in the terminal, and read_extract() (module Enclave,
#                              base Julia only) for it;
#   build/julia/depot.tar.gz   JULIA_DEPOT, optional: a Julia depot where IJulia was added
#                              (made where Julia's registry is reachable): the Jupyter kernel.
# IJulia and its dependencies come only from Julia's own package registry (not Debian,
# not PyPI): without JULIA_DEPOT the launcher keeps its "Julia (not in this build)"
# entry (setup/enclave-files.sh), which then says that Julia is in the terminal.
set -euo pipefail
prefix=/opt/enclave-venv
setup=/tmp/enclave-setup/julia
tarball="$setup/julia.tar.gz"
depot="$setup/depot.tar.gz"

if [ ! -f "$tarball" ]; then
    echo "enclave stack: no Julia tarball given (JULIA_TARBALL): no Julia in this build"
    exit 0
fi
echo "enclave stack: Julia from the given tarball"
install -d /opt/julia-dist
tar -xzf "$tarball" -C /opt/julia-dist --strip-components=1 --no-same-owner
ln -sfn /opt/julia-dist/bin/julia /usr/local/bin/julia
julia --startup-file=no --version

# Module Enclave (read_extract, list_extracts): a package directory on every Julia's LOAD_PATH.
install -d /opt/enclave-julia/Enclave/src
install -m 0644 "$setup/Enclave.jl" /opt/enclave-julia/Enclave/src/Enclave.jl
install -d /opt/julia-dist/etc/julia
cat "$setup/startup.jl" >>/opt/julia-dist/etc/julia/startup.jl
julia -e 'using Enclave; println("enclave stack: Julia module Enclave loads")'

if [ -f "$depot" ]; then
    echo "enclave stack: Julia depot with IJulia (JULIA_DEPOT) into /opt/julia"
    install -d /opt/julia
    tar -xzf "$depot" -C /opt/julia --no-same-owner
    chmod -R a+rX /opt/julia
    kernel_jl="$(julia -e 'using IJulia; print(joinpath(dirname(pathof(IJulia)), "kernel.jl"))')"
    version="$(julia --startup-file=no -e 'print(VERSION.major, ".", VERSION.minor)')"
    kernel=/tmp/enclave-julia-kernel
    install -d "$kernel"
    cat >"$kernel/kernel.json" <<JSON
{"argv": ["/usr/local/bin/julia", "-i", "--color=yes", "$kernel_jl", "{connection_file}"],
 "display_name": "Julia $version", "language": "julia", "interrupt_mode": "message", "env": {}}
JSON
    "$prefix/bin/jupyter" kernelspec install --replace --name "julia-$version" "$kernel" >/dev/null
    rm -rf "$kernel"
else
    echo "enclave stack: no Julia depot with IJulia (JULIA_DEPOT): Julia in the terminal, no Julia kernel"
fi
