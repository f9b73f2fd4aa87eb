"""The Kubernetes profile: manifests render from the project model, validate against the Kubernetes
schemas (strict), and mean what we say: a project's servers may reach the hub API, the gate and the project tools and
nothing else, and only the seal (in the hub pod) may reach them.

No cluster runs here: the policies' meaning is checked with our own evaluator (tests/scale/netpol.py).
"""

from __future__ import annotations

import copy
import itertools
import json

import pytest
import yaml

from enclave import k8s, seccomp
from enclave.errors import EnclaveError
from enclave.models import ProjectState
from enclave.settings import Settings

from ..registry.factories import create_project_at_state
from .netpol import Endpoint, admits, reachable

SETTINGS = Settings.from_env({})
CLUSTER = k8s.Cluster(namespace="enclave", hub_ip="10.96.0.81")
NAMESPACES = {"enclave": {"kubernetes.io/metadata.name": "enclave"}, "attacker": {"kubernetes.io/metadata.name": "attacker"},
              "kube-system": {"kubernetes.io/metadata.name": "kube-system"}}
PORTS = [22, 53, 80, 443, 2379, 6443, 8000, 8001, 8081, 8888, 10101, 10102, 10103, 10104, 10105, 10106, 10107]
PROTOCOLS = ["TCP", "UDP", "SCTP"]


@pytest.fixture(scope="module")
def rendered():
    return {slug: k8s.render(slug, {"mem_limit": "3G", "cpu_limit": 1.5, "workspace_quota": 2 * 1024**3}, SETTINGS, CLUSTER, ["alice", "bob"])
            for slug in ("alpha", "beta")}


def _objects(files: dict) -> list[dict]:
    return [obj for name in k8s.MANIFEST_FILES for obj in files[name]]


def test_every_manifest_validates_strictly(rendered):
    objects = _objects(rendered["alpha"])
    assert sorted({o["kind"] for o in objects}) == ["NetworkPolicy", "PersistentVolumeClaim", "Pod"]
    k8s.validate(objects)


@pytest.mark.parametrize("breakage", ["unknown field", "wrong type", "missing field"])
def test_strict_validation_refuses_a_broken_manifest(rendered, breakage):
    """The validation step is real: each kind of mistake in a manifest is refused, naming it."""
    pod = copy.deepcopy(rendered["alpha"]["pods.yaml"][0])
    container = pod["spec"]["containers"][0]
    if breakage == "unknown field":
        container["securityContext"]["readOnlyRootFilesystm"] = True  # a misspelling a lax check would ignore
    elif breakage == "wrong type":
        container["securityContext"]["runAsUser"] = "root"
    else:
        del container["name"]
    with pytest.raises(EnclaveError, match=r"Pod jupyter-alice--alpha: spec/containers/0"):
        k8s.validate([pod])


def _endpoints(rendered) -> dict[str, Endpoint]:
    alpha_bob = rendered["alpha"]["pods.yaml"][1]["metadata"]["labels"]
    beta_alice = rendered["beta"]["pods.yaml"][0]["metadata"]["labels"]
    return {
        "hub": Endpoint("hub", "enclave", k8s.HUB_POD),
        "proxy": Endpoint("proxy", "enclave", {"app": "jupyterhub", "component": "proxy"}),
        "alpha-bob": Endpoint("alpha-bob", "enclave", alpha_bob),
        "beta-alice": Endpoint("beta-alice", "enclave", beta_alice),
        "hub-impostor": Endpoint("hub-impostor", "attacker", k8s.HUB_POD),  # the hub's labels, in another namespace
        "kube-dns": Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"}),
        "internet": Endpoint("internet", None, ip="1.1.1.1"),
        "metadata": Endpoint("metadata", None, ip="169.254.169.254"),
        "node": Endpoint("node", None, ip="192.168.1.10"),
    }


def test_a_server_reaches_only_the_hub_api_the_gate_and_the_tools(rendered):
    """Every (peer, port, protocol) a server of project alpha could try: only two are allowed out."""
    policies = [p for files in rendered.values() for p in files["networkpolicies.yaml"]]
    server = rendered["alpha"]["pods.yaml"][0]["metadata"]["labels"]
    alice = Endpoint("alpha-alice", "enclave", server)
    allowed = {(name, port, proto) for (name, peer), port, proto in itertools.product(_endpoints(rendered).items(), PORTS, PROTOCOLS)
               if admits(policies, alice, "Egress", peer, port, proto, NAMESPACES)}
    assert allowed == {("hub", SETTINGS.hub_api_enclave_port, "TCP"), ("hub", SETTINGS.egress_enclave_port, "TCP"),
                       ("hub", SETTINGS.tools_enclave_port, "TCP")}
    inbound = {(name, port, proto) for (name, peer), port, proto in itertools.product(_endpoints(rendered).items(), PORTS, PROTOCOLS)
               if admits(policies, alice, "Ingress", peer, port, proto, NAMESPACES)}
    assert inbound == {("hub", k8s.NOTEBOOK_PORT, "TCP")}  # the seal, in the hub pod; not the proxy pod
    # Two servers, of one project or of two, never reach each other, whichever side starts.
    for other in ("alpha-bob", "beta-alice"):
        peer = _endpoints(rendered)[other]
        assert not any(reachable(policies, a, b, port, "TCP", NAMESPACES) for a, b in ((alice, peer), (peer, alice)) for port in PORTS)


def test_the_policies_select_the_rendered_pods_and_only_their_projects(rendered):
    """A policy that selects no pod protects nothing: each project's policies select its own pods."""
    from .netpol import selects

    for slug, files in rendered.items():
        for policy in files["networkpolicies.yaml"]:
            chosen = {pod["metadata"]["name"] for f in rendered.values() for pod in f["pods.yaml"]
                      if selects(policy["spec"]["podSelector"], pod["metadata"]["labels"])}
            assert chosen == {f"jupyter-alice--{slug}", f"jupyter-bob--{slug}"}


def test_kubespawner_settings_are_kubespawner_traits_with_valid_values(rendered):
    """kubespawner.yaml is loaded into KubeSpawner: each name must be one of its configurable traits,
    each value one the trait accepts (a Kubernetes quantity like "3Gi" is not: JupyterHub wants "3G")."""
    from kubespawner import KubeSpawner

    settings = rendered["alpha"]["kubespawner.yaml"]["KubeSpawner"]
    traits = KubeSpawner.class_traits(config=True)
    assert set(settings) <= set(traits), sorted(set(settings) - set(traits))
    spawner = KubeSpawner.__new__(KubeSpawner)  # validation needs an instance, not a hub
    for name, value in settings.items():
        traits[name]._validate(spawner, value)


def test_pods_carry_the_docker_hardening_and_the_project_resources(rendered):
    pod = rendered["alpha"]["pods.yaml"][0]
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    context = container["securityContext"]
    assert context["runAsUser"] == 1000 and context["runAsGroup"] == 100 and context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]} and not context.get("privileged")
    assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    assert not any("hostPath" in v for v in spec["volumes"])  # nothing of a node's filesystem
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/home/jovyan/data"]["readOnly"] is True
    claim = {v["name"]: v for v in spec["volumes"]}["extracts"]["persistentVolumeClaim"]
    assert claim == {"claimName": "enclave-alpha-extracts", "readOnly": True}
    assert container["resources"]["limits"] == {"cpu": 1.5, "memory": 3 * 1024**3}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["JUPYTERHUB_API_URL"] == "http://10.96.0.81:10107/hub/api"  # the hub API gate, never the hub API
    localhost = {"type": "Localhost", "localhostProfile": k8s.SECCOMP_PROFILE}
    assert context["seccompProfile"] == localhost and spec["securityContext"]["seccompProfile"] == localhost
    assert env["ENCLAVE_EGRESS_URL"] == "http://10.96.0.81:10103/services/egress/" and env["ENCLAVE_PROJECT"] == "alpha"
    workspace = next(c for c in rendered["alpha"]["volumes.yaml"] if c["metadata"]["name"] == "enclave-alpha-workspace")
    assert workspace["spec"]["resources"]["requests"]["storage"] == str(2 * 1024**3)
    values = rendered["alpha"]["values.yaml"]
    assert values["singleuser"]["networkPolicy"] == {"enabled": False}  # the chart's own policy lets servers out


@pytest.mark.parametrize("backend", ["sqlite"])
def test_cli_renders_a_registered_project(registry, tmp_path):
    with registry.session() as session:
        create_project_at_state(session, "gamma", ProjectState.provisioned, members=("carol",))
    out = tmp_path / "k8s"
    done = registry.cli("k8s", "render", "gamma", "--hub-ip", "10.96.0.81", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["enclave-seccomp.json", "kubespawner.yaml", "networkpolicies.yaml", "pods.yaml",
                                                     "values.yaml", "volumes.yaml"]
    assert json.loads((out / "enclave-seccomp.json").read_text()) == seccomp.profile()  # the node's copy: the Docker profile
    pods = list(yaml.safe_load_all((out / "pods.yaml").read_text()))
    assert sorted(p["metadata"]["name"] for p in pods) == ["jupyter-carol--gamma", "jupyter-pia--gamma"]
    k8s.validate([*pods, *yaml.safe_load_all((out / "networkpolicies.yaml").read_text())])
    bad = registry.cli("k8s", "render", "gamma", "--hub-ip", "hub.enclave.svc", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--hub-ip" in bad.stderr and not (tmp_path / "bad").exists()
    unknown = registry.cli("k8s", "render", "nope", "--hub-ip", "10.96.0.81")
    assert unknown.returncode == 2 and "nope" in unknown.stderr


def test_the_evaluator_is_not_a_wall():
    """Without policies everything is reachable, and one permissive rule (the chart's kind) opens a server:
    the evaluator's refusals above come from our policies, not from the evaluator."""
    server = Endpoint("s", "enclave", {k8s.PROJECT_LABEL: "alpha", k8s.ROLE_LABEL: "notebook"})
    internet = Endpoint("internet", None, ip="1.1.1.1")
    assert admits([], server, "Egress", internet, 443, "TCP", NAMESPACES)
    lax = {"metadata": {"namespace": "enclave"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                                                          "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}]}}
    assert admits([lax], server, "Egress", internet, 443, "TCP", NAMESPACES)
    assert not admits([lax], server, "Egress", Endpoint("m", None, ip="169.254.169.254"), 80, "TCP", NAMESPACES)


def test_the_hub_pod_lets_servers_reach_the_api_and_the_gate_and_the_proxy_the_seal(rendered):
    """Both ends must agree: the chart's hub policy, with our values' extra ingress rules, admits what
    the servers' policies let out (else the servers could not start), and the proxy's way to the seal."""
    hub_rules = rendered["alpha"]["values.yaml"]["hub"]["networkPolicy"]["ingress"]
    hub_policy = {"metadata": {"namespace": "enclave"},
                  "spec": {"podSelector": {"matchLabels": k8s.HUB_POD}, "policyTypes": ["Ingress"], "ingress": hub_rules}}
    policies = [*rendered["alpha"]["networkpolicies.yaml"], hub_policy]
    alice = Endpoint("alpha-alice", "enclave", rendered["alpha"]["pods.yaml"][0]["metadata"]["labels"])
    hub, proxy = _endpoints(rendered)["hub"], _endpoints(rendered)["proxy"]
    for port in (SETTINGS.hub_api_enclave_port, SETTINGS.egress_enclave_port, SETTINGS.tools_enclave_port):
        assert reachable(policies, alice, hub, port, "TCP", NAMESPACES)
    assert reachable(policies, proxy, hub, SETTINGS.seal_port, "TCP", NAMESPACES)
    assert not reachable(policies, alice, hub, SETTINGS.seal_port, "TCP", NAMESPACES)  # a server never reaches the seal
    assert reachable(policies, hub, alice, k8s.NOTEBOOK_PORT, "TCP", NAMESPACES)
    assert not reachable(policies, proxy, alice, k8s.NOTEBOOK_PORT, "TCP", NAMESPACES)


def test_the_project_image_choice_reaches_kubespawner():
    chosen = {name: k8s.kubespawner_config("alpha", {"image": name} if name else {}, SETTINGS, CLUSTER)["image"]
              for name in (None, "slim", "stack")}
    assert chosen == {None: SETTINGS.notebook_image, "slim": SETTINGS.notebook_image, "stack": SETTINGS.notebook_stack_image}
