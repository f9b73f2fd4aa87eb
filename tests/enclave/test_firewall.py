"""The host firewall heals: rules another tool inserted above our jumps do not stop the hub.

Docker Swarm, ufw or fail2ban insert their rules at the top of INPUT and FORWARD. The hub's start
(``spawner_config.hub.check_firewall``, run by ``jupyterhub_config.py``) must move our jumps back
to the first place, keep the foreign rules below them, start, and say what it fixed. The foreign
rules here match only a documentation address (192.0.2.0/24, 2001:db8::/32) and are removed at the end.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator

import pytest

from enclave import firewall
from enclave.settings import Settings
from spawner_config.hub import check_firewall

pytestmark = pytest.mark.docker

SETTINGS = Settings.from_env({})  # the default ports: those of a demo that may run on this host


def rules(tool: str, chain: str) -> list[str]:
    listed = subprocess.run([tool, "-w", "-S", chain], capture_output=True, text=True, check=True)
    return [line for line in listed.stdout.splitlines() if line.startswith("-A ")]


def forward_parent() -> str:
    return "DOCKER-USER" if subprocess.run(["iptables", "-w", "-S", "DOCKER-USER"], capture_output=True).returncode == 0 \
        else "FORWARD"


@pytest.fixture
def foreign_rules() -> Iterator[list[tuple[str, str, list[str]]]]:
    """Inserts, at the top of INPUT and of the forward chain, a rule of another tool."""
    inserted = [("iptables", "INPUT", ["-s", "192.0.2.77/32", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"]),
                ("iptables", forward_parent(), ["-s", "192.0.2.77/32", "-j", "RETURN"]),
                ("ip6tables", "INPUT", ["-s", "2001:db8::77/128", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"])]
    firewall.apply(firewall.current_openings(), SETTINGS.firewall_ports)
    try:
        for tool, chain, rule in inserted:
            subprocess.run([tool, "-w", "-I", chain, "1", *rule], check=True)
        yield inserted
    finally:
        for tool, chain, rule in inserted:
            while subprocess.run([tool, "-w", "-C", chain, *rule], capture_output=True).returncode == 0:
                subprocess.run([tool, "-w", "-D", chain, *rule], check=True)


def test_the_hub_moves_its_jumps_back_to_first_place_and_says_so(foreign_rules, caplog):
    openings = firewall.current_openings()
    found = firewall.problems(openings, SETTINGS.firewall_ports)
    assert "iptables: INPUT does not jump to ENCLAVE-INPUT first" in found
    assert f"iptables: {forward_parent()} does not jump to ENCLAVE-FORWARD first" in found

    with caplog.at_level(logging.INFO, logger="enclave.hub"):
        healed = check_firewall(SETTINGS)  # raised "cannot be set" before the jumps were moved

    assert healed == found
    assert firewall.problems(openings, SETTINGS.firewall_ports) == []
    log = caplog.text
    assert "enclave firewall healed: " in log and "moved the jump to ENCLAVE-INPUT as the first rule of INPUT" in log
    for tool, chain, rule in foreign_rules:
        listing = rules(tool, chain)
        ours = "ENCLAVE-INPUT" if chain == "INPUT" else "ENCLAVE-FORWARD"
        assert listing[0].endswith(f"-j {ours}"), (tool, chain, listing[:3])
        assert sum(line.endswith(f"-j {ours}") for line in listing) == 1, "one jump, not two"
        assert any(line.startswith(f"-A {chain} -s {rule[1]}") for line in listing[1:]), "the foreign rule is kept"

    with caplog.at_level(logging.INFO, logger="enclave.hub"):
        assert check_firewall(SETTINGS) == []  # healed rules stay healed: the next start changes nothing
    assert firewall.apply(openings, SETTINGS.firewall_ports) == []
