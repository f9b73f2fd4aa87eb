"""Kubernetes profile: a project's KubeSpawner settings, pod, volumes and NetworkPolicies, rendered offline.

The same project model as the Docker backend (:class:`spawner_config.spawner.EnclaveSpawner`): the
registry's resources for the project, the settings' image and ports. What Docker's hardening becomes:

| Docker (EnclaveSpawner) | Kubernetes (this profile) |
|---|---|
| network ``enclave-<slug>`` + host firewall | NetworkPolicies: deny all; egress to the hub API gate, egress gate, tools; ingress from the seal |
| extracts bind-mounted read-only at ~/data | the project's extracts claim, mounted ``readOnly`` |
| workspace with a quota at ~/work | the project's workspace claim, its size the quota |
| ``user 1000:100``, ``cap_drop ALL``, no-new-privileges | ``runAs*``/``fsGroup``, ``runAsNonRoot``, drop ALL, no escalation |
| ``seccomp=`` the enclave's profile | ``seccompProfile: Localhost`` :data:`SECCOMP_PROFILE`, rendered beside the manifests |
| ``read_only`` root, tmpfs /tmp and home | ``readOnlyRootFilesystem``, memory-backed ``emptyDir`` for /tmp and the home |
| ``mem_limit``, ``cpu_limit`` | container limits (and requests) |
| ``pids_limit`` | none per pod: the kubelet's ``podPidsLimit`` (node-wide) must be set |
| no Docker socket, no keys | ``automountServiceAccountToken: false``, ``enableServiceLinks: false`` |

The browser reaches a server only through the seal, which runs in the hub pod (a hub-managed service,
as on Docker): so the one peer allowed in is the hub pod on the server's port, never the proxy pod,
whose routes lead to every server. Egress goes to the hub Service's address (no DNS is allowed: a
resolver that forwards upstream is a way out), so the profile needs that address (``--hub-ip``).

The seccomp profile (:mod:`enclave.seccomp`) is a file on each node: a node that may run servers must
hold ``enclave-seccomp.json`` (as rendered) at ``<kubelet root>/seccomp/`` + :data:`SECCOMP_PROFILE`
(``/var/lib/kubelet/seccomp/enclave/enclave-seccomp.json`` by default); a pod whose profile is missing
does not start (``CreateContainerError``), it never runs unconfined.

Nothing here has run against a cluster (none is reachable from this machine); the manifests are
validated against the Kubernetes schemas (``kubernetes-validate``, strict) and the policies'
meaning is tested (tests/scale/test_k8s_profile.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from enclave import seccomp
from enclave.errors import EnclaveError
from enclave.layout import NOTEBOOK_GID, NOTEBOOK_UID
from enclave.models import default_resources
from enclave.settings import Settings

HOME = "/home/jovyan"
NOTEBOOK_PORT = 8888
PROJECT_LABEL = "enclave.io/project"  # on every object of a project
ROLE_LABEL = "enclave.io/role"
HUB_POD = {"app": "jupyterhub", "component": "hub"}  # Zero to JupyterHub's labels of the hub pod
K8S_VERSION = "1.33.0"  # the API version the manifests are validated against
SECCOMP_FILE = "enclave-seccomp.json"
SECCOMP_PROFILE = f"enclave/{SECCOMP_FILE}"  # relative to the kubelet's seccomp folder


@dataclass(frozen=True)
class Cluster:
    """Where the profile runs: the namespace of the JupyterHub release and its hub Service's address."""

    namespace: str = "enclave"
    hub_ip: str = ""
    storage_class: str = "enclave-shared"  # ReadOnlyMany / ReadWriteMany: a shared filesystem (NFS, CephFS)

    def __post_init__(self):
        try:
            ipaddress.ip_address(self.hub_ip)
        except ValueError:
            raise EnclaveError(f"the hub Service's address {self.hub_ip!r} is not an IP address",
                               "give --hub-ip, from: kubectl -n NAMESPACE get service hub -o jsonpath='{.spec.clusterIP}'") from None


def _names(slug: str) -> dict[str, str]:
    return {"extracts": f"enclave-{slug}-extracts", "workspace": f"enclave-{slug}-workspace"}


def _labels(slug: str, role: str) -> dict[str, str]:
    return {PROJECT_LABEL: slug, ROLE_LABEL: role}


def kubespawner_config(slug: str, resources: dict, settings: Settings, cluster: Cluster) -> dict[str, Any]:
    """The KubeSpawner traits of the project's servers (what EnclaveSpawner._configure sets on Docker)."""
    resources = {**default_resources(), **resources}
    names = _names(slug)
    gate = f"http://{cluster.hub_ip}:{settings.egress_enclave_port}/services/egress/"
    return {
        "image": settings.notebook_image_for(resources.get("image")),  # the project's choice: slim or stack
        "image_pull_policy": "IfNotPresent",
        "cmd": list(seccomp.SERVER_COMMAND),  # jupyterhub-singleuser, non-dumpable (enclave.seccomp)
        "port": NOTEBOOK_PORT,
        "uid": NOTEBOOK_UID,
        "gid": NOTEBOOK_GID,
        "fs_gid": NOTEBOOK_GID,
        "privileged": False,
        "allow_privilege_escalation": False,
        "container_security_context": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "Localhost", "localhostProfile": SECCOMP_PROFILE},
        },
        "pod_security_context": {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost", "localhostProfile": SECCOMP_PROFILE}},
        "automount_service_account_token": False,
        "service_account": None,
        "cpu_limit": float(resources["cpu_limit"]),
        "cpu_guarantee": float(resources["cpu_limit"]),
        "mem_limit": resources["mem_limit"],  # JupyterHub's byte specification, as on Docker ("2G" = 2 GiB)
        "mem_guarantee": resources["mem_limit"],
        "hub_connect_url": f"http://{cluster.hub_ip}:{settings.hub_api_enclave_port}",  # the hub API gate, in the hub pod
        "environment": {"ENCLAVE_PROJECT": slug, "ENCLAVE_EGRESS_URL": gate},
        "extra_labels": _labels(slug, "notebook"),
        "extra_pod_config": {"enableServiceLinks": False},
        "working_dir": HOME,
        "storage_pvc_ensure": False,
        "volumes": [
            {"name": "extracts", "persistentVolumeClaim": {"claimName": names["extracts"], "readOnly": True}},
            {"name": "workspace", "persistentVolumeClaim": {"claimName": names["workspace"]}},
            {"name": "home", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        ],
        "volume_mounts": [
            {"name": "extracts", "mountPath": f"{HOME}/data", "readOnly": True},
            {"name": "workspace", "mountPath": f"{HOME}/work"},
            {"name": "home", "mountPath": HOME},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def pod_manifest(slug: str, username: str, config: dict[str, Any]) -> dict[str, Any]:
    """The pod KubeSpawner makes for `username`'s server in project `slug`, built offline by
    KubeSpawner's own ``make_pod`` from the traits above."""
    from jupyterhub.traitlets import ByteSpecification
    from kubespawner.objects import make_pod

    memory = {k: ByteSpecification().validate(None, config[k]) for k in ("mem_limit", "mem_guarantee")}  # bytes, as KubeSpawner passes them
    env = {**config["environment"], "JUPYTERHUB_API_URL": f"{config['hub_connect_url']}/hub/api"}
    pod = make_pod(
        name=f"jupyter-{username}--{slug}", cmd=config["cmd"], port=config["port"], image=config["image"],
        image_pull_policy=config["image_pull_policy"], uid=config["uid"], gid=config["gid"], fs_gid=config["fs_gid"],
        privileged=config["privileged"], allow_privilege_escalation=config["allow_privilege_escalation"],
        container_security_context=config["container_security_context"], pod_security_context=config["pod_security_context"],
        env=env, working_dir=config["working_dir"], volumes=config["volumes"], volume_mounts=config["volume_mounts"],
        labels={**config["extra_labels"], "hub.jupyter.org/username": username, "component": "singleuser-server"},
        cpu_limit=config["cpu_limit"], cpu_guarantee=config["cpu_guarantee"], mem_limit=memory["mem_limit"],
        mem_guarantee=memory["mem_guarantee"], automount_service_account_token=config["automount_service_account_token"],
        service_account=config["service_account"], extra_pod_config=config["extra_pod_config"],
    )
    manifest = _plain(pod)
    return {"apiVersion": "v1", "kind": "Pod", **manifest}


def _plain(model: Any) -> dict[str, Any]:
    """A Kubernetes client model as plain data, by the client's own serialiser (which needs no connection,
    only an instance: made without the connection pool its constructor opens)."""
    from kubernetes_asyncio.client import ApiClient

    return object.__new__(ApiClient).sanitize_for_serialization(model)


def volume_claims(slug: str, resources: dict, cluster: Cluster) -> list[dict[str, Any]]:
    """The project's two claims: its extracts (written by provisioning, read-only to servers) and its workspace."""
    from kubespawner.objects import make_pvc

    quota = {**default_resources(), **resources}.get("workspace_quota", 10 * 1024**3)
    names = _names(slug)
    claims = [
        make_pvc(names["extracts"], cluster.storage_class, ["ReadOnlyMany"], None, "50Gi", _labels(slug, "extracts")),
        make_pvc(names["workspace"], cluster.storage_class, ["ReadWriteMany"], None, str(int(quota)), _labels(slug, "workspace")),
    ]
    manifests = []
    for claim in claims:
        manifest = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", **_plain(claim)}
        manifest["metadata"]["namespace"] = cluster.namespace
        manifests.append(manifest)
    return manifests


def network_policies(slug: str, settings: Settings, cluster: Cluster) -> list[dict[str, Any]]:
    """Deny everything to and from the project's servers, then allow egress to the hub API and the
    gate (both in the hub pod) and ingress from the seal (in the hub pod) on the server's port."""
    servers = {"matchLabels": _labels(slug, "notebook")}
    hub = {"podSelector": {"matchLabels": HUB_POD}}

    def policy(name: str, spec: dict) -> dict:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": f"enclave-{slug}-{name}", "namespace": cluster.namespace, "labels": {PROJECT_LABEL: slug}},
                "spec": {"podSelector": servers, **spec}}

    return [
        policy("deny-all", {"policyTypes": ["Ingress", "Egress"]}),
        policy("allow-hub-gate-and-tools", {
            "policyTypes": ["Egress"],
            # The hub API, the gate's submission port and the project tools: the ports the Docker backend opens.
            "egress": [{"to": [hub], "ports": [{"protocol": "TCP", "port": port} for port in settings.firewall_ports]}],
        }),
        policy("allow-seal", {
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [hub], "ports": [{"protocol": "TCP", "port": NOTEBOOK_PORT}]}],
        }),
    ]


def helm_values(settings: Settings) -> dict[str, Any]:
    """Zero to JupyterHub values the profile needs (merged into the operator's own values file)."""
    return {
        "hub": {
            # The hub API gate runs in the hub pod, beside the hub (the hub image holds this code); servers reach it only.
            "services": {"enclave-hub-api-gate": {"command": ["python3", "-m", "spawner_config.hub_api_gate"]}},
            "service": {"extraPorts": [{"name": name, "port": port, "targetPort": port} for name, port in
                                       (("enclave-gate", settings.egress_enclave_port), ("enclave-tools", settings.tools_enclave_port),
                                        ("enclave-hub-api-gate", settings.hub_api_enclave_port))]},
            "networkPolicy": {"ingress": [
                {"from": [{"podSelector": {"matchLabels": {"component": "proxy"}}}], "ports": [{"port": settings.seal_port}]},
                {"from": [{"podSelector": {"matchLabels": {ROLE_LABEL: "notebook"}}}],
                 "ports": [{"port": port} for port in settings.firewall_ports]},
            ]},
        },
        "singleuser": {
            "networkPolicy": {"enabled": False},  # the chart's allows the internet; the projects' policies replace it
            "cloudMetadata": {"blockWithIptables": False},  # needs a privileged init container; the policies deny it anyway
            "storage": {"type": "none"},  # the project's claims are mounted instead of a per-user home
        },
    }


def render(slug: str, resources: dict, settings: Settings, cluster: Cluster, members: list[str]) -> dict[str, Any]:
    """Every file of the profile: {file name: a manifest, a list of manifests, or a plain document}."""
    config = kubespawner_config(slug, resources, settings, cluster)
    pods = [{**pod_manifest(slug, name, config)} for name in members]
    for pod in pods:
        pod["metadata"]["namespace"] = cluster.namespace
    return {
        "kubespawner.yaml": {"KubeSpawner": config},
        "values.yaml": helm_values(settings),
        "networkpolicies.yaml": network_policies(slug, settings, cluster),
        "volumes.yaml": volume_claims(slug, resources, cluster),
        "pods.yaml": pods,
        SECCOMP_FILE: seccomp.profile(),  # for each node: see the module docstring
    }


MANIFEST_FILES = ("networkpolicies.yaml", "volumes.yaml", "pods.yaml")  # Kubernetes objects, validated


def validate(objects: list[dict[str, Any]], version: str = K8S_VERSION) -> None:
    """Each object against the Kubernetes schemas of `version`, strict: an unknown field is an error."""
    import kubernetes_validate

    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(map(str, exc.path)) or "(top)"
            raise EnclaveError(f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}: {where}: {exc.message}",
                               "this is a bug of the profile: please report it") from None
