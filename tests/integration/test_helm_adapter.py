"""The helm service's Helm 4 adapter against a sandbox cluster that runs workloads.

A chart packaged here (a ConfigMap and a small Deployment) is installed,
upgraded, rolled back and uninstalled through ``services.helm.helm.Helm``; what
the adapter reads back from Helm's storage is checked against the cluster and
``helm list``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from services.helm.actionoptions import (
    InstallOptions,
    RollbackOptions,
    TestOptions,
    UninstallOptions,
    UpgradeOptions,
)
from services.helm.digest import values_digest
from services.helm.helm import Helm, HelmError, ReleaseRef
from services.helm.release_state import HelmStatus, HookPhase, TestHook
from shared.kube.kubeconfig import client_from_kubeconfig
from shared.sandbox import ClusterInfo
from shared.toolrun import ToolLimits
from shared.tools import require_tool
from tests.fixtures.cluster import api_client, create_namespace, delete_namespace

pytestmark = pytest.mark.cluster

# Generous: two shared cores, and the controllers' informers start lazily.
ROLLOUT = 120.0

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
      {{- with .Values.testNodeSelector }}
      nodeSelector: {{ toJson . }}
      {{- end }}
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
def chart(tmp_path: Path) -> Path:
    """``helm package`` of a chart "webapp" 0.1.0: a ConfigMap, a Deployment, a test Job."""
    source = tmp_path / "src" / "webapp"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text("apiVersion: v2\nname: webapp\nversion: 0.1.0\n")
    (source / "values.yaml").write_text("greeting: hello\nnodeSelector: {}\n")
    (source / "templates" / "configmap.yaml").write_text(_CONFIGMAP)
    (source / "templates" / "deployment.yaml").write_text(_DEPLOYMENT)
    (source / "templates" / "smoke-test.yaml").write_text(_TEST_HOOK)
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(
        [str(require_tool("helm")), "package", str(source), "-d", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tmp_path / "webapp-0.1.0.tgz"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture
def helm(workload_cluster: ClusterInfo, scratch: Path) -> Iterator[Helm]:
    limits = ToolLimits(memory_bytes=2 << 30, cpu_seconds=300, timeout=ROLLOUT + 60)
    kubeconfig = workload_cluster.kubeconfig.read_text()
    client = client_from_kubeconfig(kubeconfig)
    yield Helm(kubeconfig.encode(), client=client, limits=limits, scratch=scratch)
    client.close()


def helm_list(cluster: ClusterInfo, namespace: str, home: Path) -> list[dict[str, str]]:
    done = subprocess.run(
        [
            str(require_tool("helm")),
            "list",
            "--namespace",
            namespace,
            "-o",
            "json",
            f"--kubeconfig={cluster.kubeconfig}",
        ],
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed: list[dict[str, str]] = json.loads(done.stdout)
    return listed


def greeting(api: k8s.ApiClient, ns: str) -> str:
    data = k8s.CoreV1Api(api).read_namespaced_config_map("web-settings", ns).data
    return str(data["greeting"])


WAIT = InstallOptions(timeout=ROLLOUT)


def test_install_upgrade_rollback_and_uninstall_write_the_revisions_helm_reports(
    helm: Helm,
    chart: Path,
    workload_cluster: ClusterInfo,
    api: k8s.ApiClient,
    ns: str,
    scratch: Path,
    tmp_path: Path,
) -> None:
    ref = ReleaseRef(name="web", namespace=ns)

    installed = helm.install(ref, chart=chart, values={"greeting": "hi"}, options=WAIT)
    assert list(scratch.iterdir()) == []  # the kubeconfig and values files are gone
    assert (installed.version, installed.status) == (1, HelmStatus.DEPLOYED)
    assert (installed.chart_name, installed.chart_version) == ("webapp", "0.1.0")
    assert installed.config_digest == values_digest({"greeting": "hi"})
    assert installed.test_hooks is None
    assert [(r.version, r.status) for r in helm.history(ref)] == [(1, HelmStatus.DEPLOYED)]
    listed = helm_list(workload_cluster, ns, tmp_path)
    assert [(e["name"], e["revision"], e["status"], e["chart"]) for e in listed] == [
        ("web", "1", "deployed", "webapp-0.1.0")
    ]
    assert greeting(api, ns) == "hi"
    ready = k8s.AppsV1Api(api).read_namespaced_deployment("web-web", ns)
    assert ready.status.ready_replicas == 1  # --wait=watcher waited for the rollout

    upgraded = helm.upgrade(
        ref, chart=chart, values={"greeting": "bonjour"}, options=UpgradeOptions(timeout=ROLLOUT)
    )
    assert list(scratch.iterdir()) == []
    assert (upgraded.version, upgraded.status) == (2, HelmStatus.DEPLOYED)
    assert upgraded.config_digest == values_digest({"greeting": "bonjour"})
    assert greeting(api, ns) == "bonjour"
    assert [(r.version, r.status) for r in helm.history(ref)] == [
        (2, HelmStatus.DEPLOYED),
        (1, HelmStatus.SUPERSEDED),
    ]

    rolled = helm.rollback(ref, to=1, options=RollbackOptions(timeout=ROLLOUT))
    assert list(scratch.iterdir()) == []
    assert (rolled.version, rolled.status) == (3, HelmStatus.DEPLOYED)
    assert rolled.config_digest == installed.config_digest
    assert greeting(api, ns) == "hi"
    history = helm.history(ref)
    assert [(r.version, r.status) for r in history] == [
        (3, HelmStatus.DEPLOYED),
        (2, HelmStatus.SUPERSEDED),
        (1, HelmStatus.SUPERSEDED),
    ]
    # Stored revisions read the same twice: the digest ignores the live objects.
    assert helm.read(ref, version=3) == history[0]

    helm.uninstall(ref, options=UninstallOptions(timeout=ROLLOUT))
    assert list(scratch.iterdir()) == []
    assert helm.history(ref) == ()
    assert helm.read(ref) is None
    assert helm_list(workload_cluster, ns, tmp_path) == []
    configmaps = k8s.CoreV1Api(api).list_namespaced_config_map(ns).items
    assert "web-settings" not in {c.metadata.name for c in configmaps}


def test_a_test_run_is_read_back_as_its_hooks_phases_and_keeps_the_digest(
    helm: Helm, chart: Path, ns: str, scratch: Path
) -> None:
    ref = ReleaseRef(name="web", namespace=ns)
    installed = helm.install(ref, chart=chart, values={}, options=WAIT)
    assert not installed.has_been_tested

    tested = helm.test(ref, options=TestOptions(timeout=ROLLOUT))

    assert list(scratch.iterdir()) == []
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),)
    assert tested.has_been_tested
    assert not tested.has_failed_test
    # A test run is not a change by someone else: the stored revision's digest holds.
    assert (tested.version, tested.digest) == (1, installed.digest)


def test_a_test_that_does_not_finish_in_time_is_read_back_as_failed(
    helm: Helm, chart: Path, ns: str, scratch: Path
) -> None:
    ref = ReleaseRef(name="web", namespace=ns)
    # The test Job's pod can go nowhere: it never runs, the test times out.
    values = {"testNodeSelector": {"sluice.test/nowhere": "true"}}
    helm.install(ref, chart=chart, values=values, options=WAIT)

    with pytest.raises(HelmError):
        helm.test(ref, options=TestOptions(timeout=5))

    assert list(scratch.iterdir()) == []
    tested = helm.read(ref)
    assert tested is not None
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.FAILED),)
    assert tested.has_failed_test
    assert (tested.version, tested.status) == (1, HelmStatus.DEPLOYED)


def test_an_install_whose_deployment_never_becomes_ready_is_stored_as_failed(
    helm: Helm, chart: Path, ns: str, scratch: Path
) -> None:
    ref = ReleaseRef(name="web", namespace=ns)
    # No node carries this label: the pod stays Pending, the rollout never finishes.
    values = {"nodeSelector": {"sluice.test/nowhere": "true"}}

    with pytest.raises(HelmError) as failed:
        helm.install(ref, chart=chart, values=values, options=InstallOptions(timeout=5))

    assert list(scratch.iterdir()) == []
    assert "web-web not ready" in str(failed.value)  # helm says which object held it up
    assert str(scratch) not in str(failed.value)
    release = helm.read(ref)
    assert release is not None
    assert (release.version, release.status) == (1, HelmStatus.FAILED)
    assert release.config_digest == values_digest(values)


def test_a_release_never_installed_has_no_history(helm: Helm, ns: str, scratch: Path) -> None:
    ref = ReleaseRef(name="absent", namespace=ns)

    assert helm.history(ref) == ()
    assert helm.read(ref) is None
    assert list(scratch.iterdir()) == []
