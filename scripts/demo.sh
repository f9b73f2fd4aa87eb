#!/usr/bin/env bash
# make demo: the system on embedded defaults, in one folder (default demo-data/): synthetic
# identifying sources -> registry -> the provisioned demo project -> notebook image -> the local
# OpenID Connect provider and the hub, left running (make demo-stop stops them).
# A second run is quick and changes nothing.
set -euo pipefail
DEMO_DIR=$(realpath -m "${1:-demo-data}")
PEOPLE=${2:-2000}
ENCLAVE="$(pwd)/.venv/bin/enclave"
STEPS=7
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
export ENCLAVE_OIDC_ISSUER=http://127.0.0.1:9400
export ENCLAVE_OIDC_CLIENT_ID=enclave-demo
export ENCLAVE_OIDC_CLIENT_SECRET=demo-only-secret
export ENCLAVE_OIDC_CALLBACK_URL=http://127.0.0.1:8000/hub/oauth_callback
export ENCLAVE_TOTP_KEY=\$(cat "$DEMO_DIR/totp.key")
ENV
chmod 600 "$DEMO_DIR/enclave.env"  # it holds the OIDC client secret
[ -s "$DEMO_DIR/totp.key" ] || (umask 077; .venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > "$DEMO_DIR/totp.key")
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
    "$ENCLAVE" synth --out "$ENCLAVE_SOURCES_DIR" --people "$PEOPLE" --seed 42 --quiet
    touch "$ENCLAVE_SOURCES_DIR/.people-$PEOPLE"
fi
chmod -R go-rwx "$ENCLAVE_SOURCES_DIR"  # identifying data: root's alone (the hub refuses to start otherwise)

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
add_user oscar ops "Oscar Leroy"   # the dev OIDC provider signs in whoever types a user name
add_user claire committee "Claire Dubois"   # the scientific and ethics committee (portal)
add_user hugo committee "Hugo Bernard"
add_user ines committee "Inès Garnier"
.venv/bin/python -m portal.seed   # one access request at each stage of the front office

step 4 "provision the demo project (projects/demo-cardio.toml)"
cp projects/demo-cardio.toml "$ENCLAVE_PROJECTS_DIR/demo-cardio.toml"
"$ENCLAVE" provision demo-cardio --quiet

step 5 "check"
"$ENCLAVE" show demo-cardio
"$ENCLAVE" audit verify

step 6 "notebook image (built offline; minutes the first time, seconds after)"
# Quiet unless it fails: the build's whole output goes to its log, its end to the screen on failure.
# The demo's project runs the slim image: the stack image (minutes more) only with IMAGES="slim stack".
if IMAGES="${IMAGES:-slim}" bash scripts/build_images.sh > "$DEMO_DIR/build_images.log" 2>&1; then
    echo "enclave/notebook:latest ready (log: $DEMO_DIR/build_images.log)"
else
    tail -40 "$DEMO_DIR/build_images.log" >&2
    echo "the notebook image build failed: see $DEMO_DIR/build_images.log" >&2
    exit 1
fi

step 7 "local OpenID Connect provider and hub"
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if running "$DEMO_DIR/idp.pid"; then
    echo "OIDC provider already running (pid $(cat "$DEMO_DIR/idp.pid"))"
else
    install -m 600 /dev/null "$DEMO_DIR/idp.log"  # logs stay root's (a mode kept by the truncation below)
    nohup .venv/bin/python -m enclave.auth.devidp --port 9400 > "$DEMO_DIR/idp.log" 2>&1 &
    echo $! > "$DEMO_DIR/idp.pid"
fi
if running "$DEMO_DIR/hub.pid"; then
    echo "hub already running (pid $(cat "$DEMO_DIR/hub.pid"))"
else
    if curl -s -o /dev/null http://127.0.0.1:8000/; then  # -s: a refused connection is the expected answer
        echo "port 8000 is taken by another program (an earlier hub?): run make demo-stop, or stop it" >&2
        exit 1
    fi
    repo=$(pwd)
    (cd "$DEMO_DIR"; umask 077; nohup "$repo/.venv/bin/jupyterhub" -f "$repo/jupyterhub_config.py" > hub.log 2>&1 & echo $! > hub.pid)
fi
for _ in $(seq 1 60); do  # -s without -S: no "Failed to connect" line each second while the hub starts
    curl -fs -o /dev/null http://127.0.0.1:8000/hub/api/ && break
    running "$DEMO_DIR/hub.pid" || { tail -20 "$DEMO_DIR/hub.log" >&2; echo "the hub stopped: see $DEMO_DIR/hub.log" >&2; exit 1; }
    sleep 1
done
curl -fs -o /dev/null http://127.0.0.1:8000/hub/api/ || { echo "the hub did not answer: see $DEMO_DIR/hub.log" >&2; exit 1; }
echo "hub answering at http://127.0.0.1:8000/ (log: $DEMO_DIR/hub.log)"

cat <<DONE

Done. Open http://127.0.0.1:8000/ (from this machine; an SSH tunnel from elsewhere).
  Sign in: the local provider asks for a user name — alice or bob (researchers, project demo-cardio),
  carol or dave (stewards), oscar (ops) — then enrol a TOTP code (scan the QR code, or compute it:
  .venv/bin/python -c 'import pyotp; print(pyotp.TOTP("SECRET").now())').
  Then start the project's server: http://127.0.0.1:8000/hub/spawn/alice/demo-cardio
Front office: http://127.0.0.1:8000/services/portal/ — catalogue and projects without signing in;
  requests at every stage (alice applies, claire/hugo/ines are the committee, oscar records authorisations);
  the authorised one is projects/demo-readmissions.toml: make provision PROJECT=demo-readmissions
Operators: . $DEMO_DIR/enclave.env, then enclave list | enclave show demo-cardio | enclave audit tail
Stop everything: make demo-stop. Logs: $DEMO_DIR/hub.log, $DEMO_DIR/idp.log
DONE
