"""The house by floors: every import goes down a floor or stays on its own, and the domains do not reach
into each other.

Floors, bottom up (docs/code-map.md says why each module sits where it does):

0. **libraries** — ``pseudonymizer``: imports nothing of ours;
1. **kernel** — ``enclave`` (models, db, audit, lifecycle, registry, manifest, settings, layout, the state
   machine, the shell and its service kit...), all that is not below on the list;
2. **hosting** — Docker networks, the firewall, workspaces, Swarm and Kubernetes, hygiene, origin checks,
   seccomp, provisioning;
3. **domains** — ``egress_gate``, ``airlock``, ``portal``, ``metering``, ``project_tools``, each on the kit;
4. **the seal** — ``spawner_config.seal*`` and the hub API gate;
5. **the hub** — the rest of ``spawner_config`` and ``jupyterhub_config.py``;
6. **the command line** — ``enclave.cli*``, the one place allowed to import everything.

The test reads every module's imports (``ast``, nothing is executed) and fails on an import that goes up a
floor, or sideways from one domain into another that :data:`SIDEWAYS` does not list. Each listed edge is
a debt with its reason; the list may only shrink (a stale entry fails too).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pseudonymizer", "enclave", "egress_gate", "airlock", "portal", "metering", "project_tools", "spawner_config")
HOSTING = ("networks", "firewall", "workspace", "swarm", "k8s", "hygiene", "enclave_origin", "host_state", "seccomp",
           "code_repository", "provisioning")
DOMAINS = ("egress_gate", "airlock", "portal", "metering", "project_tools")
FLOOR_NAMES = ("libraries", "kernel", "hosting", "domains", "seal", "hub", "command line")

# Sideways between domains, each with why it is still there. What the airlock and the project tools use of the
# gate is its disclosure checks (findings, identifiers, policy, free text): a library of checks to be moved
# below the domains; the gate's service hosts the airlock's pages; the portal's directory lists released results.
SIDEWAYS = {
    ("airlock", "egress_gate"): "the airlock runs the gate's disclosure checks and permission rules on imports",
    ("egress_gate", "airlock"): "the gate's service serves the airlock's Imports page and upload API",
    ("portal", "egress_gate"): "the public directory lists the gate's released results; one shared service config",
    ("project_tools", "egress_gate"): "package requests' free text goes through the gate's free-text check",
    ("metering", "egress_gate"): "the usage report counts the gate's reviews per project",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> int:
    top, _, rest = module.partition(".")
    first = rest.split(".")[0]
    if top == "pseudonymizer":
        return 0
    if top == "enclave":
        if first.startswith("cli"):
            return 6
        return 2 if first in HOSTING else 1
    if top in DOMAINS:
        return 3
    if top == "spawner_config":
        return 4 if first.startswith("seal") or first.startswith("hub_api") else 5
    if top == "jupyterhub_config":
        return 5
    raise AssertionError(f"{module} is on no floor: add its package to the test's table")


def imports_of(path: Path, module: str) -> set[str]:
    found = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else [])) \
                if node.level else node.module
            found.add(base)  # `from enclave import networks` imports the package and its module networks
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


def edges() -> list[tuple[str, str]]:
    files = [REPO / "jupyterhub_config.py"] + [p for package in PACKAGES for p in (REPO / package).rglob("*.py")
                                               if "migrations" not in p.parts]
    return [(module_name(p), target) for p in files for target in sorted(imports_of(p, module_name(p)))]


def test_every_import_goes_down_a_floor_or_stays_on_its_own():
    up = [f"{source} (floor {FLOOR_NAMES[floor_of(source)]}) imports {target} (floor {FLOOR_NAMES[floor_of(target)]})"
          for source, target in edges() if floor_of(target) > floor_of(source)]
    assert up == [], "imports that go up a floor:\n" + "\n".join(up)


def test_domains_reach_into_each_other_only_where_listed_and_every_listed_debt_is_still_real():
    sideways = {(s.split(".")[0], t.split(".")[0]) for s, t in edges()
                if floor_of(s) == floor_of(t) == 3 and s.split(".")[0] != t.split(".")[0]}
    assert sideways - set(SIDEWAYS) == set(), f"new imports between domains: {sorted(sideways - set(SIDEWAYS))}"
    assert set(SIDEWAYS) - sideways == set(), f"debts paid: remove {sorted(set(SIDEWAYS) - sideways)} from SIDEWAYS"


def test_the_floors_test_sees_an_import_up_a_floor_and_one_sideways(tmp_path):
    """Positive control: the rules flag what they are for (an edge built by hand, not read from the tree)."""
    assert floor_of("enclave.models") < floor_of("egress_gate.workflow")  # the kernel importing a domain goes up
    assert floor_of("enclave.networks") > floor_of("enclave.models") and floor_of("enclave.cli") == 6
    assert floor_of("spawner_config.seal") < floor_of("spawner_config.spawner")
    module = tmp_path / "enclave" / "models.py"
    module.parent.mkdir()
    module.write_text("from egress_gate.workflow import Action\nfrom . import networks\n", encoding="utf-8")
    assert {"egress_gate.workflow", "enclave.networks"} <= imports_of(module, "enclave.models")
    assert [t for t in imports_of(module, "enclave.models") if floor_of(t) > floor_of("enclave.models")]
