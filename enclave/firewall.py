"""Host firewall for the enclave networks (iptables; IPv4 and IPv6).

A Docker ``--internal`` network has no route out, but its containers still reach every address
of the host itself — through the network's gateway, docker0's address, any other — on every
port. These rules close that: from a project network (bridge ``encl-*``), the host answers only
on the hub API port and the proxy port, and only at that network's own gateway address; nothing
is forwarded from or to an enclave network (another project, docker0's containers, the outside).

With the Swarm backend (:mod:`enclave.swarm`), a project's servers are on an ``--internal``
overlay: no route out, and their traffic to each other never reaches the host's iptables. What
Swarm adds on each node is ``docker_gwbridge``, the bridge that gives swarm tasks a way out: nothing
is forwarded from or to it either (an enclave host runs no other swarm service that publishes ports).

Rules live in two chains of our own, rebuilt whole from the list of enclave networks each time
(provisioning and every project state change call :func:`apply`; the hub compares the host's rules
with :func:`problems` at start and applies if needed, which also moves our jumps back to first
place when another tool inserted rules above them):

    INPUT       -i encl-+ -j ENCLAVE-INPUT       (first rule)
    DOCKER-USER -j ENCLAVE-FORWARD               (first rule; FORWARD if Docker has no DOCKER-USER)
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from enclave import networks
from enclave.errors import EnclaveError
from enclave.networks import BRIDGE_PREFIX

INPUT_CHAIN = "ENCLAVE-INPUT"
FORWARD_CHAIN = "ENCLAVE-FORWARD"
IFACES = BRIDGE_PREFIX + "+"  # iptables wildcard: every enclave bridge
SWARM_GATEWAY_BRIDGE = "docker_gwbridge"  # Swarm's way out for its tasks, on every node


@dataclass(frozen=True)
class Opening:
    """One project network: the host answers there, at its gateway, on the allowed ports."""

    bridge: str
    gateway: str


def current_openings() -> list[Opening]:
    """One opening per enclave network that Docker has now."""
    return [Opening(n.bridge, n.gateway) for n in networks.all_networks()]


def ruleset(openings: list[Opening], ports: list[int]) -> dict[str, list[list[str]]]:
    """The contents of our chains, per command (iptables, ip6tables)."""
    established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]
    v4_input = [established]
    for opening in sorted(openings, key=lambda o: o.bridge):
        for port in sorted(set(ports)):
            v4_input.append(["-i", opening.bridge, "-d", opening.gateway, "-p", "tcp", "--dport", str(port), "-j", "ACCEPT"])
    v4_input.append(["-j", "DROP"])
    forward = [["-i", IFACES, "-j", "DROP"], ["-o", IFACES, "-j", "DROP"],
               ["-i", SWARM_GATEWAY_BRIDGE, "-j", "DROP"], ["-o", SWARM_GATEWAY_BRIDGE, "-j", "DROP"]]
    return {
        "iptables": [[INPUT_CHAIN, *r] for r in v4_input] + [[FORWARD_CHAIN, *r] for r in forward],
        "ip6tables": [[INPUT_CHAIN, *established], [INPUT_CHAIN, "-j", "DROP"]] + [[FORWARD_CHAIN, *r] for r in forward],
    }


def _run(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which(tool) is None:
        raise EnclaveError(f"{tool} is not installed: the enclave networks cannot be firewalled",
                           "install it (apt-get install iptables) and run again")
    result = subprocess.run([tool, "-w", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise EnclaveError(f"{tool} {' '.join(args)} failed: {result.stderr.strip()}",
                           "the enclave firewall needs root and a working iptables")
    return result


def _forward_parent(tool: str) -> str:
    return "DOCKER-USER" if _run(tool, "-S", "DOCKER-USER", check=False).returncode == 0 else "FORWARD"


def _jumps(tool: str) -> list[tuple[str, list[str]]]:
    return [("INPUT", ["-i", IFACES, "-j", INPUT_CHAIN]), (_forward_parent(tool), ["-j", FORWARD_CHAIN])]


def _restore(tool: str, chains: dict[str, list[list[str]]]) -> None:
    """Replace the given chains' rules in one iptables-restore transaction (created if missing)."""
    restore = f"{tool}-restore"
    if shutil.which(restore) is None:
        raise EnclaveError(f"{restore} is not installed: the enclave networks cannot be firewalled",
                           "install it (apt-get install iptables) and run again")
    text = ["*filter", *(f":{chain} - [0:0]" for chain in chains)]
    text += [f"-A {chain} " + " ".join(rule) for chain, rules in chains.items() for rule in rules]
    result = subprocess.run([restore, "-w", "--noflush"], input="\n".join([*text, "COMMIT", ""]), capture_output=True, text=True)
    if result.returncode != 0:
        raise EnclaveError(f"{restore} refused the enclave rules: {result.stderr.strip()}",
                           "the enclave firewall needs root and a working iptables")


def _by_chain(rules: list[list[str]]) -> dict[str, list[list[str]]]:
    return {chain: [r[1:] for r in rules if r[0] == chain] for chain in (INPUT_CHAIN, FORWARD_CHAIN)}


def apply(openings: list[Opening], ports: list[int]) -> list[str]:
    """Rebuild our chains for these networks and ports (atomically), and make their jumps the first
    rule of INPUT and of DOCKER-USER (or FORWARD).

    A jump that another tool (Docker Swarm, ufw, fail2ban) pushed down by inserting rules above it
    is moved back to the top, the foreign rules kept below it. Returns what was moved or added, one
    line each (empty when the jumps were already first)."""
    fixed = []
    for tool, rules in ruleset(openings, ports).items():
        _restore(tool, _by_chain(rules))
        for parent, jump in _jumps(tool):
            listing = _listing(tool, parent) or []
            if listing[:1] == [" ".join(jump)] and listing.count(" ".join(jump)) == 1:
                continue
            found = 0
            while _run(tool, "-C", parent, *jump, check=False).returncode == 0:
                _run(tool, "-D", parent, *jump)
                found += 1
            _run(tool, "-I", parent, "1", *jump)
            fixed.append(f"{tool}: {'moved' if found else 'added'} the jump to {jump[-1]} as the first rule of "
                         f"{parent}" + (f" (it was below {listing.index(' '.join(jump))} other rules)" if found else ""))
    return fixed


def _listing(tool: str, chain: str) -> list[str] | None:
    listed = _run(tool, "-S", chain, check=False)
    if listed.returncode != 0:
        return None
    return [line.split(" ", 2)[2] for line in listed.stdout.splitlines() if line.startswith("-A ")]


def problems(openings: list[Opening], ports: list[int]) -> list[str]:
    """What differs between the host's rules and the ones these networks need (empty: all good).

    The wanted rules are loaded into scratch chains so that iptables prints both sides alike."""
    found = []
    for tool, rules in ruleset(openings, ports).items():
        wanted = _by_chain(rules)
        scratch = {f"{chain[:20]}-CHK": chain_rules for chain, chain_rules in wanted.items()}
        _restore(tool, scratch)
        try:
            for (chain, _), check_chain in zip(wanted.items(), scratch):
                have = _listing(tool, chain)
                if have is None:
                    found.append(f"{tool}: chain {chain} is missing")
                elif have != _listing(tool, check_chain):
                    found.append(f"{tool}: chain {chain} differs from the enclave rules")
        finally:
            for check_chain in scratch:
                _run(tool, "-F", check_chain, check=False)
                _run(tool, "-X", check_chain, check=False)
        for parent, jump in _jumps(tool):
            first = (_listing(tool, parent) or [""])[0]
            if first != " ".join(jump):
                found.append(f"{tool}: {parent} does not jump to {jump[-1]} first")
    return found


def remove() -> None:
    """Take our chains out (tests; uninstall)."""
    for tool in ("iptables", "ip6tables"):
        for parent, jump in _jumps(tool):
            while _run(tool, "-C", parent, *jump, check=False).returncode == 0:
                _run(tool, "-D", parent, *jump)
        for chain in (INPUT_CHAIN, FORWARD_CHAIN):
            _run(tool, "-F", chain, check=False)
            _run(tool, "-X", chain, check=False)
