#!/usr/bin/env bash
# make demo-stop: stop the demo's hub with everything it started (proxy, services), and the OIDC provider.
set -uo pipefail
DEMO_DIR=$(realpath -m "${1:-demo-data}")

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop() {  # pid name: SIGTERM, then SIGKILL after 15 s
    local pid=$1 name=$2
    alive "$pid" || return 0
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 30); do alive "$pid" || { echo "stopped $name ($pid)"; return 0; }; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null && echo "killed $name ($pid)"
}

hub=$(cat "$DEMO_DIR/hub.pid" 2>/dev/null)
proxy=$(cat "$DEMO_DIR/var/jupyterhub-proxy.pid" 2>/dev/null)
children=$(alive "$hub" && pgrep -P "$hub")  # the hub's services (idle culler, reconciler, egress gate)
stop "$hub" hub
for pid in $children; do stop "$pid" "hub service"; done
stop "$proxy" proxy
stop "$(cat "$DEMO_DIR/idp.pid" 2>/dev/null)" "OIDC provider"
rm -f "$DEMO_DIR/hub.pid" "$DEMO_DIR/idp.pid"
