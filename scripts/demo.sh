#!/usr/bin/env bash
# make demo: synthetic identifying sources -> the pseudonymised extract of a demo project.
set -euo pipefail
DEMO_DIR=${1:-demo-data}
PEOPLE=${2:-2000}
ENCLAVE=.venv/bin/enclave
step() { printf '\n\033[1m[%s] %s\033[0m\n' "$1" "$2"; }
trap 'echo "demo failed at: ${CURRENT:-start} — see the message above" >&2' ERR

mkdir -p "$DEMO_DIR"
CURRENT="master key"; step 1/3 "$CURRENT"
if [ ! -s "$DEMO_DIR/master.key" ]; then
    (umask 077; $ENCLAVE keygen > "$DEMO_DIR/master.key")
    echo "new master key in $DEMO_DIR/master.key (keep it out of every enclave)"
else
    echo "reusing $DEMO_DIR/master.key"
fi

CURRENT="synthetic identifying sources ($PEOPLE people)"; step 2/3 "$CURRENT"
if [ -f "$DEMO_DIR/sources/.people-$PEOPLE" ]; then
    echo "already generated in $DEMO_DIR/sources"
else
    rm -rf "$DEMO_DIR/sources"
    $ENCLAVE synth --out "$DEMO_DIR/sources" --people "$PEOPLE" --seed 42
    touch "$DEMO_DIR/sources/.people-$PEOPLE"
fi

CURRENT="pseudonymised extract of project demo-cardio"; step 3/3 "$CURRENT"
$ENCLAVE pseudonymize --sources "$DEMO_DIR/sources" --project demo-cardio \
    --master-key-file "$DEMO_DIR/master.key" \
    --tables IR_BEN_R,ER_PRS_F,T_MCOaaB,T_MCOaaC,KI_CCI_R \
    --where "ER_PRS_F.EXE_SOI_DTD >= 2019-01-01" \
    --out "$DEMO_DIR/projects/demo-cardio/extracts"

echo
echo "Done. Look at:"
echo "  $DEMO_DIR/projects/demo-cardio/extracts/DATA_DICTIONARY.md   what researchers see"
echo "  $DEMO_DIR/projects/demo-cardio/extracts/manifest.json        hashes, row counts, drops by reason"
