#!/usr/bin/env bash
# Build the researcher image (Dockerfile.notebook) without any image registry;
# with the argument `hub`, the hub's image instead (Dockerfile.hub, for ENCLAVE_BACKEND=swarm).
#
#   1. enclave/debian-base:bookworm: a Debian rootfs made by debootstrap from the
#      host's own Debian mirror, imported with `docker import`. Skipped when present.
#   2. enclave/notebook:<version> and :latest (the "slim" image) from Dockerfile.notebook,
#      build context images/. Docker's layer cache makes a run with nothing changed take
#      seconds.
#   3. enclave/notebook-stack:<version> and :latest (the "stack" image): the slim image's
#      package layers, Dockerfile.stack's layers on them (R tidyverse essentials, lme4,
#      survival, data.table; lifelines, polars, DuckDB, Keras 3 on JAX; Julia when
#      JULIA_TARBALL is given), then Dockerfile.notebook's step 3 (Enclave's own files).
#      A project chooses its image in its manifest ([resources] image).
#
# Environment:
#   BASE_IMAGE      image to build on (default: the local debootstrap base). An
#                   upstream Jupyter Docker Stacks image (e.g. the julia-notebook
#                   image) works too and keeps its Julia kernel, but it needs a
#                   reachable image registry.
#   NOTEBOOK_IMAGE  repository of the slim image (default: enclave/notebook)
#   NOTEBOOK_STACK_IMAGE  repository of the stack image (default: $NOTEBOOK_IMAGE-stack)
#   IMAGES          which to build: "slim stack" (default) or "slim"
#   JULIA_TARBALL   a local julia-x.y.z-linux-x86_64.tar.gz (from julialang.org, fetched
#                   wherever it can be): Julia goes into the stack image, with read_extract()
#                   for it; no Julia registry is needed
#   JULIA_DEPOT     optional, with JULIA_TARBALL: a .tar.gz of a Julia depot in which IJulia
#                   was added (`JULIA_DEPOT_PATH=$PWD/depot julia -e 'using Pkg; Pkg.add("IJulia")'`
#                   where Julia's registry is reachable, then `tar -C depot -czf depot.tar.gz .`):
#                   the Julia kernel. IJulia is on neither Debian nor PyPI.
#   HUB_IMAGE       repository of the hub's image (default: enclave/hub), with `hub`
#   DEBIAN_MIRROR   mirror for debootstrap (default: the host's, from /etc/apt)
#   REBUILD_BASE=1  rebuild the debootstrap base even when it is present
#   DOCKER_BUILD_ARGS  extra arguments for `docker build` (e.g. --no-cache)
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_BASE=enclave/debian-base:bookworm
BASE_IMAGE="${BASE_IMAGE:-$LOCAL_BASE}"
NOTEBOOK_IMAGE="${NOTEBOOK_IMAGE:-enclave/notebook}"
HUB_IMAGE="${HUB_IMAGE:-enclave/hub}"
NOTEBOOK_STACK_IMAGE="${NOTEBOOK_STACK_IMAGE:-$NOTEBOOK_IMAGE-stack}"
IMAGES="${IMAGES:-slim stack}"
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
BUILD_DIR="$REPO/images/build"   # generated, git-ignored: never commit it

STEP="start"
step() { STEP="$*"; echo "==> $*"; }
fail() { echo "build_images.sh: $*" >&2; exit 1; }
trap 'echo "build_images.sh: FAILED during step: $STEP" >&2' ERR

# "URI SUITE" for every Debian bookworm entry of the host's apt sources, one-line
# (sources.list) and deb822 (*.sources) formats alike. Other vendors' repositories
# (suites not named bookworm*) are left out.
host_debian_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                 i = 2
                 if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                 print $i, $(i + 1)
             }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
                 types = ""; uris = ""; suites = ""
                 for (i = 1; i <= NF; i++) {
                     line = $i
                     if (line ~ /^#/) continue
                     if (line ~ /^Types:/)  { sub(/^Types:[ \t]*/, "", line);  types = line }
                     if (line ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", line);   uris = line }
                     if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = line }
                 }
                 if (types !~ /(^| )deb( |$)/) next
                 nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
                 for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print u[a], s[b]
             }' "$f"
    done
}

build_base() {
    step "debootstrap base $LOCAL_BASE (no image registry needed; about a minute)"
    [ "$(id -u)" = 0 ] || fail "step '$STEP': debootstrap needs root (run as root, or build the base once as root)"
    if ! command -v debootstrap >/dev/null; then
        echo "    installing debootstrap (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi

    local sources mirror
    sources="$(host_debian_sources | awk '$2 ~ /^bookworm(-|$)/' | sort -u)"
    mirror="${DEBIAN_MIRROR:-$(awk '$2 == "bookworm" { print $1; exit }' <<<"$sources")}"
    [ -n "$mirror" ] || fail "step '$STEP': no Debian bookworm mirror in /etc/apt/sources.list{,.d/*}; set DEBIAN_MIRROR"
    [ -n "$sources" ] || sources="$mirror bookworm"
    echo "    mirror: $mirror"

    local rootfs
    rootfs="$(mktemp -d /var/tmp/enclave-rootfs.XXXXXX)"
    # shellcheck disable=SC2064  # expand now: the variable is local
    trap "rm -rf '$rootfs'" EXIT
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || { tail -20 "$rootfs.log" >&2; fail "step '$STEP': debootstrap failed (full log: $rootfs.log)"; }
    rm -f "$rootfs.log"

    # The same suites as the host (security updates included), small images:
    # no recommends, no docs/man pages/translations, no apt caches in layers.
    awk '{ print "deb", $1, $2, "main" }' <<<"$sources" >"$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/apt.conf.d/90enclave" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
EOF
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90enclave-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

    tar --numeric-owner -C "$rootfs" -c . | docker import \
        -c 'ENV LANG=C.UTF-8' \
        -c 'CMD ["bash"]' \
        -c "LABEL org.enclave.base.source=\"debootstrap --variant=minbase bookworm\" org.enclave.base.built=\"$(date -u +%FT%TZ)\"" \
        -m "debootstrap --variant=minbase bookworm" - "$LOCAL_BASE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    echo "    imported $LOCAL_BASE"
}

# The host's CA bundle lets pip reach the package index from inside `docker build`
# (TLS is intercepted on some networks). Used during the build only, deleted from
# the image; rewritten only when it changed, so the layer cache holds.
stage_build_context() {
    step "build context: $BUILD_DIR (host CA bundle, generated)"
    [ -r "$HOST_CA_BUNDLE" ] || fail "step '$STEP': $HOST_CA_BUNDLE not readable (apt-get install ca-certificates)"
    mkdir -p "$BUILD_DIR"
    cmp -s "$HOST_CA_BUNDLE" "$BUILD_DIR/ca-certificates.crt" || cp "$HOST_CA_BUNDLE" "$BUILD_DIR/ca-certificates.crt"
    stage_julia
    stage_lab_extension
}

# build/labextensions/enclave-lab-export: JupyterLab's "Submit for export" (images/lab-extension),
# a prebuilt extension built here, on the host (node and npm; the image has no node), against the
# image's JupyterLab (its version in requirements.txt, its core packages' list from its wheel).
# Rebuilt only when the extension's source or that version changed (a hash beside it): otherwise
# the folder is left as it is, and Docker's layer cache holds.
stage_lab_extension() {
    local source="$REPO/images/lab-extension" staged="$BUILD_DIR/labextensions" work="$BUILD_DIR/lab-extension-build"
    local lab hash
    lab="$(sed -n 's/^jupyterlab==\([^ ]*\).*$/\1/p' "$REPO/images/requirements.txt" | head -1)"
    [ -n "$lab" ] || fail "step '$STEP': no jupyterlab==VERSION line in images/requirements.txt"
    hash="$( (echo "jupyterlab==$lab"; cd "$source" && cat package.json package-lock.json src/*) | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$staged/.source-hash" 2>/dev/null)" = "$hash" ]; then
        echo "    lab extension: unchanged (source hash ${hash:0:12}), not rebuilt"
        return
    fi
    local started=$SECONDS
    echo "    lab extension: building images/lab-extension for jupyterlab==$lab (node $(node --version 2>/dev/null || echo absent))"
    command -v npm >/dev/null || fail "step '$STEP': npm not found: install node 20 and npm on the host (scripts/prepare_host.sh)"
    rm -rf "$work/src" && mkdir -p "$work/core"
    cp -r "$source/package.json" "$source/package-lock.json" "$source/src" "$work/"
    (cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) \
        || fail "step '$STEP': npm ci failed in $work (the npm registry must be reachable)"
    # The core packages JupyterLab shares with extensions: staging/package.json of its wheel.
    if [ ! -s "$work/core/$lab/package.json" ]; then
        local wheels
        wheels="$(mktemp -d)"
        python3 -m pip download --quiet --no-deps "jupyterlab==$lab" -d "$wheels" \
            || fail "step '$STEP': pip could not download jupyterlab==$lab (its staging/package.json is needed)"
        mkdir -p "$work/core/$lab"
        python3 - "$wheels"/jupyterlab-*.whl "$work/core/$lab/package.json" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "wb") as out:
    out.write(wheel.read("jupyterlab/staging/package.json"))
PY
        rm -rf "$wheels"
    fi
    rm -rf "$work/labextension"
    (cd "$work" && node node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "core/$lab" . >build.log 2>&1) \
        || { tail -20 "$work/build.log" >&2; fail "step '$STEP': the lab extension did not build (log: $work/build.log)"; }
    rm -rf "$staged" && mkdir -p "$staged"
    cp -r "$work/labextension" "$staged/enclave-lab-export"
    echo "$hash" >"$staged/.source-hash"
    echo "    lab extension: built in $((SECONDS - started)) s"
}

# build/julia/ holds the Julia tarball and depot when given, and is empty otherwise (the
# stack's Dockerfile copies the folder either way). Copied only when changed: the cache holds.
stage_julia() {
    local staged="$BUILD_DIR/julia" name source
    mkdir -p "$staged"
    for name in julia depot; do
        if [ "$name" = julia ]; then source="${JULIA_TARBALL:-}"; else source="${JULIA_DEPOT:-}"; fi
        if [ -z "$source" ]; then
            rm -f "$staged/$name.tar.gz"
            continue
        fi
        [ -r "$source" ] || fail "step '$STEP': ${name^^} file $source not readable"
        tar -tzf "$source" >/dev/null 2>&1 || fail "step '$STEP': $source is not a .tar.gz archive"
        cmp -s "$source" "$staged/$name.tar.gz" || cp "$source" "$staged/$name.tar.gz"
        echo "    $name: $source"
    done
    if [ -n "${JULIA_DEPOT:-}" ] && [ -z "${JULIA_TARBALL:-}" ]; then
        fail "step '$STEP': JULIA_DEPOT is given without JULIA_TARBALL: give the Julia tarball too"
    fi
}

# The singleuser server talks to the hub's API: both must run the same jupyterhub.
check_jupyterhub_pin() {
    step "check the image's jupyterhub pin against the hub's (pyproject.toml)"
    local hub image
    hub="$(sed -n 's/^ *"jupyterhub==\([^"]*\)".*$/\1/p' "$REPO/pyproject.toml" | head -1)"
    image="$(sed -n 's/^jupyterhub==\([^ ]*\).*$/\1/p' "$REPO/images/requirements.txt" | head -1)"
    [ -n "$image" ] || fail "step '$STEP': no jupyterhub==VERSION line in images/requirements.txt"
    if [ -n "$hub" ] && [ "$hub" != "$image" ]; then
        fail "step '$STEP': the hub pins jupyterhub==$hub (pyproject.toml), the image jupyterhub==$image (images/requirements.txt): pin the same version in both"
    fi
    echo "    jupyterhub==$image"
}

# The hub's image: build context is the repository (.dockerignore keeps it to the code).
build_hub() {
    local version="$1"
    step "docker build $HUB_IMAGE:$version (and :latest) from Dockerfile.hub on $LOCAL_BASE"
    # shellcheck disable=SC2086  # DOCKER_BUILD_ARGS is a list of words
    DOCKER_BUILDKIT=0 docker build \
        -f "$REPO/Dockerfile.hub" \
        --build-arg "BASE_IMAGE=$LOCAL_BASE" \
        --label "org.opencontainers.image.version=$version" \
        -t "$HUB_IMAGE:$version" -t "$HUB_IMAGE:latest" \
        ${DOCKER_BUILD_ARGS:-} \
        "$REPO" \
        || fail "step '$STEP': docker build failed (see the output above)"
    step "done"
    docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$HUB_IMAGE:$version"
}

main() {
    local target="${1:-notebook}"
    [ "$target" = notebook ] || [ "$target" = hub ] || fail "unknown image '$target': use notebook (default) or hub"
    case " $IMAGES " in
        " slim "|" slim stack "|" stack slim ") ;;
        *) fail "IMAGES=\"$IMAGES\": use \"slim stack\" (both, the default) or \"slim\"" ;;
    esac
    check_jupyterhub_pin

    step "check the Docker engine"
    docker info >/dev/null 2>&1 || fail "step '$STEP': Docker engine unreachable — run 'make host' (installs and starts dockerd)"

    if [ "$BASE_IMAGE" = "$LOCAL_BASE" ] || [ "$target" = hub ]; then
        if [ "${REBUILD_BASE:-0}" != 1 ] && docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
            step "base $LOCAL_BASE present: reused (REBUILD_BASE=1 to rebuild it)"
        else
            build_base
        fi
    else
        step "base $BASE_IMAGE (upstream; pulled by docker build if absent, needs a registry)"
    fi

    stage_build_context

    local version
    version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/pyproject.toml" | head -1)"
    [ -n "$version" ] || fail "step 'read version': no version = \"...\" line in pyproject.toml"
    if [ "$target" = hub ]; then
        build_hub "$version"
        return
    fi
    local started=$SECONDS packages stack_packages
    packages="$(mktemp)" stack_packages="$(mktemp)"
    # shellcheck disable=SC2064  # expand now: the variables are local
    trap "rm -f '$packages' '$stack_packages'" EXIT
    step "docker build $NOTEBOOK_IMAGE:$version (and :latest) from Dockerfile.notebook on $BASE_IMAGE"
    # shellcheck disable=SC2086  # DOCKER_BUILD_ARGS is a list of words
    DOCKER_BUILDKIT=0 docker build \
        -f "$REPO/Dockerfile.notebook" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --label "org.opencontainers.image.version=$version" \
        -t "$NOTEBOOK_IMAGE:$version" -t "$NOTEBOOK_IMAGE:latest" \
        ${DOCKER_BUILD_ARGS:-} \
        "$REPO/images" \
        || fail "step '$STEP': docker build failed (see the output above)"
    echo "    slim image: $((SECONDS - started)) s"

    if [[ " $IMAGES " == *" stack "* ]]; then
        started=$SECONDS
        # The slim packages' stage again (all cached: seconds), to build the stack's layers on it.
        step "docker build the stack's packages (Dockerfile.stack) on the slim image's packages"
        DOCKER_BUILDKIT=0 docker build -q -f "$REPO/Dockerfile.notebook" --target packages \
            --build-arg "BASE_IMAGE=$BASE_IMAGE" --iidfile "$packages" "$REPO/images" >/dev/null \
            || fail "step '$STEP': docker build --target packages failed (run again without -q to see why)"
        # shellcheck disable=SC2086  # DOCKER_BUILD_ARGS is a list of words
        DOCKER_BUILDKIT=0 docker build \
            -f "$REPO/Dockerfile.stack" \
            --build-arg "PACKAGES_IMAGE=$(cat "$packages")" \
            --iidfile "$stack_packages" \
            ${DOCKER_BUILD_ARGS:-} \
            "$REPO/images" \
            || fail "step '$STEP': docker build failed (see the output above)"
        step "docker build $NOTEBOOK_STACK_IMAGE:$version (and :latest): Dockerfile.notebook's step 3 on the stack's packages"
        # shellcheck disable=SC2086  # DOCKER_BUILD_ARGS is a list of words
        DOCKER_BUILDKIT=0 docker build \
            -f "$REPO/Dockerfile.notebook" \
            --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "PACKAGES=$(cat "$stack_packages")" \
            --label "org.opencontainers.image.version=$version" \
            -t "$NOTEBOOK_STACK_IMAGE:$version" -t "$NOTEBOOK_STACK_IMAGE:latest" \
            ${DOCKER_BUILD_ARGS:-} \
            "$REPO/images" \
            || fail "step '$STEP': docker build failed (see the output above)"
        echo "    stack image: $((SECONDS - started)) s"
    fi
    rm -f "$packages" "$stack_packages"
    trap - EXIT

    step "done"
    docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$NOTEBOOK_IMAGE:$version"
    if [[ " $IMAGES " == *" stack "* ]]; then
        docker image ls --format '    {{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$NOTEBOOK_STACK_IMAGE:$version"
    fi
}

main "$@"
