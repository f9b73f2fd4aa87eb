#!/usr/bin/env bash
# Step 2 of Dockerfile.notebook, as root: the Python packages of requirements.txt
# into /opt/enclave-venv (Debian venv, or the conda environment of an upstream
# Jupyter Docker Stacks base). The host's CA bundle is used for this download only.
set -euo pipefail
setup=/tmp/enclave-setup
python=/opt/enclave-venv/bin/python

# Only the public index, the host's CA bundle, no cache; no host or base pip config.
export PIP_CONFIG_FILE=/dev/null PIP_CERT="$setup/ca-certificates.crt" \
       PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
"$python" -m pip install --quiet --prefer-binary --requirement "$setup/requirements.txt"

# Test suites of the big libraries: never run in an enclave, about a tenth of the image.
site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for package in numpy pandas pyarrow scipy sklearn statsmodels matplotlib; do
    find "$site/$package" -depth -type d -name tests -exec rm -rf {} + 2>/dev/null || true
done
rm -f "$setup/ca-certificates.crt"
