"""A full sandbox cluster runs workloads: rollouts, Jobs, scheduling, namespace deletion, GC.

The same checks a user would make with kubectl, against a real
controller-manager, scheduler and kwok nodes (``workload_plane``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from shared.sandbox import ClusterInfo, ControlPlane, StartupError
from shared.settings import load_settings
from shared.tools import require_tool
from tests.fixtures.cluster import (
    api_client,
    create_namespace,
    delete_namespace,
    skip_without_control_plane_tools,
)
from tests.helpers import eventually

pytestmark = pytest.mark.cluster

SLUICE = str(Path(sys.executable).with_name("sluice"))
# Generous: two shared cores, and the controllers' informers start lazily.
ROLLOUT = 90.0


def deployment(name: str, *, replicas: int = 1, node_selector: dict[str, str] | None = None) -> Any:
    labels = {"app": name}
    pod: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    if node_selector:
        pod["nodeSelector"] = node_selector
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


@pytest.fixture
def api(workload_cluster: ClusterInfo) -> Iterator[k8s.ApiClient]:
    with api_client(workload_cluster.kubeconfig) as client:
        yield client


@pytest.fixture
def ns(api: k8s.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    name = create_namespace(api, request.node.name)
    yield name
    delete_namespace(api, name)


def kubectl(
    cluster: ClusterInfo, *args: str, timeout: float = ROLLOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require_tool("kubectl")), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )


def test_a_deployment_becomes_available_and_kubectl_rollout_status_returns(
    workload_cluster: ClusterInfo, api: k8s.ApiClient, ns: str
) -> None:
    k8s.AppsV1Api(api).create_namespaced_deployment(ns, deployment("web", replicas=2))
    done = kubectl(
        workload_cluster,
        "-n",
        ns,
        "rollout",
        "status",
        "deployment/web",
        f"--timeout={ROLLOUT:.0f}s",
    )
    assert done.returncode == 0, done.stderr
    assert "successfully rolled out" in done.stdout
    got = k8s.AppsV1Api(api).read_namespaced_deployment("web", ns)
    assert got.status.available_replicas == 2
    pods = k8s.CoreV1Api(api).list_namespaced_pod(ns).items
    assert [p.status.phase for p in pods] == ["Running", "Running"]
    assert {p.spec.node_name for p in pods} <= {"kwok-node-1", "kwok-node-2"}


def test_a_jobs_pod_completes_and_the_job_is_complete(
    workload_cluster: ClusterInfo, api: k8s.ApiClient, ns: str
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "busybox:1.36"}],
                }
            }
        },
    }
    k8s.BatchV1Api(api).create_namespaced_job(ns, job)
    done = kubectl(
        workload_cluster,
        "-n",
        ns,
        "wait",
        "--for=condition=Complete",
        "job/migrate",
        f"--timeout={ROLLOUT:.0f}s",
    )
    assert done.returncode == 0, done.stderr
    got = k8s.BatchV1Api(api).read_namespaced_job("migrate", ns)
    assert got.status.succeeded == 1


def test_a_pod_no_node_can_take_stays_pending_as_unschedulable(api: k8s.ApiClient, ns: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "picky"},
        "spec": {
            "nodeSelector": {"disktype": "quantum"},
            "containers": [{"name": "app", "image": "nginx:1.27"}],
        },
    }
    core = k8s.CoreV1Api(api)
    core.create_namespaced_pod(ns, pod)

    def unschedulable() -> bool:
        got = core.read_namespaced_pod("picky", ns)
        conditions = {c.type: c for c in got.status.conditions or []}
        scheduled = conditions.get("PodScheduled")
        return scheduled is not None and scheduled.reason == "Unschedulable"

    eventually(unschedulable, timeout=ROLLOUT)
    got = core.read_namespaced_pod("picky", ns)
    assert got.status.phase == "Pending"
    assert got.spec.node_name is None


def test_a_deleted_namespace_goes_away_with_its_contents(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    name = create_namespace(api, "doomed")
    core.create_namespaced_config_map(name, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except k8s.ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, timeout=ROLLOUT)


def test_an_object_whose_owner_is_deleted_is_garbage_collected(api: k8s.ApiClient, ns: str) -> None:
    core = k8s.CoreV1Api(api)
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "dependent", "ownerReferences": [reference]}}
    )
    core.delete_namespaced_config_map("owner", ns)

    def collected() -> bool:
        names = [c.metadata.name for c in core.list_namespaced_config_map(ns).items]
        return "dependent" not in names

    eventually(collected, timeout=ROLLOUT)


def test_sandbox_cli_up_gives_every_cluster_running_workloads_and_down_stops_them(
    tmp_path: Path,
) -> None:
    skip_without_control_plane_tools(workloads=True)
    sandbox = tmp_path / "sandbox"
    up = subprocess.run(
        [SLUICE, "sandbox", "up", "--clusters", "2", "--dir", str(sandbox), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    state = sandbox / "state.json"
    pids: list[int] = []
    try:
        assert up.returncode == 0, up.stderr
        report = json.loads(up.stdout)
        assert "workloads" in report["timings"]
        doc = json.loads(state.read_text())
        names = [c["name"] for c in doc["components"]]
        assert names == [
            f"cluster-{n}-{component}"
            for n in (1, 2)
            for component in ("controller-manager", "scheduler", "kwok")
        ]
        pids = [r["pid"] for r in [*doc["components"], *doc["clusters"], doc["etcd"]]]
        status = subprocess.run(
            [SLUICE, "sandbox", "status", "--dir", str(sandbox), "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["processes"]["cluster-2-scheduler"] is True
        for c in report["clusters"]:
            with api_client(Path(c["kubeconfig"])) as api:
                apps = k8s.AppsV1Api(api)
                apps.create_namespaced_deployment("default", deployment("web"))

                def available(apps: k8s.AppsV1Api = apps) -> bool:
                    got = apps.read_namespaced_deployment("web", "default")
                    return got.status.available_replicas == 1

                eventually(available, timeout=ROLLOUT)
    finally:
        down = subprocess.run(
            [SLUICE, "sandbox", "down", "--dir", str(sandbox)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert down.returncode == 0, down.stderr
    assert all(not Path(f"/proc/{pid}/cmdline").exists() or _zombie(pid) for pid in pids)
    assert not sandbox.exists()


def _zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def test_a_workload_process_that_dies_fails_up_naming_it_with_its_log_tail(
    tmp_path: Path,
) -> None:
    skip_without_control_plane_tools(workloads=True)
    # A broken kwok install, the real control plane beside it.
    tools = tmp_path / "tools"
    (tools / "bin").mkdir(parents=True)
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        (tools / "bin" / name).symlink_to(require_tool(name))
    kwok = tools / "bin" / "kwok"
    kwok.write_text("#!/bin/sh\necho 'kwok: config: no stages found' >&2\nexit 1\n")
    kwok.chmod(0o755)
    plane = ControlPlane(
        tmp_path / "sandbox", 1, settings=load_settings().with_overrides(tools_dir=tools)
    )
    with pytest.raises(StartupError) as caught:
        plane.up()
    message = str(caught.value)
    assert message.startswith("cluster-1-kwok (kwok) exited; last lines of ")
    assert "kwok: config: no stages found" in message
    # Nothing is left running, and down() still cleans up.
    assert not any(plane.running().values())
    plane.down()
    assert not (tmp_path / "sandbox").exists()
