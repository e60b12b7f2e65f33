"""A Kustomization's reconcile and per-cluster runs, in-process against a real apiserver and Redis.

As Flux's envtest suites do: each failure kind ends in exact conditions (type,
status, reason) and its own requeue (Stalled: none; Waiting: a fixed delay and an
info event; Transient: backoff), and a failing cluster retries alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery.exceptions import SoftTimeLimitExceeded
from kubernetes import client as k8s

from services.kustomize.cluster import KUSTOMIZE
from services.kustomize.reconcile import content_key, index_all, reconcile_kustomization
from shared.api.conditions import get_condition
from shared.backoff import MIN_DELAY
from shared.dependents import DependentsIndex
from shared.fleet.run import ClusterRun, run_on_cluster
from shared.fleet.state import Desired, FleetState
from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from shared.scheduler import DUE, due_at
from shared.settings import Settings
from shared.worker import WorkerContext
from tests.fixtures.cluster import api_client
from tests.fixtures.workers import worker_context
from tests.kube import register_cluster, unreachable_kubeconfig

pytestmark = pytest.mark.cluster

NS = "flux-system"
FAR = 4_000_000_000.0  # the scheduler's due time for an object nothing requeued


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "kustomize")


@dataclass
class Requests:
    """What a run asked for next: cluster applies (reconcile) and cluster retries (run)."""

    applies: list[str] = dataclasses.field(default_factory=list)
    retries: list[tuple[str, float]] = dataclasses.field(default_factory=list)

    def apply(self, key: ObjectKey, cluster: str) -> None:
        self.applies.append(cluster)

    def retry(self, key: ObjectKey, cluster: str, delay: float) -> None:
        self.retries.append((cluster, delay))


def _cluster(ctx: WorkerContext, name: str, kubeconfig: str) -> None:
    register_cluster(ctx.store, name, kubeconfig, namespace=NS)


def _unreachable(cluster: ClusterInfo) -> str:
    return unreachable_kubeconfig(cluster.kubeconfig)


def _kustomization(ctx: WorkerContext, name: str, **spec: Any) -> ObjectKey:
    doc = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "interval": "10m",
            "retryInterval": "1m",
            "path": "./",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            **spec,
        },
    }
    ctx.store.apply(doc)
    key = ObjectKey("Kustomization", NS, name)
    ctx.client.zadd(DUE, {str(key): FAR})  # as the scheduler tracks every object
    return key


def _desire(
    ctx: WorkerContext, key: ObjectKey, objects: list[dict[str, Any]], *targets: str
) -> Desired:
    """The desired build a reconcile would record, for testing the per-cluster run alone."""
    state = FleetState(ctx.client, service="kustomize", cipher=ctx.store.cipher)
    build_key = content_key(objects)
    state.put_build(build_key, objects)
    doc = ctx.store.get(key)
    assert doc is not None
    spec = doc["spec"]
    health = bool(spec.get("wait") or spec.get("healthChecks"))
    desired = Desired("main@sha1:1111", build_key, targets, 1, prune=True, health=health)
    state.set_desired(key, desired)
    return desired


def _condition(ctx: WorkerContext, key: ObjectKey, type_: str) -> tuple[str, str] | None:
    doc = ctx.store.get(key)
    cond = get_condition((doc or {}).get("status"), type_)
    return (cond["status"], cond["reason"]) if cond else None


def _cluster_entry(ctx: WorkerContext, key: ObjectKey, cluster: str) -> dict[str, Any]:
    doc = ctx.store.get(key)
    assert doc is not None
    (entry,) = [c for c in doc["status"]["clusters"] if c["name"] == cluster]
    return dict(entry)


def _configmap(namespace: str, name: str, **data: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


# -- Waiting, Stalled -------------------------------------------------------------


def test_a_missing_source_is_waiting_with_an_info_event_and_a_fixed_delay(
    ctx: WorkerContext,
) -> None:
    key = _kustomization(ctx, "apps")
    requests = Requests()
    before = time.time()
    reconcile_kustomization(ctx, key, requests.apply)
    assert _condition(ctx, key, "Ready") == ("False", "ArtifactFailed")
    assert _condition(ctx, key, "Reconciling") == ("True", "ProgressingWithRetry")
    assert _condition(ctx, key, "Stalled") is None
    (event,) = [e for _, e in ctx.events.read() if e.object == key]
    assert (event.reason, event.severity) == ("ArtifactFailed", "info")
    due = due_at(ctx.client, key)
    wait = ctx.settings.requeue_dependency
    assert due is not None and before + wait <= due <= time.time() + wait
    assert requests.applies == []


def test_a_spec_no_retry_can_fix_stalls_and_is_not_requeued_until_it_changes(
    ctx: WorkerContext,
) -> None:
    key = _kustomization(ctx, "apps", kubeConfig={"configMapRef": {"name": "cloud"}})
    reconcile_kustomization(ctx, key, Requests().apply)
    assert _condition(ctx, key, "Stalled") == ("True", "ReconciliationFailed")
    assert _condition(ctx, key, "Ready") == ("False", "ReconciliationFailed")
    assert _condition(ctx, key, "Reconciling") is None
    doc = ctx.store.get(key)
    assert doc is not None and doc["status"]["observedGeneration"] == 1
    assert due_at(ctx.client, key) == FAR
    (event,) = [e for _, e in ctx.events.read() if e.object == key]
    assert event.severity == "error"
    # The interval fires again at the same generation: nothing runs, nothing is said.
    reconcile_kustomization(ctx, key, Requests().apply)
    assert len([e for _, e in ctx.events.read() if e.object == key]) == 1


# -- Transient: an act step that raises ------------------------------------------


def _raiser(error: Exception) -> Callable[[ClusterRun], Any]:
    def act(run: ClusterRun) -> Any:
        raise error

    return act


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("a bug"), "RuntimeError: a bug"),
        (OSError(28, "No space left on device"), "No space left on device"),
        (SoftTimeLimitExceeded(), "the task's time limit"),
    ],
)
def test_an_unexpected_exception_in_the_act_step_is_recorded_and_retried_with_backoff(
    ctx: WorkerContext, sandbox_cluster: ClusterInfo, error: Exception, message: str
) -> None:
    _cluster(ctx, "default", sandbox_cluster.kubeconfig.read_text())
    key = _kustomization(ctx, "apps")
    _desire(ctx, key, [_configmap("default", "never-applied", a="1")], "default")
    service = dataclasses.replace(KUSTOMIZE, act=_raiser(error))
    requests = Requests()
    run_on_cluster(ctx, key, cluster="default", service=service, retry=requests.retry)
    run_on_cluster(ctx, key, cluster="default", service=service, retry=requests.retry)
    entry = _cluster_entry(ctx, key, "default")
    ready = entry["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == (
        "Ready",
        "False",
        "ReconciliationFailed",
    )
    assert message in ready["message"]
    assert _condition(ctx, key, "Ready") == ("False", "ReconciliationFailed")
    assert requests.retries == [("default", MIN_DELAY), ("default", 2 * MIN_DELAY)]
    assert due_at(ctx.client, key) == FAR


# -- A failing cluster retries alone ---------------------------------------------


def test_a_failing_cluster_retries_alone_and_the_healthy_one_is_left_be(
    ctx: WorkerContext, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    _cluster(ctx, "good", sandbox_cluster.kubeconfig.read_text())
    _cluster(ctx, "bad", _unreachable(sandbox_cluster))
    key = _kustomization(ctx, "apps", clusters=["good", "bad"])
    _desire(ctx, key, [_configmap(namespace, "settings", a="1")], "good", "bad")
    requests = Requests()
    for cluster in ("good", "bad"):
        run_on_cluster(ctx, key, cluster=cluster, service=KUSTOMIZE, retry=requests.retry)
    good = _cluster_entry(ctx, key, "good")
    assert good["conditions"][0]["status"] == "True"
    bad = _cluster_entry(ctx, key, "bad")["conditions"][0]
    assert (bad["status"], bad["reason"]) == ("False", "ReconciliationFailed")
    doc = ctx.store.get(key)
    assert doc is not None
    ready = get_condition(doc["status"], "Ready")
    assert ready is not None and ready["message"].startswith("1/2 clusters ready; bad: ")
    # Only the failing cluster is asked again; the Kustomization is not requeued,
    # which would re-apply (dry-run) the healthy cluster at every retry.
    assert [cluster for cluster, _ in requests.retries] == ["bad"]
    assert due_at(ctx.client, key) == FAR
    run_on_cluster(ctx, key, cluster="bad", service=KUSTOMIZE, retry=requests.retry)
    assert [cluster for cluster, _ in requests.retries] == ["bad", "bad"]
    assert requests.retries[1][1] == 2 * requests.retries[0][1]
    assert _cluster_entry(ctx, key, "good") == good


# -- Health: Healthy as kustomize-controller sets it; the wait bounded by the task ----


def test_a_passed_health_check_sets_healthy_true(
    ctx: WorkerContext, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    _cluster(ctx, "default", sandbox_cluster.kubeconfig.read_text())
    key = _kustomization(ctx, "apps", wait=True)
    _desire(ctx, key, [_configmap(namespace, "settings", a="1")], "default")
    run_on_cluster(ctx, key, cluster="default", service=KUSTOMIZE, retry=Requests().retry)
    assert _condition(ctx, key, "Ready") == ("True", "ReconciliationSucceeded")
    assert _condition(ctx, key, "Healthy") == ("True", "Succeeded")
    doc = ctx.store.get(key)
    assert doc is not None
    assert get_condition(doc["status"], "Healthy")["message"] == "Health check passed"  # type: ignore[index]


def test_without_health_checks_there_is_no_healthy_condition(
    ctx: WorkerContext, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    _cluster(ctx, "default", sandbox_cluster.kubeconfig.read_text())
    key = _kustomization(ctx, "apps")
    _desire(ctx, key, [_configmap(namespace, "settings", a="1")], "default")
    run_on_cluster(ctx, key, cluster="default", service=KUSTOMIZE, retry=Requests().retry)
    assert _condition(ctx, key, "Ready") == ("True", "ReconciliationSucceeded")
    assert _condition(ctx, key, "Healthy") is None


def test_a_long_spec_timeout_is_bounded_by_the_task_limit_and_ends_recorded(
    ctx: WorkerContext, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    # The test settings' visibility timeout (10 s) caps the task at 8 s, soft 7.2 s.
    _cluster(ctx, "default", sandbox_cluster.kubeconfig.read_text())
    missing = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "nowhere",
        "namespace": namespace,
    }
    key = _kustomization(ctx, "apps", timeout="10m", healthChecks=[missing])
    _desire(ctx, key, [_configmap(namespace, "settings", a="1")], "default")
    requests = Requests()
    started = time.monotonic()
    run_on_cluster(ctx, key, cluster="default", service=KUSTOMIZE, retry=requests.retry)
    assert time.monotonic() - started < 30
    assert _condition(ctx, key, "Ready") == ("False", "HealthCheckFailed")
    assert _condition(ctx, key, "Healthy") == ("False", "HealthCheckFailed")
    assert _condition(ctx, key, "Reconciling") == ("True", "ProgressingWithRetry")
    assert [cluster for cluster, _ in requests.retries] == ["default"]


# -- The source's artifact is read once ----------------------------------------------


def _tarball(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _cm_yaml(value: str) -> str:
    return yaml.safe_dump(_configmap("default", "cm", v=value))


@dataclass(frozen=True)
class _Artifact:
    revision: str
    body: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()

    def status(self, url: str) -> dict[str, Any]:
        return {"artifact": {"revision": self.revision, "url": url, "digest": self.digest}}


def _source(ctx: WorkerContext, artifact: _Artifact, url: str) -> ObjectKey:
    """The GitRepository ``repo`` with ``artifact`` served at ``url`` as its artifact."""
    repo = ObjectKey("GitRepository", NS, "repo")
    ctx.store.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": NS},
            "spec": {"interval": "1m", "url": "https://example.invalid/repo.git"},
        }
    )
    ctx.store.update_status(repo, artifact.status(url))
    return repo


@pytest.fixture
def artifact_server() -> Iterator[tuple[str, dict[str, Callable[[], bytes]]]]:
    """An HTTP server whose routes are functions run at each GET."""
    routes: dict[str, Callable[[], bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes[self.path]()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()
    server.server_close()


def test_a_commit_landing_during_the_build_never_records_its_revision_for_the_old_content(
    ctx: WorkerContext, artifact_server: tuple[str, dict[str, Callable[[], bytes]]]
) -> None:
    base, routes = artifact_server
    old = _Artifact("main@sha1:" + "a" * 40, _tarball({"cm.yaml": _cm_yaml("old")}))
    new = _Artifact("main@sha1:" + "b" * 40, _tarball({"cm.yaml": _cm_yaml("new")}))
    repo = _source(ctx, old, f"{base}/old.tar.gz")

    def serve_old_while_a_commit_lands() -> bytes:
        ctx.store.update_status(repo, new.status(f"{base}/new.tar.gz"))
        return old.body

    routes["/old.tar.gz"] = serve_old_while_a_commit_lands
    routes["/new.tar.gz"] = lambda: new.body
    key = _kustomization(ctx, "apps")
    requests = Requests()
    reconcile_kustomization(ctx, key, requests.apply)
    state = FleetState(ctx.client, service="kustomize", cipher=ctx.store.cipher)
    desired = state.desired(key)
    assert desired is not None
    built = state.build(desired.build_key)
    assert built is not None and built[0]["data"] == {"v": "old"}
    assert desired.revision == old.revision
    doc = ctx.store.get(key)
    assert doc is not None and doc["status"]["lastAttemptedRevision"] == old.revision
    assert requests.applies == ["default"]


# -- The dependents index ------------------------------------------------------------


def test_the_dependents_index_follows_create_update_and_delete(ctx: WorkerContext) -> None:
    index = DependentsIndex(ctx.client)
    repo = ObjectKey("GitRepository", NS, "repo")
    other = ObjectKey("GitRepository", NS, "other")
    infra = ObjectKey("Kustomization", NS, "infra")
    key = _kustomization(ctx, "apps")
    reconcile_kustomization(ctx, key, Requests().apply)
    assert index.dependents(repo) == [key]
    ctx.store.apply(
        {
            **(ctx.store.get(key) or {}),
            "spec": {
                **(ctx.store.get(key) or {})["spec"],
                "sourceRef": {"kind": "GitRepository", "name": "other"},
                "dependsOn": [{"name": "infra"}],
            },
        }
    )
    reconcile_kustomization(ctx, key, Requests().apply)
    assert index.dependents(repo) == []
    assert index.dependents(other) == [key]
    assert index.dependents(infra) == [key]
    ctx.store.delete(key)
    reconcile_kustomization(ctx, key, Requests().apply)
    assert index.dependents(other) == [] and index.dependents(infra) == []


def test_an_unexpected_error_in_the_reconcile_ends_as_reconciliation_failed_with_a_backoff(
    ctx: WorkerContext,
    artifact_server: tuple[str, dict[str, Callable[[], bytes]]],
    tmp_path: Path,
) -> None:
    base, routes = artifact_server
    artifact = _Artifact("main@sha1:" + "c" * 40, _tarball({"cm.yaml": _cm_yaml("v")}))
    routes["/a.tar.gz"] = lambda: artifact.body
    ctx.store.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": NS},
            "spec": {"interval": "1m", "url": "https://example.invalid/repo.git"},
        }
    )
    ctx.store.update_status(
        ObjectKey("GitRepository", NS, "repo"), artifact.status(f"{base}/a.tar.gz")
    )
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    # The artifact cache cannot be made under a file: an OSError no step expects.
    broken = dataclasses.replace(
        ctx, settings=ctx.settings.with_overrides(cache_dir=blocker / "cache")
    )
    key = _kustomization(ctx, "apps")
    requests = Requests()
    before = time.time()
    reconcile_kustomization(broken, key, requests.apply)
    assert _condition(ctx, key, "Ready") == ("False", "ReconciliationFailed")
    assert _condition(ctx, key, "Reconciling") == ("True", "ProgressingWithRetry")
    (event,) = [e for _, e in ctx.events.read() if e.object == key]
    assert event.severity == "error" and "NotADirectoryError" in event.message
    due = due_at(ctx.client, key)
    assert due is not None and before + MIN_DELAY <= due <= time.time() + MIN_DELAY
    assert requests.applies == []


def test_kustomizations_stored_before_the_index_existed_are_indexed_at_worker_start(
    ctx: WorkerContext,
) -> None:
    key = _kustomization(ctx, "apps", dependsOn=[{"name": "infra"}])
    index = DependentsIndex(ctx.client)
    assert index.dependents(ObjectKey("GitRepository", NS, "repo")) == []
    index_all(ctx)
    assert index.dependents(ObjectKey("GitRepository", NS, "repo")) == [key]
    assert index.dependents(ObjectKey("Kustomization", NS, "infra")) == [key]


# -- Multi-tenancy lockdown ------------------------------------------------------


def _locked(ctx: WorkerContext, **changes: Any) -> WorkerContext:
    return dataclasses.replace(ctx, settings=ctx.settings.with_overrides(**changes))


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            {"sourceRef": {"kind": "GitRepository", "name": "repo", "namespace": "other"}},
            "spec.sourceRef",
        ),
        ({"dependsOn": [{"name": "infra", "namespace": "other"}]}, "spec.dependsOn[0]"),
    ],
)
def test_a_cross_namespace_reference_is_access_denied_under_lockdown(
    ctx: WorkerContext, spec: dict[str, Any], field: str
) -> None:
    key = _kustomization(ctx, "tenant", **spec)
    reconcile_kustomization(_locked(ctx, no_cross_namespace_refs=True), key, Requests().apply)
    assert _condition(ctx, key, "Stalled") == ("True", "AccessDenied")
    doc = ctx.store.get(key)
    assert doc is not None
    message = get_condition(doc["status"], "Ready")["message"]  # type: ignore[index]
    assert message.startswith(f"{field}: cannot access ") and "'other/" in message
    # Without the lockdown the same reference is followed (and only waits for it).
    ctx.store.apply({**doc, "spec": {**doc["spec"], "interval": "11m"}})
    reconcile_kustomization(ctx, key, Requests().apply)
    assert _condition(ctx, key, "Stalled") is None


def _cluster_admin_binding(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": NS}],
    }


def test_a_tenant_build_granting_cluster_admin_is_refused_under_the_default_service_account(
    ctx: WorkerContext, sandbox_cluster: ClusterInfo
) -> None:
    name = f"tenant-escalation-{time.time_ns()}"
    _cluster(ctx, "default", sandbox_cluster.kubeconfig.read_text())
    key = _kustomization(ctx, "tenant")
    _desire(ctx, key, [_cluster_admin_binding(name)], "default")
    locked = _locked(ctx, default_service_account="tenant")
    run_on_cluster(locked, key, cluster="default", service=KUSTOMIZE, retry=Requests().retry)
    ready = _cluster_entry(ctx, key, "default")["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "ReconciliationFailed")
    assert f"ClusterRoleBinding/{name}" in ready["message"]
    assert "system:serviceaccount:flux-system:tenant" in ready["message"]
    assert "forbidden" in ready["message"]
    rbac = k8s.RbacAuthorizationV1Api(api_client(sandbox_cluster.kubeconfig))
    with pytest.raises(k8s.ApiException) as missing:
        rbac.read_cluster_role_binding(name)
    assert missing.value.status == 404
    # The same build without the lockdown is applied with the kubeconfig's own rights.
    run_on_cluster(ctx, key, cluster="default", service=KUSTOMIZE, retry=Requests().retry)
    assert _cluster_entry(ctx, key, "default")["conditions"][0]["status"] == "True"
    assert rbac.read_cluster_role_binding(name).role_ref.name == "cluster-admin"
    rbac.delete_cluster_role_binding(name)


def test_the_build_runs_under_the_kustomizations_own_timeout(
    ctx: WorkerContext, artifact_server: tuple[str, dict[str, Callable[[], bytes]]]
) -> None:
    base, routes = artifact_server
    artifact = _Artifact("main@sha1:" + "c" * 40, _tarball({"cm.yaml": _cm_yaml("v")}))
    _source(ctx, artifact, f"{base}/a.tar.gz")
    routes["/a.tar.gz"] = lambda: artifact.body
    # Far below what starting kustomize takes: the build stops at this timeout, not 120 s.
    key = _kustomization(ctx, "apps", timeout="1ms")
    reconcile_kustomization(ctx, key, Requests().apply)
    assert _condition(ctx, key, "Ready") == ("False", "BuildFailed")
    doc = ctx.store.get(key)
    assert doc is not None
    message = get_condition(doc["status"], "Ready")["message"]  # type: ignore[index]
    assert "kustomize was stopped: it exceeded its time limit (0.001 s)" in message
