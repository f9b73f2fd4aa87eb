#!/usr/bin/env bash
# Install and start what Enclave needs on this host, from the distribution's packages.
# Idempotent and quick when everything is there. Usage: prepare_host.sh [python] [docker] [postgres] [proxy] [images] [browser] [scanner]
set -euo pipefail

missing=()
want() { missing+=("$@"); }
for part in "$@"; do
    case "$part" in
        python)   python3 -c 'import venv, ensurepip' 2>/dev/null || want python3-venv
                  command -v java >/dev/null || want openjdk-17-jre-headless ;;  # Spark, the extraction engine
        docker)   command -v dockerd >/dev/null || want docker.io
                  command -v iptables >/dev/null || want iptables
                  command -v mkfs.ext4 >/dev/null || [ -x /usr/sbin/mkfs.ext4 ] || want e2fsprogs  # workspace quotas
                  command -v ss >/dev/null || want iproute2
                  command -v git >/dev/null || want git ;;  # project repositories, served by the project tools
        postgres) ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || want postgresql ;;
        proxy)    command -v npm >/dev/null || want nodejs npm ;;
        images)   command -v debootstrap >/dev/null || want debootstrap ;;
        browser)  command -v chromium >/dev/null || want chromium
                  command -v npm >/dev/null || want nodejs npm ;;  # axe-core, the accessibility checker, below
        scanner)  command -v clamscan >/dev/null || want clamav ;;  # the import airlock's malware scan (no signatures shipped)
        *) echo "prepare_host.sh: unknown part '$part' (python, docker, postgres, proxy, images, browser, scanner)" >&2; exit 2 ;;
    esac
done

if ((${#missing[@]})); then
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages: ${missing[*]} — run as root, or: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# configurable-http-proxy, JupyterHub's proxy, comes from npm (4.x runs on the Node.js of Debian 12).
if [[ " $* " == *" proxy "* ]] && ! command -v configurable-http-proxy >/dev/null; then
    node_major=$(node -e 'console.log(process.versions.node.split(".")[0])')
    version=$([ "$node_major" -ge 20 ] && echo 5 || echo 4)
    echo "installing configurable-http-proxy@$version (npm)"
    npm install -g --silent "configurable-http-proxy@$version" >/dev/null
fi

# axe-core, the accessibility checker the browser tests inject into each page (tests/ui), comes from npm.
if [[ " $* " == *" browser "* ]] && [ ! -f "$(npm root -g)/axe-core/axe.min.js" ]; then
    echo "installing axe-core@4 (npm)"
    npm install -g --silent "axe-core@4" >/dev/null
fi

if [[ " $* " == *" docker "* ]] && ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: /var/log/enclave-dockerd.log)"
    nohup dockerd >/var/log/enclave-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/enclave-dockerd.log" >&2; exit 1; }
fi
