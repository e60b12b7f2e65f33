"""Helm's release storage read and unlocked straight from the cluster, against what helm says.

The real ``helm`` installs, upgrades and tests a chart on a sandbox cluster that
runs workloads; ``ReleaseStorage`` reads the same revisions with one list call,
and unlocks a revision left pending by a helm that was killed mid-upgrade.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from services.helm.digest import values_digest
from services.helm.helm import ReleaseRef
from services.helm.release_state import HelmStatus, HookPhase, Release, TestHook
from services.helm.storage import ReleaseStorage, StorageConflict, secret_name
from shared.kube.client import KubeClient
from shared.sandbox import ClusterInfo
from tests.helmcharts import ROLLOUT, WEBAPP, HelmCli, chart_yaml, make_chart

pytestmark = pytest.mark.cluster

# No node carries this label: the rollout never finishes and helm waits on it.
STUCK = ("--set-string", "nodeSelector.sluice-test/nowhere=true", "--wait=watcher")


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """``helm package`` of chart "shop" 1.4.0: a ConfigMap, a Deployment, a test Job."""
    shop = chart_yaml("shop", "1.4.0", app_version="2.0.1")
    return make_chart(tmp_path, {**WEBAPP, "Chart.yaml": shop})


@pytest.fixture
def helm(workload_cluster: ClusterInfo, tmp_path: Path) -> HelmCli:
    """The real ``helm``, as a person at a terminal runs it against the sandbox cluster."""
    return HelmCli(workload_cluster.kubeconfig, tmp_path / "cli", timeout=ROLLOUT + 60)


def eventually_latest(storage: ReleaseStorage, name: str, status: HelmStatus) -> Release:
    deadline = time.monotonic() + ROLLOUT
    while time.monotonic() < deadline:
        latest = storage.latest(name)
        if latest is not None and latest.status == status:
            return latest
        time.sleep(0.2)
    raise AssertionError(f"release {name} never reached {status}: {storage.latest(name)}")


def test_history_and_latest_read_the_revisions_helm_history_lists(
    helm: HelmCli, chart: Path, workload_kube: KubeClient, workload_ns: str
) -> None:
    storage = ReleaseStorage(workload_kube, workload_ns)
    where = ["--namespace", workload_ns]
    helm.run("install", "web", str(chart), *where, "--set", "greeting=one", check=True)
    helm.run("upgrade", "web", str(chart), *where, "--set", "greeting=two", check=True)
    helm.run("upgrade", "web", str(chart), *where, "--set", "greeting=three", check=True)
    # No node carries this label: the rollout never finishes and the upgrade fails.
    failed = helm.run("upgrade", "web", str(chart), *where, *STUCK, "--timeout=5s", check=False)
    assert failed.returncode != 0

    history = storage.history("web")

    listed = helm.history(ReleaseRef("web", workload_ns))
    assert [(r.version, str(r.status), f"{r.chart_name}-{r.chart_version}") for r in history] == [
        (int(e["revision"]), e["status"], e["chart"]) for e in reversed(listed)
    ]
    assert [(r.version, r.status) for r in history] == [
        (4, HelmStatus.FAILED),
        (3, HelmStatus.DEPLOYED),
        (2, HelmStatus.SUPERSEDED),
        (1, HelmStatus.SUPERSEDED),
    ]
    assert {r.app_version for r in history} == {e["app_version"] for e in listed} == {"2.0.1"}
    assert storage.latest("web") == history[0]
    assert history[1].config_digest == values_digest({"greeting": "three"})
    first, last = history[1].first_deployed, history[1].last_deployed
    assert first is not None and last is not None
    assert history[0].first_deployed == history[3].first_deployed == first
    assert first < last
    assert len({r.digest for r in history}) == 4
    rendered = helm.output("get", "manifest", "web", *where, "--revision", "3")
    assert storage.manifest("web", 3).strip() == rendered.strip()
    assert 'greeting: "three"' in storage.manifest("web", 3)
    assert storage.history("absent") == ()
    assert storage.latest("absent") is None


def test_a_manual_helm_test_keeps_the_digest_and_is_read_as_the_test_hooks_phases(
    helm: HelmCli, chart: Path, workload_kube: KubeClient, workload_ns: str
) -> None:
    storage = ReleaseStorage(workload_kube, workload_ns)
    helm.run("install", "web", str(chart), "--namespace", workload_ns, check=True)
    installed = storage.latest("web")
    assert installed is not None
    assert installed.test_hooks is None

    helm.run("test", "web", "--namespace", workload_ns, f"--timeout={ROLLOUT:.0f}s", check=True)

    tested = storage.latest("web")
    assert tested is not None
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),)
    assert (tested.version, tested.digest) == (1, installed.digest)


def test_unlock_marks_a_revision_left_pending_by_a_killed_helm_failed_and_helm_upgrades_again(
    helm: HelmCli,
    chart: Path,
    workload_kube: KubeClient,
    workload_api: k8s.ApiClient,
    workload_ns: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = ReleaseStorage(workload_kube, workload_ns)
    where = ["--namespace", workload_ns]
    helm.run("install", "web", str(chart), *where, check=True)
    upgrade = helm.start("upgrade", "web", str(chart), *where, *STUCK, f"--timeout={ROLLOUT:.0f}s")
    try:
        pending = eventually_latest(storage, "web", HelmStatus.PENDING_UPGRADE)
    finally:
        upgrade.send_signal(signal.SIGKILL)
        upgrade.wait(timeout=30)
    assert pending.version == 2
    locked = helm.run("upgrade", "web", str(chart), *where, check=False)
    assert "another operation" in locked.stderr  # helm itself refuses: the release is locked

    # Another writer touches the Secret between unlock's read and its write: it must win.
    core = k8s.CoreV1Api(workload_api)
    write = workload_kube.update

    def racing_update(obj: dict[str, Any]) -> dict[str, Any]:
        core.patch_namespaced_secret(
            secret_name("web", 2), workload_ns, {"metadata": {"annotations": {"racer": "was-here"}}}
        )
        return write(obj)

    monkeypatch.setattr(workload_kube, "update", racing_update)
    with pytest.raises(StorageConflict) as lost:
        storage.unlock(pending)
    assert "web.v2" in str(lost.value)
    monkeypatch.undo()
    assert storage.latest("web") == pending  # still locked, the racer's write kept

    unlocked = storage.unlock(pending)

    assert (unlocked.version, unlocked.status) == (2, HelmStatus.FAILED)
    assert storage.latest("web") == unlocked
    meta = core.read_namespaced_secret(secret_name("web", 2), workload_ns).metadata
    assert meta is not None
    assert (meta.labels or {})["status"] == "failed"
    assert (meta.annotations or {})["racer"] == "was-here"
    revision_2 = next(e for e in helm.history(ReleaseRef("web", workload_ns)) if e["revision"] == 2)
    assert (revision_2["status"], revision_2["description"]) == (
        "failed",
        "Release unlocked from stale 'pending-upgrade' state",
    )
    # A stale copy of the pending revision unlocks nothing more.
    assert storage.unlock(pending) == unlocked

    helm.run("upgrade", "web", str(chart), *where, "--set", "greeting=again", check=True)

    assert [(e["revision"], e["status"]) for e in helm.history(ReleaseRef("web", workload_ns))] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    latest = storage.latest("web")
    assert latest is not None
    assert (latest.version, latest.status) == (3, HelmStatus.DEPLOYED)
