"""OCIRepository through the running loop: a Kustomization applies an OCI artifact to a cluster,
and the Flux-style commands (get, reconcile, suspend, resume) work on ``source oci``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from kubernetes import client as k8s

from shared.sandbox import ClusterInfo
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import (
    NAMESPACE,
    GitOps,
    configmap_yaml,
    flux_yaml,
    kustomization_yaml,
    namespace_yaml,
    sluice,
    unique,
)
from tests.servers.registry import OciRegistry


def _push(gitops: GitOps, registry: OciRegistry, tmp_path: Path, ns: str, greeting: str) -> str:
    """``sluice push artifact`` of an app folder; the pushed manifest digest."""
    src = tmp_path / f"app-{greeting}"
    src.mkdir()
    (src / "namespace.yaml").write_text(namespace_yaml(ns))
    (src / "config.yaml").write_text(configmap_yaml("settings", ns, greeting=greeting))
    pushed = sluice(
        gitops, "push", "artifact", f"oci://{registry.host}/fleet/app:production",
        "--path", str(src), "--source", "https://github.com/org/fleet",
        "--revision", f"main@sha1:{'c' * 40}",
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert "✔ artifact successfully pushed to" in pushed.stderr
    return pushed.stdout.strip()


def _objects(name: str, registry: OciRegistry) -> str:
    spec = f"""\
  interval: 10m
  url: oci://{registry.host}/fleet/app
  ref:
    tag: production
"""
    return flux_yaml(
        "OCIRepository", name, spec, api_version="source.toolkit.fluxcd.io/v1beta2"
    ) + kustomization_yaml(
        name, source=name, path="./", interval="10m", source_kind="OCIRepository"
    )


def _greeting(info: ClusterInfo, namespace: str) -> str:
    with api_client(info.kubeconfig) as api:
        config = k8s.CoreV1Api(api).read_namespaced_config_map("settings", namespace)
        return str(config.data["greeting"])


def test_a_kustomization_applies_an_oci_artifact_and_follows_new_pushes(
    gitops: GitOps, oci_registry: OciRegistry, sandbox_cluster: ClusterInfo, tmp_path: Path
) -> None:
    name, ns = unique("oci"), unique("oci-app")
    first = _push(gitops, oci_registry, tmp_path, ns, "one")
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(_objects(name, oci_registry))
    gitops.wait_ready("Kustomization", name, revision=f"production@{first}", timeout=90)
    assert _greeting(sandbox_cluster, ns) == "one"

    rows = sluice(gitops, "get", "sources", "oci").stdout.splitlines()
    assert [r.split()[:2] for r in rows[1:]] == [[name, f"production@{first}"]]

    second = _push(gitops, oci_registry, tmp_path, ns, "two")
    fetched = sluice(gitops, "reconcile", "source", "oci", name, "--timeout", "60s")
    assert fetched.returncode == 0, fetched.stderr + gitops.logs()
    assert f"✔ fetched revision production@{second}" in fetched.stderr
    gitops.wait_ready("Kustomization", name, revision=f"production@{second}", timeout=90)
    assert _greeting(sandbox_cluster, ns) == "two"
    status = gitops.get("OCIRepository", name)["status"]
    served = httpx.get(status["url"], timeout=30)  # latest.tar.gz, from the artifact server
    assert status["url"].endswith(f"/ocirepository/{NAMESPACE}/{name}/latest.tar.gz")
    assert f"sha256:{hashlib.sha256(served.content).hexdigest()}" == status["artifact"]["digest"]

    suspended = sluice(gitops, "suspend", "source", "oci", name)
    assert suspended.returncode == 0, suspended.stderr
    assert gitops.get("OCIRepository", name)["spec"]["suspend"] is True
    third = _push(gitops, oci_registry, tmp_path, ns, "three")
    refused = sluice(gitops, "reconcile", "source", "oci", name)
    assert refused.returncode == 1 and "is suspended" in refused.stderr
    resumed = sluice(gitops, "resume", "source", "oci", name, "--timeout", "60s")
    assert resumed.returncode == 0, resumed.stderr + gitops.logs()
    assert gitops.get("OCIRepository", name)["status"]["artifact"]["revision"] == (
        f"production@{third}"
    )
    gitops.wait_ready("Kustomization", name, revision=f"production@{third}", timeout=90)
    assert _greeting(sandbox_cluster, ns) == "three"
