"""HelmRelease failures end to end: remediation, retries, stalls, tests, a killed worker.

A chart "webapp" (a ConfigMap, a Deployment, a test Job) is released by a running
sluice with the real helm on a sandbox cluster whose kwok nodes run workloads
(Jobs succeed). A Deployment whose nodeSelector no node matches never becomes
ready, so helm's wait fails at its timeout as on a real cluster; a test Job
with such a nodeSelector never finishes, so ``helm test`` fails at its timeout.
What a Flux user checks is checked: the HelmRelease's conditions, history and
failure counters as helm-controller writes them, its events, and ``helm
history`` on the cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from shared.api.conditions import get_condition
from shared.events import EventBus
from shared.sandbox import ClusterInfo
from shared.tools import require_tool
from tests.fixtures.cluster import api_client, create_namespace, delete_namespace
from tests.fixtures.gitops import NAMESPACE, GitOps, flux_yaml, sluice, unique
from tests.fixtures.workers import Worker
from tests.helpers import eventually
from tests.servers.helmrepo import HelmRepoServer

pytestmark = pytest.mark.cluster

# Generous: two shared cores; helm's own timeouts below are short.
ROLLOUT = 150.0
NOWHERE = {"sluice.test/nowhere": "true"}

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector: {{ toJson . }}
      {{- end }}
      containers:
        - name: web
          image: nginx:1.27
"""

_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
"""

_TEST_HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-smoke
  annotations:
    helm.sh/hook: test
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      {{- with .Values.testNodeSelector }}
      nodeSelector: {{ toJson . }}
      {{- end }}
      containers:
        - name: smoke
          image: busybox:1.36
"""


def _package(tmp_path: Path) -> Path:
    source = tmp_path / "src" / "webapp"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text("apiVersion: v2\nname: webapp\nversion: 0.1.0\n")
    (source / "values.yaml").write_text("greeting: hello\nnodeSelector: {}\n")
    (source / "templates" / "configmap.yaml").write_text(_CONFIGMAP)
    (source / "templates" / "deployment.yaml").write_text(_DEPLOYMENT)
    (source / "templates" / "smoke-test.yaml").write_text(_TEST_HOOK)
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    subprocess.run(
        [str(require_tool("helm")), "package", str(source), "-d", str(tmp_path / "pkg")],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return tmp_path / "pkg" / "webapp-0.1.0.tgz"


@pytest.fixture
def charts(tmp_path: Path) -> Iterator[HelmRepoServer]:
    server = HelmRepoServer(tmp_path / "charts")
    server.start()
    try:
        server.add_package(_package(tmp_path))
        yield server
    finally:
        server.stop()


@pytest.fixture
def helm_worker(gitops: GitOps, workload_cluster: ClusterInfo) -> Worker:
    worker = gitops.start_worker("helm", concurrency=4)
    gitops.register_cluster(workload_cluster, "default")
    return worker


@pytest.fixture
def target(workload_cluster: ClusterInfo) -> Iterator[str]:
    api = api_client(workload_cluster.kubeconfig)
    name = create_namespace(api, "hrfail")
    try:
        yield name
    finally:
        delete_namespace(api, name)


def helm(cluster: ClusterInfo, *args: str) -> Any:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"helm-home-{os.getpid()}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    done = subprocess.run(
        [str(require_tool("helm")), *args, "--kubeconfig", str(cluster.kubeconfig), "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def revisions(cluster: ClusterInfo, name: str, namespace: str) -> list[tuple[int, str]]:
    """``helm history``: (revision, status), oldest first."""
    return [(h["revision"], h["status"]) for h in helm(cluster, "history", name, "-n", namespace)]


def repository(url: str) -> str:
    return flux_yaml("HelmRepository", "charts", f"  interval: 1h\n  url: {url}\n") + "---\n"


def helmrelease(
    name: str,
    namespace: str,
    *,
    values: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> str:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if annotations:
        metadata["annotations"] = annotations
    doc = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": metadata,
        "spec": {
            "interval": "1h",
            "targetNamespace": namespace,
            "releaseName": name,
            "chart": {
                "spec": {
                    "chart": "webapp",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
            "values": values or {},
            **(spec or {}),
        },
    }
    return yaml.safe_dump(doc)


def cond(status: dict[str, Any], type_: str) -> tuple[str, str] | None:
    """(status, reason) of a condition, None when absent."""
    found = get_condition(status, type_)
    return (found["status"], found["reason"]) if found else None


def wait_status(
    gitops: GitOps,
    name: str,
    check: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = ROLLOUT,
) -> dict[str, Any]:
    """The HelmRelease's status once ``check`` holds."""

    def probe() -> dict[str, Any] | None:
        status = gitops.get("HelmRelease", name).get("status") or {}
        return status if check(status) else None

    try:
        return eventually(probe, timeout=timeout, interval=0.3)
    except AssertionError as exc:
        status = gitops.get("HelmRelease", name).get("status")
        raise AssertionError(f"{json.dumps(status, indent=1)}\n{gitops.logs()}") from exc


def ready_with(reason: str) -> Callable[[dict[str, Any]], bool]:
    return lambda s: cond(s, "Ready") == ("True", reason)


def stalled(s: dict[str, Any]) -> bool:
    return cond(s, "Stalled") == ("True", "RetriesExceeded")


def reasons(gitops: GitOps, name: str, *, of_type: str = "") -> list[str]:
    """The reasons of the HelmRelease's events (of one type when given), oldest first."""
    bus = EventBus(gitops.store_client, gitops.workers_app)
    return [
        e.reason
        for _, e in bus.read(count=100_000)
        if (e.object.kind, e.object.name) == ("HelmRelease", name)
        and (not of_type or e.type == of_type)
    ]


def test_a_failed_upgrade_is_rolled_back_retried_then_stalls_until_the_spec_changes(
    gitops: GitOps,
    helm_worker: Worker,
    charts: HelmRepoServer,
    workload_cluster: ClusterInfo,
    target: str,
) -> None:
    name = unique("up")
    spec = {"upgrade": {"timeout": "15s", "remediation": {"retries": 1}}}
    gitops.apply(repository(charts.url) + helmrelease(name, target, values={}, spec=spec))
    wait_status(gitops, name, ready_with("InstallSucceeded"))

    bad = {"greeting": "stuck", "nodeSelector": NOWHERE}
    gitops.apply(helmrelease(name, target, values=bad, spec=spec))

    # First failure: rolled back at once, retried later.
    status = wait_status(gitops, name, lambda s: s.get("upgradeFailures") == 1)
    assert cond(status, "Remediated") == ("True", "RollbackSucceeded")
    assert cond(status, "Ready") == ("False", "RollbackSucceeded")
    assert cond(status, "Released") == ("False", "UpgradeFailed")
    assert revisions(workload_cluster, name, target)[:3] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]

    # Second failure: no retry left; remediated (remediateLastFailure defaults
    # to true with retries) and stalled.
    status = wait_status(gitops, name, stalled)
    assert status["upgradeFailures"] == 2
    assert status["lastAttemptedReleaseAction"] == "upgrade"
    assert cond(status, "Ready") == ("False", "RollbackSucceeded")
    assert cond(status, "Remediated") == ("True", "RollbackSucceeded")
    assert status["history"][0]["version"] == 5
    assert status["history"][0]["status"] == "deployed"
    stalled_history = revisions(workload_cluster, name, target)
    assert stalled_history == [
        (1, "superseded"),
        (2, "failed"),
        (3, "superseded"),
        (4, "failed"),
        (5, "deployed"),
    ]
    core = k8s.CoreV1Api(api_client(workload_cluster.kubeconfig))
    assert core.read_namespaced_config_map(f"{name}-settings", target).data == {"greeting": "hello"}
    assert reasons(gitops, name).count("UpgradeFailed") == 2
    assert reasons(gitops, name, of_type="applied").count("RollbackSucceeded") == 2

    # A reconcile asked for now decides again and does nothing: stalled until the spec changes.
    runs = len(reasons(gitops, name, of_type="reconcile-failed"))
    sluice(gitops, "reconcile", "helmrelease", name, "-n", NAMESPACE, "--timeout", "60s")
    eventually(
        lambda: len(reasons(gitops, name, of_type="reconcile-failed")) > runs, timeout=ROLLOUT
    )
    assert revisions(workload_cluster, name, target) == stalled_history
    assert stalled(gitops.get("HelmRelease", name)["status"])

    # A fix: a new generation resets the counters and upgrades.
    gitops.apply(helmrelease(name, target, values={"greeting": "fixed"}, spec=spec))
    status = wait_status(gitops, name, ready_with("UpgradeSucceeded"))
    assert get_condition(status, "Stalled") is None
    assert get_condition(status, "Remediated") is None
    assert status.get("upgradeFailures", 0) == 0
    assert revisions(workload_cluster, name, target)[-1] == (6, "deployed")
    assert core.read_namespaced_config_map(f"{name}-settings", target).data == {"greeting": "fixed"}


def test_a_failed_install_is_uninstalled_retried_then_stalls_and_without_retries_stalls_at_once(
    gitops: GitOps,
    helm_worker: Worker,
    charts: HelmRepoServer,
    workload_cluster: ClusterInfo,
    target: str,
) -> None:
    retried, once = unique("inst"), unique("once")
    bad = {"nodeSelector": NOWHERE}
    with_retry = {"install": {"timeout": "10s", "remediation": {"retries": 1}}}
    gitops.apply(
        repository(charts.url)
        + helmrelease(retried, target, values=bad, spec=with_retry)
        + "---\n"
        + helmrelease(once, target, values=bad, spec={"install": {"timeout": "10s"}})
    )

    # Flux's default (retries 0): the failed install stays, the release stalls at once.
    status = wait_status(gitops, once, stalled)
    assert status["installFailures"] == 1
    assert get_condition(status, "Stalled")["message"] == "Failed to install after 1 attempt(s)"
    assert cond(status, "Ready") == ("False", "InstallFailed")
    assert cond(status, "Released") == ("False", "InstallFailed")
    assert get_condition(status, "Remediated") is None
    assert revisions(workload_cluster, once, target) == [(1, "failed")]

    # retries: 1: the first failure is uninstalled, the second stays (remediateLastFailure
    # is false for install by default) and stalls.
    status = wait_status(gitops, retried, stalled)
    assert status["installFailures"] == 2
    assert cond(status, "Ready") == ("False", "InstallFailed")
    assert get_condition(status, "Remediated") is None  # the new install cleared it
    assert revisions(workload_cluster, retried, target) == [(1, "failed")]
    seen = reasons(gitops, retried)
    assert seen.count("UninstallSucceeded") == 1
    assert seen.index("InstallFailed") < seen.index("UninstallSucceeded")
    assert "InstallFailed" in seen[seen.index("UninstallSucceeded") :]


def test_helm_tests_pass_fail_and_ignored_failures_as_flux_says(
    gitops: GitOps,
    helm_worker: Worker,
    charts: HelmRepoServer,
    workload_cluster: ClusterInfo,
    target: str,
) -> None:
    passing, failing, ignored = unique("tpass"), unique("tfail"), unique("tign")
    test_spec = {"test": {"enable": True, "timeout": "5s"}}
    ignore_spec = {"test": {"enable": True, "timeout": "5s", "ignoreFailures": True}}
    never = {"testNodeSelector": NOWHERE}
    gitops.apply(
        repository(charts.url)
        + helmrelease(passing, target, spec=test_spec)
        + "---\n"
        + helmrelease(failing, target, values=never, spec=test_spec)
        + "---\n"
        + helmrelease(ignored, target, values=never, spec=ignore_spec)
    )

    status = wait_status(gitops, passing, ready_with("TestSucceeded"))
    assert cond(status, "TestSuccess") == ("True", "TestSucceeded")
    assert cond(status, "Released") == ("True", "InstallSucceeded")
    assert status["history"][0]["testHooks"] == {f"{passing}-smoke": {"phase": "Succeeded"}}

    # A failed test counts as a failed install (retries 0): stalled, the release left deployed.
    status = wait_status(gitops, failing, stalled)
    assert cond(status, "TestSuccess") == ("False", "TestFailed")
    assert cond(status, "Ready") == ("False", "TestFailed")
    assert status["installFailures"] == 1
    assert status["history"][0]["testHooks"] == {f"{failing}-smoke": {"phase": "Failed"}}
    assert revisions(workload_cluster, failing, target) == [(1, "deployed")]

    # After an upgrade, a failed test is an upgrade failure: remediated by a rollback.
    rollback = {"upgrade": {"remediation": {"retries": 0, "remediateLastFailure": True}}}
    gitops.apply(helmrelease(passing, target, values=never, spec={**test_spec, **rollback}))
    status = wait_status(gitops, passing, stalled)
    assert cond(status, "TestSuccess") == ("False", "TestFailed")
    assert cond(status, "Remediated") == ("True", "RollbackSucceeded")
    assert cond(status, "Ready") == ("False", "RollbackSucceeded")
    assert status["upgradeFailures"] == 1
    assert revisions(workload_cluster, passing, target) == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]

    # ignoreFailures: the failure is reported, not counted; Ready follows Released.
    status = wait_status(gitops, ignored, lambda s: cond(s, "TestSuccess") is not None)
    assert cond(status, "TestSuccess") == ("False", "TestFailed")
    status = wait_status(gitops, ignored, ready_with("InstallSucceeded"))
    assert status.get("installFailures", 0) == 0
    assert get_condition(status, "Stalled") is None
    assert revisions(workload_cluster, ignored, target) == [(1, "deployed")]


def _helm_processes(release: str) -> list[int]:
    """Pids of helm processes working on ``release`` (argv names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"helm") and release.encode() in argv:
            found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_upgrade_leaves_no_stuck_release(
    gitops: GitOps,
    helm_worker: Worker,
    charts: HelmRepoServer,
    workload_cluster: ClusterInfo,
    target: str,
) -> None:
    name = unique("kill")
    spec = {"upgrade": {"timeout": "60s"}}
    gitops.apply(repository(charts.url) + helmrelease(name, target, spec=spec))
    wait_status(gitops, name, ready_with("InstallSucceeded"))

    gitops.apply(helmrelease(name, target, values={"nodeSelector": NOWHERE}, spec=spec))
    eventually(
        lambda: revisions(workload_cluster, name, target)[-1] == (2, "pending-upgrade"),
        timeout=ROLLOUT,
    )
    assert _helm_processes(name), "helm upgrade is running"
    os.kill(helm_worker.process.pid, signal.SIGKILL)
    helm_worker.process.wait(timeout=10)
    # helm dies with its worker, as Flux's in-process helm dies with its controller.
    eventually(lambda: _helm_processes(name) == [], timeout=10)
    assert revisions(workload_cluster, name, target)[-1] == (2, "pending-upgrade")

    gitops.start_worker("helm", concurrency=4)
    gitops.apply(helmrelease(name, target, values={"greeting": "fixed"}, spec=spec))
    status = wait_status(gitops, name, ready_with("UpgradeSucceeded"))
    history = helm(workload_cluster, "history", name, "-n", target)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    assert history[1]["description"] == "Release unlocked from stale 'pending-upgrade' state"
    assert status["history"][0]["version"] == 3
    assert "PendingRelease" in reasons(gitops, name)


def test_a_dependent_release_waits_for_its_dependency_to_be_ready(
    gitops: GitOps,
    helm_worker: Worker,
    charts: HelmRepoServer,
    workload_cluster: ClusterInfo,
    target: str,
) -> None:
    first, second = unique("dep"), unique("user")
    install = {"install": {"timeout": "10s"}}
    needs_first = {"dependsOn": [{"name": first}]}
    gitops.apply(
        repository(charts.url)
        + helmrelease(first, target, values={"nodeSelector": NOWHERE}, spec=install)
        + "---\n"
        + helmrelease(second, target, spec=needs_first)
    )
    wait_status(gitops, first, stalled)
    status = wait_status(gitops, second, lambda s: cond(s, "Ready") is not None)
    assert cond(status, "Ready") == ("False", "DependencyNotReady")
    assert first in get_condition(status, "Ready")["message"]
    assert helm(workload_cluster, "list", "-n", target, "--filter", second) == []

    gitops.apply(helmrelease(first, target, values={}, spec=install))
    wait_status(gitops, first, ready_with("UpgradeSucceeded"))
    wait_status(gitops, second, ready_with("InstallSucceeded"))
    assert revisions(workload_cluster, second, target) == [(1, "deployed")]


def test_force_upgrades_an_in_sync_release_and_reset_retries_a_stalled_one(
    gitops: GitOps,
    helm_worker: Worker,
    charts: HelmRepoServer,
    workload_cluster: ClusterInfo,
    target: str,
) -> None:
    synced, stuck = unique("force"), unique("reset")
    install = {"install": {"timeout": "10s"}, "upgrade": {"timeout": "10s"}}
    bad = {"nodeSelector": NOWHERE}
    gitops.apply(
        repository(charts.url)
        + helmrelease(synced, target, spec=install)
        + "---\n"
        + helmrelease(stuck, target, values=bad, spec=install)
    )
    wait_status(gitops, synced, ready_with("InstallSucceeded"))
    status = wait_status(gitops, stuck, stalled)
    assert status["installFailures"] == 1

    token = "2026-12-07T20:00:00Z"
    force = {"reconcile.fluxcd.io/requestedAt": token, "reconcile.fluxcd.io/forceAt": token}
    reset = {"reconcile.fluxcd.io/requestedAt": token, "reconcile.fluxcd.io/resetAt": token}
    gitops.apply(
        helmrelease(synced, target, spec=install, annotations=force)
        + "---\n"
        + helmrelease(stuck, target, values=bad, spec=install, annotations=reset)
    )

    status = wait_status(gitops, synced, lambda s: s.get("lastHandledForceAt") == token)
    assert cond(status, "Ready") == ("True", "UpgradeSucceeded")
    assert revisions(workload_cluster, synced, target) == [(1, "superseded"), (2, "deployed")]

    # The reset counters let the failed release be tried once more (an upgrade), which
    # fails and stalls again: one more revision, counted as an upgrade failure.
    status = wait_status(
        gitops, stuck, lambda s: s.get("lastHandledResetAt") == token and stalled(s)
    )
    assert status.get("installFailures", 0) == 0
    assert status["upgradeFailures"] == 1
    assert gitops.get("HelmRelease", stuck)["metadata"]["generation"] == 1  # the token did it
    assert revisions(workload_cluster, stuck, target) == [(1, "failed"), (2, "failed")]
