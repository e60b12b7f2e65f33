"""readyExpr and deletionPolicy in a Kustomization's reconcile, in-process against real Redis."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.kustomize.reconcile import reconcile_kustomization
from shared.api.conditions import get_condition
from shared.fleet.state import Desired, FleetState
from shared.keys import ObjectKey
from shared.scheduler import DUE, due_at
from shared.settings import Settings
from shared.worker import WorkerContext
from tests.fixtures.workers import worker_context

NS = "flux-system"
REVISION = "main@sha1:" + "a" * 40
FAR = 4_000_000_000.0  # the scheduler's due time for an object nothing requeued


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "kustomize")


def _source(ctx: WorkerContext) -> None:
    ctx.store.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": NS},
            "spec": {"interval": "1m", "url": "https://example.com/repo.git"},
        }
    )
    artifact = {"revision": REVISION, "url": "http://127.0.0.1:1/a.tgz", "digest": "sha256:00"}
    ctx.store.update_status(ObjectKey("GitRepository", NS, "repo"), {"artifact": artifact})


def _kustomization(ctx: WorkerContext, name: str, **spec: Any) -> ObjectKey:
    ctx.store.apply(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "interval": "10m",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                **spec,
            },
        }
    )
    key = ObjectKey("Kustomization", NS, name)
    ctx.client.zadd(DUE, {str(key): FAR})  # as the scheduler tracks every object
    return key


def _ready(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    doc = ctx.store.get(key)
    cond = get_condition((doc or {}).get("status"), "Ready")
    assert cond is not None
    return cond


def test_a_ready_expr_that_fails_on_the_dependency_waits_and_names_the_expression(
    ctx: WorkerContext,
) -> None:
    _source(ctx)
    _kustomization(ctx, "backend")
    expr = "dep.status.conditions.exists(c, c.type == 'Ready')"
    key = _kustomization(ctx, "frontend", dependsOn=[{"name": "backend", "readyExpr": expr}])
    reconcile_kustomization(ctx, key, lambda k, c: None)
    cond = _ready(ctx, key)
    assert (cond["status"], cond["reason"]) == ("False", "DependencyNotReady")
    # The backend has no status yet: the expression cannot be evaluated; retried, not stalled.
    assert f"'{expr}'" in cond["message"]
    doc = ctx.store.get(key)
    assert doc is not None and get_condition(doc["status"], "Stalled") is None
    due = due_at(ctx.client, key)
    assert due is not None and due < FAR


def test_suspending_records_that_deletion_leaves_the_objects(ctx: WorkerContext) -> None:
    key = _kustomization(ctx, "apps", suspend=True, deletionPolicy="Delete")
    state = FleetState(ctx.client, service="kustomize", cipher=ctx.store.cipher)
    built = Desired(REVISION, "k", ("default",), 1, prune=True, deletion="Delete", timeout=60)
    state.set_desired(key, built)
    reconcile_kustomization(ctx, key, lambda k, c: None)
    assert state.desired(key) == replace(built, deletion="Orphan")
