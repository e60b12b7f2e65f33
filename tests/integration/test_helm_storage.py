"""Helm's release storage read and unlocked straight from the cluster, against what helm says.

The real ``helm`` installs, upgrades and tests a chart on a sandbox cluster that
runs workloads; ``ReleaseStorage`` reads the same revisions with one list call,
and unlocks a revision left pending by a helm that was killed mid-upgrade.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from services.helm.digest import values_digest
from services.helm.release_state import HelmStatus, HookPhase, Release, TestHook
from services.helm.storage import ReleaseStorage, StorageConflict, secret_name
from shared.kube.client import KubeClient
from shared.kube.kubeconfig import client_from_kubeconfig
from shared.sandbox import ClusterInfo
from shared.tools import require_tool
from tests.fixtures.cluster import api_client, create_namespace, delete_namespace

pytestmark = pytest.mark.cluster

# Generous: two shared cores, and the controllers' informers start lazily.
ROLLOUT = 120.0

_CHART = "apiVersion: v2\nname: shop\nversion: 1.4.0\nappVersion: '2.0.1'\n"

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
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: smoke
          image: busybox:1.36
"""


@pytest.fixture
def api(workload_cluster: ClusterInfo) -> Iterator[k8s.ApiClient]:
    with api_client(workload_cluster.kubeconfig) as client:
        yield client


@pytest.fixture
def ns(api: k8s.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    name = create_namespace(api, request.node.name)
    yield name
    delete_namespace(api, name)


@pytest.fixture
def kube(workload_cluster: ClusterInfo) -> Iterator[KubeClient]:
    client = client_from_kubeconfig(workload_cluster.kubeconfig.read_text())
    yield client
    client.close()


class HelmCli:
    """The real ``helm``, as a person at a terminal runs it against the sandbox cluster."""

    def __init__(self, cluster: ClusterInfo, home: Path, chart: Path) -> None:
        self.chart = chart
        self._kubeconfig = cluster.kubeconfig
        self._env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}

    def argv(self, *args: str) -> list[str]:
        return [str(require_tool("helm")), *args, f"--kubeconfig={self._kubeconfig}"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(*args),
            env=self._env,
            capture_output=True,
            text=True,
            timeout=ROLLOUT + 60,
            check=False,
        )
        assert done.returncode == 0 or not check, done.stderr
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def history(self, name: str, ns: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = json.loads(
            self.run("history", name, "--namespace", ns, "-o", "json").stdout
        )
        return listed


@pytest.fixture
def helm(workload_cluster: ClusterInfo, tmp_path: Path) -> HelmCli:
    """``helm package`` of chart "shop" 1.4.0: a ConfigMap, a Deployment, a test Job."""
    source = tmp_path / "src" / "shop"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text(_CHART)
    (source / "values.yaml").write_text("greeting: hello\nnodeSelector: {}\n")
    (source / "templates" / "configmap.yaml").write_text(_CONFIGMAP)
    (source / "templates" / "deployment.yaml").write_text(_DEPLOYMENT)
    (source / "templates" / "smoke-test.yaml").write_text(_TEST_HOOK)
    cli = HelmCli(workload_cluster, tmp_path, tmp_path / "shop-1.4.0.tgz")
    cli.run("package", str(source), "-d", str(tmp_path))
    return cli


def eventually_latest(storage: ReleaseStorage, name: str, status: HelmStatus) -> Release:
    deadline = time.monotonic() + ROLLOUT
    while time.monotonic() < deadline:
        latest = storage.latest(name)
        if latest is not None and latest.status == status:
            return latest
        time.sleep(0.2)
    raise AssertionError(f"release {name} never reached {status}: {storage.latest(name)}")


def test_history_and_latest_read_the_revisions_helm_history_lists(
    helm: HelmCli, kube: KubeClient, ns: str
) -> None:
    storage = ReleaseStorage(kube, ns)
    where = ["--namespace", ns]
    helm.run("install", "web", str(helm.chart), *where, "--set", "greeting=one")
    helm.run("upgrade", "web", str(helm.chart), *where, "--set", "greeting=two")
    helm.run("upgrade", "web", str(helm.chart), *where, "--set", "greeting=three")
    # No node carries this label: the rollout never finishes and the upgrade fails.
    failed = helm.run(
        "upgrade",
        "web",
        str(helm.chart),
        *where,
        "--set-string",
        "nodeSelector.sluice-test/nowhere=true",
        "--wait=watcher",
        "--timeout=5s",
        check=False,
    )
    assert failed.returncode != 0

    history = storage.history("web")

    listed = helm.history("web", ns)
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
    rendered = helm.run("get", "manifest", "web", *where, "--revision", "3").stdout
    assert storage.manifest("web", 3).strip() == rendered.strip()
    assert 'greeting: "three"' in storage.manifest("web", 3)
    assert storage.history("absent") == ()
    assert storage.latest("absent") is None


def test_a_manual_helm_test_keeps_the_digest_and_is_read_as_the_test_hooks_phases(
    helm: HelmCli, kube: KubeClient, ns: str
) -> None:
    storage = ReleaseStorage(kube, ns)
    helm.run("install", "web", str(helm.chart), "--namespace", ns)
    installed = storage.latest("web")
    assert installed is not None
    assert installed.test_hooks is None

    helm.run("test", "web", "--namespace", ns, f"--timeout={ROLLOUT:.0f}s")

    tested = storage.latest("web")
    assert tested is not None
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),)
    assert (tested.version, tested.digest) == (1, installed.digest)


def test_unlock_marks_a_revision_left_pending_by_a_killed_helm_failed_and_helm_upgrades_again(
    helm: HelmCli, kube: KubeClient, api: k8s.ApiClient, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = ReleaseStorage(kube, ns)
    where = ["--namespace", ns]
    helm.run("install", "web", str(helm.chart), *where)
    upgrade = helm.start(
        "upgrade",
        "web",
        str(helm.chart),
        *where,
        "--set-string",
        "nodeSelector.sluice-test/nowhere=true",
        "--wait=watcher",
        f"--timeout={ROLLOUT:.0f}s",
    )
    try:
        pending = eventually_latest(storage, "web", HelmStatus.PENDING_UPGRADE)
    finally:
        upgrade.send_signal(signal.SIGKILL)
        upgrade.wait(timeout=30)
    assert pending.version == 2
    locked = helm.run("upgrade", "web", str(helm.chart), *where, check=False)
    assert "another operation" in locked.stderr  # helm itself refuses: the release is locked

    # Another writer touches the Secret between unlock's read and its write: it must win.
    core = k8s.CoreV1Api(api)
    write = kube.update

    def racing_update(obj: dict[str, Any]) -> dict[str, Any]:
        core.patch_namespaced_secret(
            secret_name("web", 2), ns, {"metadata": {"annotations": {"racer": "was-here"}}}
        )
        return write(obj)

    monkeypatch.setattr(kube, "update", racing_update)
    with pytest.raises(StorageConflict) as lost:
        storage.unlock(pending)
    assert "web.v2" in str(lost.value)
    monkeypatch.undo()
    assert storage.latest("web") == pending  # still locked, the racer's write kept

    unlocked = storage.unlock(pending)

    assert (unlocked.version, unlocked.status) == (2, HelmStatus.FAILED)
    assert storage.latest("web") == unlocked
    meta = core.read_namespaced_secret(secret_name("web", 2), ns).metadata
    assert meta is not None
    assert (meta.labels or {})["status"] == "failed"
    assert (meta.annotations or {})["racer"] == "was-here"
    revision_2 = next(e for e in helm.history("web", ns) if e["revision"] == 2)
    assert (revision_2["status"], revision_2["description"]) == (
        "failed",
        "Release unlocked from stale 'pending-upgrade' state",
    )
    # A stale copy of the pending revision unlocks nothing more.
    assert storage.unlock(pending) == unlocked

    helm.run("upgrade", "web", str(helm.chart), *where, "--set", "greeting=again")

    assert [(e["revision"], e["status"]) for e in helm.history("web", ns)] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    latest = storage.latest("web")
    assert latest is not None
    assert (latest.version, latest.status) == (3, HelmStatus.DEPLOYED)
