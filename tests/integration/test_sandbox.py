"""The sandbox control plane: real etcd and kube-apiservers, real RBAC, the CLI end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from shared.sandbox import RESTRICTED_NAMESPACE, ClusterInfo, ControlPlane, PortInUseError
from tests.fixtures.cluster import (
    api_client,
    as_json,
    create_namespace,
    delete_namespace,
    skip_without_control_plane_tools,
)

pytestmark = pytest.mark.cluster

SLUICE = str(Path(sys.executable).with_name("sluice"))


def deployment(name: str, image: str = "nginx:1.27") -> dict[str, Any]:
    """A minimal Deployment document, as a user would write it."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def server_side_apply(api: k8s.ApiClient, namespace: str, doc: dict[str, Any]) -> None:
    """Server-side apply ``doc`` as field manager "sluice"."""
    k8s.AppsV1Api(api).patch_namespaced_deployment(
        name=doc["metadata"]["name"],
        namespace=namespace,
        body=doc,
        field_manager="sluice",
        force=True,
        _content_type="application/apply-patch+yaml",
    )


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def test_admin_server_side_applies_a_deployment_on_each_of_three_clusters(
    control_plane_3: ControlPlane,
) -> None:
    infos = control_plane_3.cluster_info()
    assert [i.name for i in infos] == ["cluster-1", "cluster-2", "cluster-3"]
    for info in infos:
        with api_client(info.kubeconfig) as api:
            ns = create_namespace(api, "ssa")
            try:
                server_side_apply(api, ns, deployment(f"web-{info.name}"))
                got = as_json(
                    api, k8s.AppsV1Api(api).read_namespaced_deployment(f"web-{info.name}", ns)
                )
            finally:
                delete_namespace(api, ns)
        assert got["spec"]["replicas"] == 2
        assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
        managers = {(m["manager"], m["operation"]) for m in got["metadata"]["managedFields"]}
        assert ("sluice", "Apply") in managers


def test_clusters_are_separate_though_they_share_one_etcd(control_plane_3: ControlPlane) -> None:
    first, second, _ = control_plane_3.cluster_info()
    with api_client(first.kubeconfig) as api:
        ns = create_namespace(api, "only-on-cluster-1")
    with api_client(second.kubeconfig) as api:
        listed = as_json(api, k8s.CoreV1Api(api).list_namespace())
    names = {n["metadata"]["name"] for n in listed["items"]}
    assert ns not in names
    assert RESTRICTED_NAMESPACE in names


def test_restricted_user_is_refused_outside_its_namespace(
    sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    with api_client(sandbox_cluster.restricted_kubeconfig) as api:
        core = k8s.CoreV1Api(api)
        refused: list[Callable[[], object]] = [
            lambda: core.list_namespaced_config_map("default"),
            lambda: core.list_namespaced_config_map(namespace),
            lambda: core.list_namespace(),
            lambda: server_side_apply(api, "default", deployment("web")),
        ]
        for call in refused:
            with pytest.raises(k8s.ApiException) as caught:
                call()
            assert caught.value.status == 403


def test_restricted_user_may_edit_inside_its_namespace(sandbox_cluster: ClusterInfo) -> None:
    with api_client(sandbox_cluster.restricted_kubeconfig) as api:
        name = f"web-{os.getpid()}"
        server_side_apply(api, RESTRICTED_NAMESPACE, deployment(name))
        apps = k8s.AppsV1Api(api)
        got = as_json(api, apps.read_namespaced_deployment(name, RESTRICTED_NAMESPACE))
        assert got["spec"]["replicas"] == 2
        apps.delete_namespaced_deployment(name, RESTRICTED_NAMESPACE)


def test_namespace_fixture_gives_the_test_its_own_namespace(
    sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    assert namespace.startswith("test-namespace-fixture")
    with api_client(sandbox_cluster.kubeconfig) as api:
        got = as_json(api, k8s.CoreV1Api(api).read_namespace(namespace))
    assert got["status"]["phase"] == "Active"


def test_a_stopped_cluster_restarts_on_its_port_with_its_data(
    control_plane_3: ControlPlane,
) -> None:
    second = control_plane_3.cluster(2)
    with api_client(second.kubeconfig) as api:
        ns = create_namespace(api, "survives-restart")
    control_plane_3.stop_cluster(2)
    try:
        assert control_plane_3.running()["cluster-2"] is False
        assert control_plane_3.running()["cluster-3"] is True
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", second.port), timeout=1),
        ):
            pass
        # Someone else on the port: restarting says so plainly.
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", second.port))
            squatter.listen()
            with pytest.raises(PortInUseError, match=str(second.port)):
                control_plane_3.start_cluster(2)
    finally:
        restarted = control_plane_3.start_cluster(2)
    assert restarted.port == second.port
    with api_client(second.kubeconfig) as api:
        got = as_json(api, k8s.CoreV1Api(api).read_namespace(ns))
    assert got["metadata"]["name"] == ns


def test_sandbox_cli_up_writes_kubeconfigs_and_down_stops_everything(tmp_path: Path) -> None:
    skip_without_control_plane_tools()
    sandbox = tmp_path / "sandbox"
    up = subprocess.run(
        [SLUICE, "sandbox", "up", "--api-only", "-n", "2", "--dir", str(sandbox), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    state = sandbox / "state.json"
    try:
        assert up.returncode == 0, up.stderr
        report = json.loads(up.stdout)
        clusters = report["clusters"]
        assert [c["name"] for c in clusters] == ["cluster-1", "cluster-2"]
        for c in clusters:
            assert c["kubeconfig"] == str(sandbox.resolve() / f"{c['name']}.kubeconfig")
            assert Path(c["restrictedKubeconfig"]).is_file()
            with api_client(Path(c["kubeconfig"])) as api:
                assert k8s.VersionApi(api).get_code().git_version.startswith("v1.")
        pids = [p["pid"] for p in json.loads(state.read_text())["clusters"]]
        pids.append(json.loads(state.read_text())["etcd"]["pid"])
    finally:
        down = subprocess.run(
            [SLUICE, "sandbox", "down", "--dir", str(sandbox)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert down.returncode == 0, down.stderr
    assert all(process_gone(pid) for pid in pids)
    assert not state.exists()
    # down removes only what up made; here that was all of the folder.
    assert not sandbox.exists()


def test_sandbox_cli_names_make_tools_when_kube_apiserver_is_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        "PATH": str(empty),
        "HOME": str(tmp_path),
        "KUBEBUILDER_ASSETS": str(empty),
        "SLUICE_TOOLS_DIR": str(empty),
    }
    done = subprocess.run(
        [SLUICE, "sandbox", "up", "--dir", str(tmp_path / "sandbox")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "not found" in done.stderr
    assert "make tools" in done.stderr
    assert not (tmp_path / "sandbox" / "state.json").exists()
