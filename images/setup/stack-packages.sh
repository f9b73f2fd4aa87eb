#!/usr/bin/env bash
# Steps 1 and 2 of Dockerfile.stack, as root, on top of the slim image: R's tidyverse
# essentials and modelling packages from Debian, the big Python libraries from PyPI
# (requirements-stack.txt, the slim pins as constraints). Julia: setup/julia.sh.
#
#   stack-packages.sh r        the Debian packages (first layer: changes rarely)
#   stack-packages.sh python   requirements-stack.txt (second layer)
set -euo pipefail
setup=/tmp/enclave-setup
prefix=/opt/enclave-venv
python="$prefix/bin/python"

r_packages=(
    r-cran-ggplot2 r-cran-dplyr r-cran-tidyr r-cran-readr   # tidyverse essentials
    r-cran-data.table r-cran-survival r-cran-lme4
)
install_r() {
echo "enclave stack: R packages from Debian: ${r_packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${r_packages[@]}" >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*
}

install_python() {
echo "enclave stack: Python packages (requirements-stack.txt)"
# /etc/pip.conf (no-index) and the pip wrapper of the slim image stop installs in an
# enclave; this build step uses the public index with the host's CA bundle, on purpose.
export PIP_CONFIG_FILE=/dev/null PIP_CERT="$setup/ca-certificates.crt" \
       PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
"$python" -m pip install --quiet --prefer-binary --requirement "$setup/requirements-stack.txt" \
    --constraint "$setup/requirements.txt"
site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for package in jax jaxlib keras polars duckdb lifelines; do
    find "$site/$package" -depth -type d -name tests -exec rm -rf {} + 2>/dev/null || true
done
rm -f "$setup/ca-certificates.crt"
}

case "${1:-}" in
    r) install_r ;;
    python) install_python ;;
    *) echo "usage: stack-packages.sh r|python" >&2; exit 2 ;;
esac
