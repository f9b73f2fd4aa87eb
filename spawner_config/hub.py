"""What the hub does once at start: check the host firewall of the enclave networks."""

from __future__ import annotations

import logging
import socket

from enclave import firewall
from enclave.errors import EnclaveError
from enclave.settings import Settings

log = logging.getLogger("enclave.hub")


def check_firewall(settings: Settings) -> list[str]:
    """Compare the host's rules with what the current enclave networks need; rebuild them if they
    differ (logging what was fixed), and refuse to start the hub if they still differ (a container
    could reach the host). Returns the problems found and fixed (empty when there were none)."""
    openings = firewall.current_openings()
    found = firewall.problems(openings, settings.firewall_ports)
    if not found:
        log.info("enclave firewall OK: %d project networks, host ports %s", len(openings), settings.firewall_ports)
        return []
    log.warning("enclave firewall: %s — rebuilding it", "; ".join(found))
    fixed = firewall.apply(openings, settings.firewall_ports)
    still = firewall.problems(openings, settings.firewall_ports)
    if still:
        raise EnclaveError(f"the enclave firewall cannot be set: {'; '.join(still)}",
                           "run the hub as root on a host with iptables, or fix the rules by hand")
    log.warning("enclave firewall healed: %s", "; ".join(fixed) or "our chains rebuilt")
    return found


def own_address() -> str:
    """This container's address on the network it started on (Docker writes it into /etc/hosts): where
    the hub's proxy listens when the hub runs in a container that the Swarm spawner later attaches to
    the projects' overlays."""
    return socket.gethostbyname(socket.gethostname())
