"""`enclave k8s render SLUG`: the project's Kubernetes profile (see :mod:`enclave.k8s`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from enclave.errors import EnclaveError


@click.group("k8s")
def k8s() -> None:
    """Kubernetes profile (KubeSpawner on Zero to JupyterHub): render a project's manifests offline."""


@k8s.command("render")
@click.argument("slug")
@click.option("--hub-ip", required=True, help="The hub Service's ClusterIP (kubectl -n NAMESPACE get service hub -o jsonpath='{.spec.clusterIP}'): "
              "servers reach the hub API and the gate there, with no DNS.")
@click.option("--namespace", default="enclave", show_default=True, help="The namespace of the JupyterHub release.")
@click.option("--storage-class", default="enclave-shared", show_default=True, help="A storage class offering ReadOnlyMany and ReadWriteMany (NFS, CephFS...).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write kubespawner.yaml, values.yaml, networkpolicies.yaml, volumes.yaml, pods.yaml "
                   "and enclave-seccomp.json (for each node) into; default: print them.")
def render(slug: str, hub_ip: str, namespace: str, storage_class: str, out_dir: Path | None) -> None:
    """Render project SLUG's KubeSpawner settings, Zero to JupyterHub values, NetworkPolicies, volume
    claims and its members' pods, from the registry (as the Docker backend reads it) and the settings.

    Every manifest is validated against the Kubernetes schemas (strict) before anything is written.
    Not run against a cluster by our tests: see the README, "Scaling out".
    """
    import yaml

    from enclave import k8s
    from enclave.cli_registry import open_registry
    from enclave.registry import get_project

    with open_registry() as (session, settings):
        project = get_project(session, slug)
        members = sorted(m.user.username for m in project.memberships) or [project.principal_investigator.username]
        resources = dict(project.resources or {})
    files = k8s.render(slug, resources, settings, k8s.Cluster(namespace, hub_ip, storage_class), members)
    for name in k8s.MANIFEST_FILES:
        k8s.validate(files[name])
    texts = {name: json.dumps(doc, indent=1) + "\n" if name.endswith(".json") else
             yaml.safe_dump_all(doc, sort_keys=False) if isinstance(doc, list) else yaml.safe_dump(doc, sort_keys=False)
             for name, doc in files.items()}
    if out_dir is None:
        for name, text in texts.items():
            click.echo(f"# --- {name}\n{text}", nl=False)
        return
    _write_all(out_dir, texts)
    click.echo(f"project {slug}: {', '.join(texts)} written to {out_dir} (validated against Kubernetes {k8s.K8S_VERSION}, strict)")


def _write_all(out_dir: Path, texts: dict[str, str]) -> None:
    """Each file under a temporary name first: a failure leaves no file half-written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnclaveError(f"cannot create {out_dir}: {exc.strerror}", "choose another --out") from None
    temps = []
    try:
        for name, text in texts.items():
            fd, temp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
            temps.append((temp, out_dir / name))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        for temp, final in temps:
            os.replace(temp, final)
    finally:
        for temp, _ in temps:
            if os.path.exists(temp):
                os.unlink(temp)
