"""The toolkit objects a Kustomization's build stores: one owner each, and all or nothing.

In-process against a real Redis, a real apiserver and the real kustomize: a
reconcile builds a revision served by a local HTTP server, and each target
cluster's run (``run_on_cluster``) applies it, as the workers would.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from services.kustomize.cluster import KUSTOMIZE
from services.kustomize.reconcile import reconcile_kustomization
from shared.api.conditions import get_condition
from shared.fleet.run import run_on_cluster
from shared.keys import ObjectKey
from shared.sandbox import ClusterInfo
from shared.settings import Settings
from shared.store import owner_of
from shared.worker import WorkerContext
from tests.fixtures.cluster import api_client
from tests.fixtures.workers import worker_context
from tests.kube import register_cluster, unreachable_kubeconfig

pytestmark = pytest.mark.cluster

NS = "flux-system"


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "kustomize")


class Artifacts:
    """Revisions of one source, served over HTTP as tarballs; ``commit`` makes a new one."""

    def __init__(self, ctx: WorkerContext, base: str, bodies: dict[str, bytes]) -> None:
        self._ctx = ctx
        self._base = base
        self._bodies = bodies
        self._count = 0
        ctx.store.apply(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": "fleet", "namespace": NS},
                "spec": {"interval": "1m", "url": "https://example.invalid/fleet.git"},
            }
        )

    def commit(self, files: dict[str, list[dict[str, Any]]]) -> str:
        """Serve ``files`` (path -> documents) as the source's newest artifact."""
        self._count += 1
        revision = f"main@sha1:{self._count:040x}"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, docs in files.items():
                data = yaml.safe_dump_all(docs).encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        body = buffer.getvalue()
        path = f"/{self._count}.tar.gz"
        self._bodies[path] = body
        artifact = {
            "revision": revision,
            "url": f"{self._base}{path}",
            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
        }
        self._ctx.store.update_status(
            ObjectKey("GitRepository", NS, "fleet"), {"artifact": artifact}
        )
        return revision


@pytest.fixture
def artifacts(ctx: WorkerContext) -> Iterator[Artifacts]:
    bodies: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Artifacts(ctx, f"http://127.0.0.1:{server.server_address[1]}", bodies)
    server.shutdown()
    server.server_close()


def _kustomization(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "interval": "10m",
            "path": path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            **spec,
        },
    }


def _git_repository(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"interval": "5m", "url": url},
    }


def _configmap(namespace: str, name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "1"}}


def _store_kustomization(ctx: WorkerContext, name: str, path: str, **spec: Any) -> ObjectKey:
    ctx.store.apply(_kustomization(name, path, **spec))
    return ObjectKey("Kustomization", NS, name)


def _cluster(ctx: WorkerContext, name: str, kubeconfig: str) -> None:
    register_cluster(ctx.store, name, kubeconfig, namespace=NS)


def _unreachable(cluster: ClusterInfo) -> str:
    return unreachable_kubeconfig(cluster.kubeconfig)


def _ready(ctx: WorkerContext, key: ObjectKey) -> tuple[str, str, str]:
    doc = ctx.store.get(key)
    cond = get_condition((doc or {}).get("status"), "Ready") or {}
    return cond.get("status", ""), cond.get("reason", ""), cond.get("message", "")


def _reconcile(ctx: WorkerContext, key: ObjectKey) -> list[str]:
    """Reconcile ``key`` and run it on every cluster it asks for; the clusters asked."""
    asked: list[str] = []
    reconcile_kustomization(ctx, key, lambda _key, cluster: asked.append(cluster))
    for cluster in asked:
        run_on_cluster(ctx, key, cluster=cluster, service=KUSTOMIZE, retry=lambda *_: None)
    return asked


# -- Conflicts are errors --------------------------------------------------------------


def test_a_second_kustomization_producing_the_same_toolkit_objects_fails_naming_the_owner(
    ctx: WorkerContext, artifacts: Artifacts
) -> None:
    artifacts.commit(
        {
            "staging/sync.yaml": [
                _git_repository("podinfo", "https://example.invalid/staging.git"),
                _kustomization("apps", "./apps/staging"),
            ],
            "production/sync.yaml": [
                _git_repository("podinfo", "https://example.invalid/production.git"),
                _kustomization("apps", "./apps/production"),
            ],
        }
    )
    staging = _store_kustomization(ctx, "staging", "./staging")
    production = _store_kustomization(ctx, "production", "./production")
    apps = ObjectKey("Kustomization", NS, "apps")
    podinfo = ObjectKey("GitRepository", NS, "podinfo")

    _reconcile(ctx, staging)  # toolkit objects only: stored with no cluster to wait for
    stored = {key: ctx.store.get(key) for key in (apps, podinfo)}
    assert stored[apps] is not None and stored[apps]["spec"]["path"] == "./apps/staging"
    assert owner_of(stored[podinfo]) == staging

    asked = _reconcile(ctx, production)
    status, reason, message = _ready(ctx, production)
    assert (status, reason) == ("False", "ReconciliationFailed")
    assert "is managed by Kustomization/flux-system/staging" in message
    assert message.startswith(
        ("GitRepository/flux-system/podinfo", "Kustomization/flux-system/apps")
    )
    # Nothing moved: the first owner keeps both, unchanged; no cluster was asked to apply.
    assert {key: ctx.store.get(key) for key in (apps, podinfo)} == stored
    assert ctx.store.list_owned(staging) == sorted([apps, podinfo])
    assert ctx.store.list_owned(production) == []
    assert asked == []


# -- All or nothing across store and cluster --------------------------------------------


def test_a_parent_whose_dry_run_is_refused_stores_none_of_its_children_until_fixed(
    ctx: WorkerContext, artifacts: Artifacts, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    _cluster(ctx, "default", sandbox_cluster.kubeconfig.read_text())
    parent = _store_kustomization(ctx, "infra", "./infra")
    child = ObjectKey("Kustomization", NS, "apps")
    invalid = _configmap(namespace, "Not_A_Valid_Name")
    artifacts.commit({"infra/all.yaml": [invalid, _kustomization("apps", "./apps/one")]})

    assert _reconcile(ctx, parent) == ["default"]
    status, reason, message = _ready(ctx, parent)
    assert (status, reason) == ("False", "ReconciliationFailed")
    assert "Not_A_Valid_Name" in message
    assert ctx.store.get(child) is None
    assert ctx.store.list_owned(parent) == []

    # The fix: the child is stored with the ConfigMap applied.
    fixed = artifacts.commit(
        {
            "infra/all.yaml": [
                _configmap(namespace, "settings"),
                _kustomization("apps", "./apps/one"),
            ]
        }
    )
    _reconcile(ctx, parent)
    assert _ready(ctx, parent)[:2] == ("True", "ReconciliationSucceeded")
    stored = ctx.store.get(child)
    assert stored is not None and stored["spec"]["path"] == "./apps/one"
    assert owner_of(stored) == parent
    core = k8s.CoreV1Api(api_client(sandbox_cluster.kubeconfig))
    assert core.read_namespaced_config_map("settings", namespace).data == {"a": "1"}

    # A later refused revision leaves the child as the last good one stored it.
    artifacts.commit({"infra/all.yaml": [invalid, _kustomization("apps", "./apps/two")]})
    _reconcile(ctx, parent)
    assert _ready(ctx, parent)[1] == "ReconciliationFailed"
    assert ctx.store.get(child) == stored
    doc = ctx.store.get(parent)
    assert doc is not None and doc["status"]["lastAppliedRevision"] == fixed


def test_with_two_target_clusters_the_children_wait_until_both_applied_the_revision(
    ctx: WorkerContext, artifacts: Artifacts, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    _cluster(ctx, "good", sandbox_cluster.kubeconfig.read_text())
    _cluster(ctx, "late", _unreachable(sandbox_cluster))
    parent = _store_kustomization(ctx, "infra", "./infra", clusters=["good", "late"])
    child = ObjectKey("Kustomization", NS, "apps")
    artifacts.commit(
        {"infra/all.yaml": [_configmap(namespace, "settings"), _kustomization("apps", "./apps")]}
    )

    assert sorted(_reconcile(ctx, parent)) == ["good", "late"]
    assert ctx.store.get(child) is None  # "late" has not applied it

    _cluster(ctx, "late", sandbox_cluster.kubeconfig.read_text())  # it answers now
    run_on_cluster(ctx, parent, cluster="late", service=KUSTOMIZE, retry=lambda *_: None)
    assert _ready(ctx, parent)[:2] == ("True", "ReconciliationSucceeded")
    stored = ctx.store.get(child)
    assert stored is not None and owner_of(stored) == parent


def test_toolkit_objects_the_store_would_refuse_fail_the_build_before_any_cluster_applies(
    ctx: WorkerContext, artifacts: Artifacts
) -> None:
    # One over the store's limit for one apply (1,000 objects), beside a cluster object.
    repos = [_git_repository(f"r{i}", "https://example.invalid/r.git") for i in range(1001)]
    artifacts.commit({"infra/all.yaml": [_configmap("default", "settings"), *repos]})
    parent = _store_kustomization(ctx, "infra", "./infra")
    assert _reconcile(ctx, parent) == []
    status, reason, message = _ready(ctx, parent)
    assert (status, reason) == ("False", "BuildFailed")
    assert "1,001 objects in one apply" in message
    assert ctx.store.list("GitRepository", NS) == [
        ctx.store.get(ObjectKey("GitRepository", NS, "fleet"))
    ]


def test_a_child_moved_to_another_parent_in_git_is_handed_over_as_it_is(
    ctx: WorkerContext, artifacts: Artifacts, sandbox_cluster: ClusterInfo, namespace: str
) -> None:
    _cluster(ctx, "default", sandbox_cluster.kubeconfig.read_text())
    infra = _store_kustomization(ctx, "infra", "./infra")
    platform = _store_kustomization(ctx, "platform", "./platform")
    child = ObjectKey("Kustomization", NS, "apps")
    other = _git_repository("other", "https://example.invalid/other.git")
    artifacts.commit(
        {
            "infra/all.yaml": [_configmap(namespace, "infra"), _kustomization("apps", "./apps")],
            "platform/all.yaml": [other],
        }
    )
    _reconcile(ctx, infra)
    _reconcile(ctx, platform)
    before = ctx.store.get(child)
    assert before is not None and owner_of(before) == infra

    # The commit moves "apps" from infra's folder to platform's.
    artifacts.commit(
        {
            "infra/all.yaml": [_configmap(namespace, "infra")],
            "platform/all.yaml": [other, _kustomization("apps", "./apps")],
        }
    )
    asked: list[str] = []
    reconcile_kustomization(ctx, infra, lambda _key, cluster: asked.append(cluster))
    _reconcile(ctx, platform)  # before infra's cluster has applied its new revision
    for cluster in asked:
        run_on_cluster(ctx, infra, cluster=cluster, service=KUSTOMIZE, retry=lambda *_: None)
    assert _ready(ctx, platform)[1] != "ReconciliationFailed"
    after = ctx.store.get(child)
    assert after is not None and owner_of(after) == platform
    # Handed over, never deleted and created again (which would prune its workloads).
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert ctx.store.list_owned(infra) == []


# -- Every Flux group goes to the store --------------------------------------------------


def _generator(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.extensions.fluxcd.io/v1beta1",
        "kind": "ArtifactGenerator",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": "fleet"}],
            "artifacts": [
                {"name": "apps", "copy": [{"from": "@repo/apps/**", "to": "@artifact/"}]}
            ],
        },
    }


def test_an_artifact_generator_in_a_build_is_stored_never_sent_to_the_cluster(
    ctx: WorkerContext, artifacts: Artifacts
) -> None:
    artifacts.commit({"infra/artifacts.yaml": [_generator("split")]})
    parent = _store_kustomization(ctx, "infra", "./infra")
    _reconcile(ctx, parent)
    stored = ctx.store.get(ObjectKey("ArtifactGenerator", NS, "split"))
    assert stored is not None and owner_of(stored) == parent


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("notification.toolkit.fluxcd.io/v1beta3", "Silence"),
        ("source.extensions.fluxcd.io/v1beta1", "Composer"),
    ],
)
def test_a_flux_kind_sluice_lacks_fails_the_build_naming_kind_and_group(
    ctx: WorkerContext, artifacts: Artifacts, api_version: str, kind: str
) -> None:
    unknown = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": NS}}
    artifacts.commit({"infra/all.yaml": [_configmap("default", "settings"), unknown]})
    parent = _store_kustomization(ctx, "infra", "./infra")
    assert _reconcile(ctx, parent) == []
    status, reason, message = _ready(ctx, parent)
    assert (status, reason) == ("False", "BuildFailed")
    group = api_version.split("/")[0]
    assert f'kind "{kind}" of {group} is not supported by sluice (yet)' in message
