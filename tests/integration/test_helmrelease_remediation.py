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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from services.helm.helm import ReleaseRef
from shared.api.conditions import get_condition
from shared.events import EventBus
from tests.fixtures.gitops import NAMESPACE, GitOps, flux_yaml, sluice, unique
from tests.helmcharts import WEBAPP, HelmCli, hook_job, make_chart
from tests.helpers import eventually
from tests.servers.helmrepo import HelmRepoServer

pytestmark = pytest.mark.cluster

# Generous: two shared cores; helm's own timeouts below are short.
ROLLOUT = 150.0
NOWHERE = {"sluice.test/nowhere": "true"}
# The "webapp" chart, its test Job never retried.
_WEBAPP = {**WEBAPP, "templates/smoke-test.yaml": hook_job(backoff_limit=0)}


@pytest.fixture
def charts(tmp_path: Path) -> Iterator[HelmRepoServer]:
    server = HelmRepoServer(tmp_path / "charts")
    server.start()
    try:
        server.add_package(make_chart(tmp_path / "webapp", _WEBAPP))
        yield server
    finally:
        server.stop()


def revisions(helm: HelmCli, name: str, namespace: str) -> list[tuple[int, str]]:
    """``helm history``: (revision, status), oldest first."""
    return [(h["revision"], h["status"]) for h in helm.history(ReleaseRef(name, namespace))]


def repository(url: str) -> str:
    return flux_yaml("HelmRepository", "charts", f"  interval: 1h\n  url: {url}\n")


def apply_all(gitops: GitOps, *docs: str) -> None:
    """``sluice apply`` of ``docs`` as one multi-document file."""
    gitops.apply("---\n".join(docs))


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
    helm_gitops: GitOps,
    charts: HelmRepoServer,
    helm_cli: HelmCli,
    workload_ns: str,
    workload_api: k8s.ApiClient,
) -> None:
    gitops = helm_gitops
    name = unique("up")
    spec = {"upgrade": {"timeout": "15s", "remediation": {"retries": 1}}}
    apply_all(gitops, repository(charts.url), helmrelease(name, workload_ns, values={}, spec=spec))
    wait_status(gitops, name, ready_with("InstallSucceeded"))

    bad = {"greeting": "stuck", "nodeSelector": NOWHERE}
    gitops.apply(helmrelease(name, workload_ns, values=bad, spec=spec))

    # First failure: rolled back at once, retried later.
    status = wait_status(gitops, name, lambda s: s.get("upgradeFailures") == 1)
    assert cond(status, "Remediated") == ("True", "RollbackSucceeded")
    assert cond(status, "Ready") == ("False", "RollbackSucceeded")
    assert cond(status, "Released") == ("False", "UpgradeFailed")
    assert revisions(helm_cli, name, workload_ns)[:3] == [
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
    stalled_history = revisions(helm_cli, name, workload_ns)
    assert stalled_history == [
        (1, "superseded"),
        (2, "failed"),
        (3, "superseded"),
        (4, "failed"),
        (5, "deployed"),
    ]
    core = k8s.CoreV1Api(workload_api)
    assert core.read_namespaced_config_map(f"{name}-settings", workload_ns).data == {
        "greeting": "hello"
    }
    assert reasons(gitops, name).count("UpgradeFailed") == 2
    assert reasons(gitops, name, of_type="applied").count("RollbackSucceeded") == 2

    # A reconcile asked for now decides again and does nothing: stalled until the spec changes.
    runs = len(reasons(gitops, name, of_type="reconcile-failed"))
    sluice(gitops, "reconcile", "helmrelease", name, "-n", NAMESPACE, "--timeout", "60s")
    eventually(
        lambda: len(reasons(gitops, name, of_type="reconcile-failed")) > runs, timeout=ROLLOUT
    )
    assert revisions(helm_cli, name, workload_ns) == stalled_history
    assert stalled(gitops.get("HelmRelease", name)["status"])

    # A fix: a new generation resets the counters and upgrades.
    gitops.apply(helmrelease(name, workload_ns, values={"greeting": "fixed"}, spec=spec))
    status = wait_status(gitops, name, ready_with("UpgradeSucceeded"))
    assert get_condition(status, "Stalled") is None
    assert get_condition(status, "Remediated") is None
    assert status.get("upgradeFailures", 0) == 0
    assert revisions(helm_cli, name, workload_ns)[-1] == (6, "deployed")
    assert core.read_namespaced_config_map(f"{name}-settings", workload_ns).data == {
        "greeting": "fixed"
    }


def test_a_failed_install_is_uninstalled_retried_then_stalls_and_without_retries_stalls_at_once(
    helm_gitops: GitOps, charts: HelmRepoServer, helm_cli: HelmCli, workload_ns: str
) -> None:
    gitops = helm_gitops
    retried, once = unique("inst"), unique("once")
    bad = {"nodeSelector": NOWHERE}
    with_retry = {"install": {"timeout": "10s", "remediation": {"retries": 1}}}
    apply_all(
        gitops,
        repository(charts.url),
        helmrelease(retried, workload_ns, values=bad, spec=with_retry),
        helmrelease(once, workload_ns, values=bad, spec={"install": {"timeout": "10s"}}),
    )

    # Flux's default (retries 0): the failed install stays, the release stalls at once.
    status = wait_status(gitops, once, stalled)
    assert status["installFailures"] == 1
    assert get_condition(status, "Stalled")["message"] == "Failed to install after 1 attempt(s)"
    assert cond(status, "Ready") == ("False", "InstallFailed")
    assert cond(status, "Released") == ("False", "InstallFailed")
    assert get_condition(status, "Remediated") is None
    assert revisions(helm_cli, once, workload_ns) == [(1, "failed")]

    # retries: 1: the first failure is uninstalled, the second stays (remediateLastFailure
    # is false for install by default) and stalls.
    status = wait_status(gitops, retried, stalled)
    assert status["installFailures"] == 2
    assert cond(status, "Ready") == ("False", "InstallFailed")
    assert get_condition(status, "Remediated") is None  # the new install cleared it
    assert revisions(helm_cli, retried, workload_ns) == [(1, "failed")]
    seen = reasons(gitops, retried)
    assert seen.count("UninstallSucceeded") == 1
    assert seen.index("InstallFailed") < seen.index("UninstallSucceeded")
    assert "InstallFailed" in seen[seen.index("UninstallSucceeded") :]


def test_helm_tests_pass_fail_and_ignored_failures_as_flux_says(
    helm_gitops: GitOps, charts: HelmRepoServer, helm_cli: HelmCli, workload_ns: str
) -> None:
    gitops = helm_gitops
    passing, failing, ignored = unique("tpass"), unique("tfail"), unique("tign")
    test_spec = {"test": {"enable": True, "timeout": "5s"}}
    ignore_spec = {"test": {"enable": True, "timeout": "5s", "ignoreFailures": True}}
    never = {"testNodeSelector": NOWHERE}
    apply_all(
        gitops,
        repository(charts.url),
        helmrelease(passing, workload_ns, spec=test_spec),
        helmrelease(failing, workload_ns, values=never, spec=test_spec),
        helmrelease(ignored, workload_ns, values=never, spec=ignore_spec),
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
    assert revisions(helm_cli, failing, workload_ns) == [(1, "deployed")]

    # After an upgrade, a failed test is an upgrade failure: remediated by a rollback.
    rollback = {"upgrade": {"remediation": {"retries": 0, "remediateLastFailure": True}}}
    gitops.apply(helmrelease(passing, workload_ns, values=never, spec={**test_spec, **rollback}))
    status = wait_status(gitops, passing, stalled)
    assert cond(status, "TestSuccess") == ("False", "TestFailed")
    assert cond(status, "Remediated") == ("True", "RollbackSucceeded")
    assert cond(status, "Ready") == ("False", "RollbackSucceeded")
    assert status["upgradeFailures"] == 1
    assert revisions(helm_cli, passing, workload_ns) == [
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
    assert revisions(helm_cli, ignored, workload_ns) == [(1, "deployed")]


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
    helm_gitops: GitOps, charts: HelmRepoServer, helm_cli: HelmCli, workload_ns: str
) -> None:
    gitops = helm_gitops
    name = unique("kill")
    spec = {"upgrade": {"timeout": "60s"}}
    apply_all(gitops, repository(charts.url), helmrelease(name, workload_ns, spec=spec))
    wait_status(gitops, name, ready_with("InstallSucceeded"))

    gitops.apply(helmrelease(name, workload_ns, values={"nodeSelector": NOWHERE}, spec=spec))
    eventually(
        lambda: revisions(helm_cli, name, workload_ns)[-1] == (2, "pending-upgrade"),
        timeout=ROLLOUT,
    )
    assert _helm_processes(name), "helm upgrade is running"
    worker = gitops.workers.started[-1]  # the helm worker helm_gitops started
    assert worker.name == "helm"
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)
    # helm dies with its worker, as Flux's in-process helm dies with its controller.
    eventually(lambda: _helm_processes(name) == [], timeout=10)
    assert revisions(helm_cli, name, workload_ns)[-1] == (2, "pending-upgrade")

    gitops.start_worker("helm", concurrency=4)
    gitops.apply(helmrelease(name, workload_ns, values={"greeting": "fixed"}, spec=spec))
    status = wait_status(gitops, name, ready_with("UpgradeSucceeded"))
    history = helm_cli.history(ReleaseRef(name, workload_ns))
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    assert history[1]["description"] == "Release unlocked from stale 'pending-upgrade' state"
    assert status["history"][0]["version"] == 3
    assert "PendingRelease" in reasons(gitops, name)


def test_a_dependent_release_waits_for_its_dependency_to_be_ready(
    helm_gitops: GitOps, charts: HelmRepoServer, helm_cli: HelmCli, workload_ns: str
) -> None:
    gitops = helm_gitops
    first, second = unique("dep"), unique("user")
    install = {"install": {"timeout": "10s"}}
    needs_first = {"dependsOn": [{"name": first}]}
    apply_all(
        gitops,
        repository(charts.url),
        helmrelease(first, workload_ns, values={"nodeSelector": NOWHERE}, spec=install),
        helmrelease(second, workload_ns, spec=needs_first),
    )
    wait_status(gitops, first, stalled)
    status = wait_status(gitops, second, lambda s: cond(s, "Ready") is not None)
    assert cond(status, "Ready") == ("False", "DependencyNotReady")
    assert first in get_condition(status, "Ready")["message"]
    assert helm_cli.json_output("list", "-n", workload_ns, "--filter", second) == []

    gitops.apply(helmrelease(first, workload_ns, values={}, spec=install))
    wait_status(gitops, first, ready_with("UpgradeSucceeded"))
    wait_status(gitops, second, ready_with("InstallSucceeded"))
    assert revisions(helm_cli, second, workload_ns) == [(1, "deployed")]


def test_force_upgrades_an_in_sync_release_and_reset_retries_a_stalled_one(
    helm_gitops: GitOps, charts: HelmRepoServer, helm_cli: HelmCli, workload_ns: str
) -> None:
    gitops = helm_gitops
    synced, stuck = unique("force"), unique("reset")
    install = {"install": {"timeout": "10s"}, "upgrade": {"timeout": "10s"}}
    bad = {"nodeSelector": NOWHERE}
    apply_all(
        gitops,
        repository(charts.url),
        helmrelease(synced, workload_ns, spec=install),
        helmrelease(stuck, workload_ns, values=bad, spec=install),
    )
    wait_status(gitops, synced, ready_with("InstallSucceeded"))
    status = wait_status(gitops, stuck, stalled)
    assert status["installFailures"] == 1

    token = "2026-12-07T20:00:00Z"
    force = {"reconcile.fluxcd.io/requestedAt": token, "reconcile.fluxcd.io/forceAt": token}
    reset = {"reconcile.fluxcd.io/requestedAt": token, "reconcile.fluxcd.io/resetAt": token}
    apply_all(
        gitops,
        helmrelease(synced, workload_ns, spec=install, annotations=force),
        helmrelease(stuck, workload_ns, values=bad, spec=install, annotations=reset),
    )

    status = wait_status(gitops, synced, lambda s: s.get("lastHandledForceAt") == token)
    assert cond(status, "Ready") == ("True", "UpgradeSucceeded")
    assert revisions(helm_cli, synced, workload_ns) == [(1, "superseded"), (2, "deployed")]

    # The reset counters let the failed release be tried once more (an upgrade), which
    # fails and stalls again: one more revision, counted as an upgrade failure.
    status = wait_status(
        gitops, stuck, lambda s: s.get("lastHandledResetAt") == token and stalled(s)
    )
    assert status.get("installFailures", 0) == 0
    assert status["upgradeFailures"] == 1
    assert gitops.get("HelmRelease", stuck)["metadata"]["generation"] == 1  # the token did it
    assert revisions(helm_cli, stuck, workload_ns) == [(1, "failed"), (2, "failed")]
