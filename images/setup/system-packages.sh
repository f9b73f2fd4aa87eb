#!/usr/bin/env bash
# Step 1 of Dockerfile.notebook, as root: system packages and the jovyan user.
# Two bases are supported:
#   - the local debootstrap Debian base: Debian's python3 + a venv at /opt/enclave-venv;
#   - an upstream Jupyter Docker Stacks image (Ubuntu, conda at /opt/conda, user
#     jovyan, maybe Julia): /opt/enclave-venv becomes a link to /opt/conda.
# R comes from the distribution in both cases (Debian has no R arrow: extracts are
# read through reticulate + pyarrow).
set -euo pipefail

packages=(
    ca-certificates tini
    r-base-core r-cran-irkernel r-cran-reticulate r-cran-jsonlite
    less nano   # a pager and an editor for the JupyterLab terminal
    git         # the project's repository (its remote is served at the project gateway); jupyterlab-git uses it
)
if [ ! -x /opt/conda/bin/python ]; then
    packages+=(python3 python3-venv)
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
if [ ! -x /opt/conda/bin/python ]; then
    # reticulate (R) embeds Python: it needs the shared libpython of that version.
    libpython="libpython$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    apt-get install -y -qq --no-install-recommends "$libpython" >/dev/null
fi
apt-get clean
rm -rf /var/lib/apt/lists/*

if [ -x /opt/conda/bin/python ]; then
    ln -sfn /opt/conda /opt/enclave-venv
else
    python3 -m venv /opt/enclave-venv
fi

# The researcher: uid 1000, gid 100 (users), as in the Jupyter Docker Stacks.
if ! id -u jovyan >/dev/null 2>&1; then
    useradd --uid 1000 --gid 100 --create-home --home-dir /home/jovyan --shell /bin/bash jovyan
fi
if [ "$(id -u jovyan)" != 1000 ] || [ "$(id -g jovyan)" != 100 ]; then
    echo "system-packages.sh: user jovyan exists but is not uid 1000 gid 100" >&2
    exit 1
fi
