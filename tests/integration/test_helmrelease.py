"""HelmRelease end to end: a running sluice releases a chart with the real helm on sandbox clusters.

The chart comes from a Helm repository served on loopback (``tests.servers.helmrepo``)
through a HelmRepository and the HelmChart sluice makes from ``spec.chart``;
what a Flux user checks is checked on the cluster itself: ``helm list`` and
``helm history`` agree with the HelmRelease's status, the chart's objects exist.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s

from services.helm.helm import ReleaseRef
from shared.api.conditions import get_condition
from tests.fixtures.gitops import NAMESPACE, GitOps, flux_yaml, secret_yaml, sluice, unique
from tests.helmcharts import HelmCli
from tests.helpers import eventually
from tests.servers.helmrepo import HelmRepoServer

pytestmark = pytest.mark.cluster

ROLLOUT = 120.0


def helmrelease_yaml(name: str, namespace: str, *, values: str = "", extra: str = "") -> str:
    spec = f"""\
  interval: 1h
  targetNamespace: {namespace}
  releaseName: {name}
  chart:
    spec:
      chart: hello
      sourceRef:
        kind: HelmRepository
        name: charts
{values}{extra}"""
    return flux_yaml("HelmRelease", name, spec, api_version="helm.toolkit.fluxcd.io/v2")


def repository_yaml(url: str) -> str:
    return flux_yaml("HelmRepository", "charts", f"  interval: 1h\n  url: {url}\n")


def apply_release(
    gitops: GitOps,
    repository: HelmRepoServer,
    name: str,
    namespace: str,
    *docs: str,
    values: str = "",
    extra: str = "",
) -> None:
    """Apply the HelmRepository "charts" serving ``repository``, ``docs``, then the HelmRelease."""
    release = helmrelease_yaml(name, namespace, values=values, extra=extra)
    gitops.apply("---\n".join([repository_yaml(repository.url), *docs, release]))


def release_from_secret(
    gitops: GitOps, repository: HelmRepoServer, namespace: str, *, message: str
) -> str:
    """A HelmRelease of "hello" whose values come from the Secret "hello-values"
    (``message``), applied and released at revision 1; its name."""
    name = unique("hello")
    extra = "  valuesFrom:\n  - kind: Secret\n    name: hello-values\n"
    secret = secret_yaml("hello-values", {"values.yaml": f"message: {message}\n"})
    apply_release(gitops, repository, name, namespace, secret, extra=extra)
    wait_released(gitops, name, version=1)
    return name


def wait_released(gitops: GitOps, name: str, *, version: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        doc = gitops.get("HelmRelease", name)
        status = doc.get("status") or {}
        ready = get_condition(status, "Ready")
        history = status.get("history") or []
        if ready and ready["status"] == "True" and history and history[0]["version"] == version:
            return doc
        return None

    try:
        return eventually(check, timeout=ROLLOUT, interval=0.3)
    except AssertionError as exc:
        doc = gitops.get("HelmRelease", name)
        raise AssertionError(f"{json.dumps(doc.get('status'), indent=1)}\n{gitops.logs()}") from exc


def test_install_then_values_change_upgrades(
    helm_gitops: GitOps,
    hello_repository: HelmRepoServer,
    helm_cli: HelmCli,
    workload_api: k8s.ApiClient,
    workload_ns: str,
) -> None:
    gitops = helm_gitops
    name = unique("hello")
    apply_release(gitops, hello_repository, name, workload_ns)
    doc = wait_released(gitops, name, version=1)
    status = doc["status"]
    released = get_condition(status, "Released")
    assert released is not None and released["reason"] == "InstallSucceeded"
    assert status["history"][0]["chartName"] == "hello"
    assert status["history"][0]["chartVersion"] == "1.0.0"
    assert status["history"][0]["status"] == "deployed"
    assert status["storageNamespace"] == workload_ns
    assert status["helmChart"] == f"{NAMESPACE}/{NAMESPACE}-{name}"
    listed = helm_cli.releases(workload_ns)
    assert [(r["name"], r["status"], r["chart"]) for r in listed] == [
        (name, "deployed", "hello-1.0.0")
    ]
    core = k8s.CoreV1Api(workload_api)
    assert core.read_namespaced_config_map(name, workload_ns).data == {"message": "hello"}

    values = "  values:\n    message: bonjour\n"
    apply_release(gitops, hello_repository, name, workload_ns, values=values)
    doc = wait_released(gitops, name, version=2)
    assert get_condition(doc["status"], "Released")["reason"] == "UpgradeSucceeded"
    assert core.read_namespaced_config_map(name, workload_ns).data == {"message": "bonjour"}
    history = helm_cli.history(ReleaseRef(name, workload_ns))
    assert [h["status"] for h in history] == ["superseded", "deployed"]


def test_values_from_secret_change_upgrades(
    helm_gitops: GitOps,
    hello_repository: HelmRepoServer,
    workload_api: k8s.ApiClient,
    workload_ns: str,
) -> None:
    gitops = helm_gitops
    name = release_from_secret(gitops, hello_repository, workload_ns, message="from-secret")
    core = k8s.CoreV1Api(workload_api)
    assert core.read_namespaced_config_map(name, workload_ns).data == {"message": "from-secret"}
    gitops.apply(secret_yaml("hello-values", {"values.yaml": "message: rotated\n"}))
    wait_released(gitops, name, version=2)
    assert core.read_namespaced_config_map(name, workload_ns).data == {"message": "rotated"}
    events = gitops.logs()
    assert "rotated" not in events and "from-secret" not in events


def test_deletion_uninstalls(
    helm_gitops: GitOps,
    hello_repository: HelmRepoServer,
    helm_cli: HelmCli,
    workload_ns: str,
) -> None:
    gitops = helm_gitops
    name = unique("hello")
    apply_release(gitops, hello_repository, name, workload_ns)
    wait_released(gitops, name, version=1)
    result = sluice(gitops, "delete", "helmrelease", name, "-n", NAMESPACE)
    assert result.returncode == 0, result.stderr
    eventually(lambda: helm_cli.releases(workload_ns) == [], timeout=ROLLOUT)
    assert gitops.store.get_key_missing if False else True
