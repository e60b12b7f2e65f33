"""The helm service's Helm 4 adapter against a sandbox cluster that runs workloads.

A chart packaged here (a ConfigMap and a small Deployment) is installed,
upgraded, rolled back and uninstalled through ``services.helm.helm.Helm``; what
the adapter reads back from Helm's storage is checked against the cluster and
``helm list``.
"""

from __future__ import annotations

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
from shared.sandbox import ClusterInfo
from tests.helmcharts import (
    ROLLOUT,
    WEBAPP,
    HelmCli,
    make_chart,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """``helm package`` of a chart "webapp" 0.1.0: a ConfigMap, a Deployment, a test Job."""
    return make_chart(tmp_path, WEBAPP)


def greeting(api: k8s.ApiClient, ns: str) -> str:
    data = k8s.CoreV1Api(api).read_namespaced_config_map("web-settings", ns).data
    return str(data["greeting"])


WAIT = InstallOptions(timeout=ROLLOUT)


def test_install_upgrade_rollback_and_uninstall_write_the_revisions_helm_reports(
    workload_helm: Helm,
    chart: Path,
    workload_cluster: ClusterInfo,
    workload_api: k8s.ApiClient,
    workload_ns: str,
    helm_scratch: Path,
    tmp_path: Path,
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)

    installed = workload_helm.install(ref, chart=chart, values={"greeting": "hi"}, options=WAIT)
    assert list(helm_scratch.iterdir()) == []  # the kubeconfig and values files are gone
    assert (installed.version, installed.status) == (1, HelmStatus.DEPLOYED)
    assert (installed.chart_name, installed.chart_version) == ("webapp", "0.1.0")
    assert installed.config_digest == values_digest({"greeting": "hi"})
    assert installed.test_hooks is None
    assert [(r.version, r.status) for r in workload_helm.history(ref)] == [(1, HelmStatus.DEPLOYED)]
    listed = HelmCli(workload_cluster.kubeconfig, tmp_path / "cli").releases(workload_ns)
    assert [(e["name"], e["revision"], e["status"], e["chart"]) for e in listed] == [
        ("web", "1", "deployed", "webapp-0.1.0")
    ]
    assert greeting(workload_api, workload_ns) == "hi"
    ready = k8s.AppsV1Api(workload_api).read_namespaced_deployment("web-web", workload_ns)
    assert ready.status.ready_replicas == 1  # --wait=watcher waited for the rollout

    upgraded = workload_helm.upgrade(
        ref, chart=chart, values={"greeting": "bonjour"}, options=UpgradeOptions(timeout=ROLLOUT)
    )
    assert list(helm_scratch.iterdir()) == []
    assert (upgraded.version, upgraded.status) == (2, HelmStatus.DEPLOYED)
    assert upgraded.config_digest == values_digest({"greeting": "bonjour"})
    assert greeting(workload_api, workload_ns) == "bonjour"
    assert [(r.version, r.status) for r in workload_helm.history(ref)] == [
        (2, HelmStatus.DEPLOYED),
        (1, HelmStatus.SUPERSEDED),
    ]

    rolled = workload_helm.rollback(ref, to=1, options=RollbackOptions(timeout=ROLLOUT))
    assert list(helm_scratch.iterdir()) == []
    assert (rolled.version, rolled.status) == (3, HelmStatus.DEPLOYED)
    assert rolled.config_digest == installed.config_digest
    assert greeting(workload_api, workload_ns) == "hi"
    history = workload_helm.history(ref)
    assert [(r.version, r.status) for r in history] == [
        (3, HelmStatus.DEPLOYED),
        (2, HelmStatus.SUPERSEDED),
        (1, HelmStatus.SUPERSEDED),
    ]
    # Stored revisions read the same twice: the digest ignores the live objects.
    assert workload_helm.read(ref, version=3) == history[0]

    workload_helm.uninstall(ref, options=UninstallOptions(timeout=ROLLOUT))
    assert list(helm_scratch.iterdir()) == []
    assert workload_helm.history(ref) == ()
    assert workload_helm.read(ref) is None
    assert HelmCli(workload_cluster.kubeconfig, tmp_path / "cli").releases(workload_ns) == []
    configmaps = k8s.CoreV1Api(workload_api).list_namespaced_config_map(workload_ns).items
    assert "web-settings" not in {c.metadata.name for c in configmaps}


def test_a_test_run_is_read_back_as_its_hooks_phases_and_keeps_the_digest(
    workload_helm: Helm, chart: Path, workload_ns: str, helm_scratch: Path
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)
    installed = workload_helm.install(ref, chart=chart, values={}, options=WAIT)
    assert not installed.has_been_tested

    tested = workload_helm.test(ref, options=TestOptions(timeout=ROLLOUT))

    assert list(helm_scratch.iterdir()) == []
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.SUCCEEDED),)
    assert tested.has_been_tested
    assert not tested.has_failed_test
    # A test run is not a change by someone else: the stored revision's digest holds.
    assert (tested.version, tested.digest) == (1, installed.digest)


def test_a_test_that_does_not_finish_in_time_is_read_back_as_failed(
    workload_helm: Helm, chart: Path, workload_ns: str, helm_scratch: Path
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)
    # The test Job's pod can go nowhere: it never runs, the test times out.
    values = {"testNodeSelector": {"sluice.test/nowhere": "true"}}
    workload_helm.install(ref, chart=chart, values=values, options=WAIT)

    with pytest.raises(HelmError):
        workload_helm.test(ref, options=TestOptions(timeout=5))

    assert list(helm_scratch.iterdir()) == []
    tested = workload_helm.read(ref)
    assert tested is not None
    assert tested.test_hooks == (TestHook(name="web-smoke", phase=HookPhase.FAILED),)
    assert tested.has_failed_test
    assert (tested.version, tested.status) == (1, HelmStatus.DEPLOYED)


def test_an_install_whose_deployment_never_becomes_ready_is_stored_as_failed(
    workload_helm: Helm, chart: Path, workload_ns: str, helm_scratch: Path
) -> None:
    ref = ReleaseRef(name="web", namespace=workload_ns)
    # No node carries this label: the pod stays Pending, the rollout never finishes.
    values = {"nodeSelector": {"sluice.test/nowhere": "true"}}

    with pytest.raises(HelmError) as failed:
        workload_helm.install(ref, chart=chart, values=values, options=InstallOptions(timeout=5))

    assert list(helm_scratch.iterdir()) == []
    assert "web-web not ready" in str(failed.value)  # helm says which object held it up
    assert str(helm_scratch) not in str(failed.value)
    release = workload_helm.read(ref)
    assert release is not None
    assert (release.version, release.status) == (1, HelmStatus.FAILED)
    assert release.config_digest == values_digest(values)


def test_a_release_never_installed_has_no_history(
    workload_helm: Helm, workload_ns: str, helm_scratch: Path
) -> None:
    ref = ReleaseRef(name="absent", namespace=workload_ns)

    assert workload_helm.history(ref) == ()
    assert workload_helm.read(ref) is None
    assert list(helm_scratch.iterdir()) == []
