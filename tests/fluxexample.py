"""Flux's example fleet repository in tests: its files, the Helm releases it asks for, helm's view.

tests/data/flux2-kustomize-helm-example is vendored unchanged. ``files`` is
what a test commits to its Git server (URLs moved by a ``ServedCharts`` of
tests.servers.examplecharts, the one change made). ``example_releases`` reads
the HelmReleases of clusters/staging's build as ``kubectl kustomize`` renders
them (base and staging patch merged), so a test installs or checks exactly
the values Flux would pass; ``condition`` waits for an object of the
example's to reach a Ready status. ``HelmCli`` (from tests.helmcharts) runs
the pinned helm against a sandbox cluster with a private home, as a user at a
terminal would; ``remove_releases`` and ``remove_configs`` take what a test
installed off the shared cluster.

One thing a sandbox cannot do: kwok turns pods Ready without running them,
so cert-manager's webhook never answers, and the apiserver refuses to
create or change any cert-manager object (both its webhook configurations
say ``failurePolicy: Fail``), the example's ClusterIssuer too. ``drop_cert_manager_webhooks``
deletes those two registrations after cert-manager is installed, in place of
a webhook that would have admitted the object.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

from shared.api.conditions import get_condition
from shared.keys import ObjectKey
from shared.tools import require_tool
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import GitOps
from tests.helmcharts import HelmCli
from tests.helpers import eventually
from tests.servers.examplecharts import EXAMPLE_CHARTS, ExampleChart

__all__ = [
    "EXAMPLE",
    "ExampleRelease",
    "HelmCli",
    "condition",
    "drop_cert_manager_webhooks",
    "example_releases",
    "files",
    "kubectl",
    "remove_configs",
    "remove_releases",
]

EXAMPLE = Path(__file__).parent / "data" / "flux2-kustomize-helm-example"
# The name of both of cert-manager's webhook configurations (release "cert-manager").
CERT_MANAGER_WEBHOOK = "cert-manager-webhook"
# What clusters/staging builds HelmReleases from: infra-controllers' and apps' paths.
_STAGING_BUILDS = ("infrastructure/controllers", "apps/staging")


@dataclass(frozen=True)
class ExampleRelease:
    """One HelmRelease of the staging build: the Helm release it makes, from which chart."""

    name: str
    namespace: str
    chart: ExampleChart
    values: dict[str, Any]
    # The HelmRelease object's name (spec.releaseName may differ).
    helmrelease: str


def files(rewrite: Callable[[str], str] = str) -> dict[str, str]:
    """The repository's files by path, each passed through ``rewrite``."""
    return {
        path.relative_to(EXAMPLE).as_posix(): rewrite(path.read_text())
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file() and path.name != "VENDORED.md"
    }


def example_releases() -> list[ExampleRelease]:
    """The staging build's HelmReleases, infrastructure first, as ``kubectl kustomize`` gives."""
    charts = {chart.name: chart for chart in EXAMPLE_CHARTS}
    releases = []
    for build in _STAGING_BUILDS:
        built = subprocess.run(
            [str(require_tool("kubectl")), "kustomize", str(EXAMPLE / build)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for doc in yaml.safe_load_all(built.stdout):
            if doc.get("kind") != "HelmRelease":
                continue
            spec, meta = doc["spec"], doc["metadata"]
            # chartRef names an OCIRepository named after its chart; chart.spec names the chart.
            ref = spec.get("chartRef")
            chart = ref["name"] if ref else spec["chart"]["spec"]["chart"]
            releases.append(
                ExampleRelease(
                    name=spec.get("releaseName", meta["name"]),
                    namespace=meta["namespace"],
                    chart=charts[chart],
                    values=spec.get("values") or {},
                    helmrelease=meta["name"],
                )
            )
    return releases


def condition(
    gitops: GitOps, key: ObjectKey, wanted: str, *, timeout: float = 180
) -> dict[str, Any]:
    """The object's Ready condition once its status is ``wanted`` ("True"/"False")."""

    def check() -> dict[str, Any] | None:
        doc = gitops.store.get(key) or {}
        ready = get_condition(doc.get("status") or {}, "Ready") or {}
        return dict(ready) if ready.get("status") == wanted else None

    try:
        return eventually(check, timeout=timeout, interval=0.3)
    except AssertionError as exc:
        doc = gitops.store.get(key) or {}
        raise AssertionError(f"{key}: {doc.get('status')}\n{gitops.logs()}") from exc


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The pinned ``kubectl ARGS`` on a cluster; the test reads returncode and output."""
    return subprocess.run(
        [str(require_tool("kubectl")), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def remove_configs(kubeconfig: Path) -> None:
    """Delete what infrastructure/configs applies (its GatewayClass outlives the namespaces)."""
    configs = str(EXAMPLE / "infrastructure" / "configs")
    kubectl(kubeconfig, "delete", "-k", configs, "--ignore-not-found", "--wait=false")


def remove_releases(helm: HelmCli, releases: list[ExampleRelease]) -> None:
    """Uninstall ``releases`` and delete their namespaces, waiting until those are gone."""
    # No --wait: a loaded machine can take minutes to delete the pods, and helm
    # killed mid-wait would leave the release "uninstalling" for the next test.
    # Helm drops its record at once; the namespaces' deletion below waits for the rest.
    for release in reversed(releases):
        helm.run("uninstall", release.name, "-n", release.namespace, timeout=180)
    assert helm.kubeconfig is not None
    with api_client(helm.kubeconfig) as api:
        core = k8s.CoreV1Api(api)
        namespaces = {release.namespace for release in releases}
        for name in namespaces:
            try:
                core.delete_namespace(name)
            except k8s.ApiException as exc:
                if exc.status != 404:
                    raise

        def gone() -> bool:
            return not namespaces & {ns.metadata.name for ns in core.list_namespace().items}

        eventually(gone, timeout=300, interval=0.5)


def drop_cert_manager_webhooks(kubeconfig: Path) -> None:
    """Delete cert-manager's two webhook configurations, once the chart has made them."""
    with api_client(kubeconfig) as api:
        admission = k8s.AdmissionregistrationV1Api(api)
        deletes = (
            admission.delete_validating_webhook_configuration,
            admission.delete_mutating_webhook_configuration,
        )
        for delete in deletes:
            eventually(partial(_deleted, delete, CERT_MANAGER_WEBHOOK), timeout=300, interval=0.5)


def _deleted(delete: Callable[[str], object], name: str) -> bool:
    try:
        delete(name)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
