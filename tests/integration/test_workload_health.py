"""Health checks over Deployments that really roll out, on a full sandbox cluster.

A Kustomization with ``wait: true`` (or ``healthChecks`` naming a Deployment)
is Ready only once the Deployment is Available; one whose Deployment can never
schedule ends Ready=False HealthCheckFailed naming it, with the last good
revision kept. The per-cluster run is driven in-process, as in
test_kustomize_reconcile.py.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from services.kustomize.cluster import KUSTOMIZE
from services.kustomize.reconcile import content_key
from shared.api.conditions import get_condition
from shared.fleet.run import run_on_cluster
from shared.fleet.state import Desired, FleetState
from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from shared.settings import Settings
from shared.worker import WorkerContext
from tests.fixtures.cluster import api_client, create_namespace, delete_namespace
from tests.fixtures.workers import worker_context

pytestmark = pytest.mark.cluster

NS = "flux-system"
GOOD, BAD = "main@sha1:1111", "main@sha1:2222"


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "kustomize")


@pytest.fixture
def apps_ns(workload_cluster: ClusterInfo, request: pytest.FixtureRequest) -> Iterator[str]:
    with api_client(workload_cluster.kubeconfig) as api:
        name = create_namespace(api, request.node.name)
        yield name
        delete_namespace(api, name)


def _register(ctx: WorkerContext, cluster: ClusterInfo) -> None:
    value = base64.b64encode(cluster.kubeconfig.read_bytes()).decode()
    secret = {"name": "default-kubeconfig", "namespace": NS}
    ctx.store.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": secret, "data": {"value": value}}
    )
    ctx.store.apply(
        {
            "apiVersion": "fleet.sluice.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "default", "namespace": NS},
            "spec": {"kubeConfig": {"secretRef": {"name": "default-kubeconfig"}}},
        }
    )


def _kustomization(ctx: WorkerContext, **spec: Any) -> ObjectKey:
    ctx.store.apply(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": NS},
            "spec": {
                "interval": "10m",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                # Within the test settings' task limit (8 s), with room to fail.
                "timeout": "5s",
                **spec,
            },
        }
    )
    return ObjectKey("Kustomization", NS, "apps")


def _run(ctx: WorkerContext, key: ObjectKey, revision: str, objects: list[Any]) -> None:
    """Record ``objects`` as the desired build at ``revision`` and run it on the cluster."""
    state = FleetState(ctx.client, service="kustomize", cipher=ctx.store.cipher)
    build_key = content_key(objects)
    state.put_build(build_key, objects)
    state.set_desired(key, Desired(revision, build_key, ("default",), 1, prune=True, health=True))
    run_on_cluster(ctx, key, cluster="default", service=KUSTOMIZE, retry=lambda *_: None)


def _deployment(namespace: str, *, node_selector: dict[str, str] | None = None) -> Any:
    labels = {"app": "web"}
    pod: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    if node_selector:
        pod["nodeSelector"] = node_selector
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def _status(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    doc = ctx.store.get(key)
    assert doc is not None
    return dict(doc["status"])


def _checks(namespace: str) -> dict[str, Any]:
    return {
        "wait": {"wait": True},
        "healthChecks": {
            "healthChecks": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "namespace": namespace,
                }
            ]
        },
    }


@pytest.mark.parametrize("how", ["wait", "healthChecks"])
def test_ready_only_once_the_deployment_is_available(
    ctx: WorkerContext, workload_cluster: ClusterInfo, apps_ns: str, how: str
) -> None:
    _register(ctx, workload_cluster)
    key = _kustomization(ctx, **_checks(apps_ns)[how])
    _run(ctx, key, GOOD, [_deployment(apps_ns)])
    status = _status(ctx, key)
    ready = get_condition(status, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "ReconciliationSucceeded"), ready
    healthy = get_condition(status, "Healthy")
    assert healthy is not None and healthy["status"] == "True"
    assert status["lastAppliedRevision"] == GOOD
    # Ready was written after the wait, so the rollout had finished by then.
    with api_client(workload_cluster.kubeconfig) as api:
        got = k8s.AppsV1Api(api).read_namespaced_deployment("web", apps_ns)
    assert got.status.available_replicas == 1


@pytest.mark.parametrize("how", ["wait", "healthChecks"])
def test_a_deployment_that_can_never_schedule_fails_the_health_check_keeping_the_last_good_revision(
    ctx: WorkerContext, workload_cluster: ClusterInfo, apps_ns: str, how: str
) -> None:
    _register(ctx, workload_cluster)
    key = _kustomization(ctx, **_checks(apps_ns)[how])
    _run(ctx, key, GOOD, [_deployment(apps_ns)])
    assert _status(ctx, key)["lastAppliedRevision"] == GOOD
    unschedulable = _deployment(apps_ns, node_selector={"disktype": "quantum"})
    _run(ctx, key, BAD, [unschedulable])
    status = _status(ctx, key)
    ready = get_condition(status, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "HealthCheckFailed")
    assert f"Deployment/{apps_ns}/web" in ready["message"]
    healthy = get_condition(status, "Healthy")
    assert healthy is not None
    assert (healthy["status"], healthy["reason"]) == ("False", "HealthCheckFailed")
    assert status["lastAppliedRevision"] == GOOD
    (cluster,) = status["clusters"]
    assert (cluster["lastAttemptedRevision"], cluster["lastAppliedRevision"]) == (BAD, GOOD)
    # The new ReplicaSet's pod is still Pending: no node matches its selector.
    with api_client(workload_cluster.kubeconfig) as api:
        pods = k8s.CoreV1Api(api).list_namespaced_pod(apps_ns).items
    pending = [p for p in pods if p.spec.node_selector == {"disktype": "quantum"}]
    assert [p.status.phase for p in pending] == ["Pending"]
