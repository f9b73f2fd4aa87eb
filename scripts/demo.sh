#!/usr/bin/env bash
# make demo: the system on embedded defaults, in one folder (default demo-data/).
# Today: synthetic identifying sources -> registry -> the provisioned demo project.
# A second run is quick and changes nothing.
set -euo pipefail
DEMO_DIR=$(realpath -m "${1:-demo-data}")
PEOPLE=${2:-2000}
ENCLAVE="$(pwd)/.venv/bin/enclave"
STEPS=5
step() { CURRENT="$2"; printf '\n\033[1m[%s/%s] %s\033[0m\n' "$1" "$STEPS" "$2"; }
trap 'echo "make demo failed at step: ${CURRENT:-start} — see the message above" >&2' ERR

mkdir -p "$DEMO_DIR/projects"
cat > "$DEMO_DIR/enclave.env" <<ENV
# source this file to use the enclave command on the demo: . $DEMO_DIR/enclave.env
export ENCLAVE_HOME="$DEMO_DIR/var"
export ENCLAVE_PROJECTS_DIR="$DEMO_DIR/projects"
export ENCLAVE_SOURCES_DIR="$DEMO_DIR/sources"
export ENCLAVE_MASTER_KEY_FILE="$DEMO_DIR/master.key"
export ENCLAVE_ACTOR=ops-demo
ENV
# shellcheck source=/dev/null
. "$DEMO_DIR/enclave.env"

step 1 "master key"
if [ -s "$ENCLAVE_MASTER_KEY_FILE" ]; then
    echo "reusing $ENCLAVE_MASTER_KEY_FILE"
else
    (umask 077; "$ENCLAVE" keygen > "$ENCLAVE_MASTER_KEY_FILE")
    echo "new master key in $ENCLAVE_MASTER_KEY_FILE (it never enters an enclave)"
fi

step 2 "synthetic identifying sources ($PEOPLE people)"
if [ -f "$ENCLAVE_SOURCES_DIR/.people-$PEOPLE" ]; then
    echo "already generated in $ENCLAVE_SOURCES_DIR"
else
    rm -rf "$ENCLAVE_SOURCES_DIR"
    "$ENCLAVE" synth --out "$ENCLAVE_SOURCES_DIR" --people "$PEOPLE" --seed 42
    touch "$ENCLAVE_SOURCES_DIR/.people-$PEOPLE"
fi

step 3 "registry database and demo users"
"$ENCLAVE" db upgrade
existing=$("$ENCLAVE" user list)
add_user() {  # name role display-name
    grep -qE "^$1( |$)" <<<"$existing" || "$ENCLAVE" user add "$1" --role "$2" --display-name "$3"
}
add_user alice researcher "Alice Martin (PI)"
add_user bob researcher "Bob Durand"
add_user carol steward "Carol Petit"
add_user dave steward "Dave Moreau"
add_user oscar ops "Oscar Leroy"

step 4 "provision the demo project (projects/demo-cardio.toml)"
cp projects/demo-cardio.toml "$ENCLAVE_PROJECTS_DIR/demo-cardio.toml"
"$ENCLAVE" provision demo-cardio

step 5 "check"
"$ENCLAVE" show demo-cardio
"$ENCLAVE" audit verify

cat <<DONE

Done. The demo lives in $DEMO_DIR:
  . $DEMO_DIR/enclave.env                       then any enclave command works on it, e.g.
  enclave list | enclave show demo-cardio | enclave audit tail
  $ENCLAVE_PROJECTS_DIR/demo-cardio/extracts/DATA_DICTIONARY.md   what researchers see
  $ENCLAVE_PROJECTS_DIR/demo-cardio/extracts/manifest.json        hashes, row counts, drops by reason
DONE
