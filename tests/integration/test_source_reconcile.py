"""A GitRepository's reconcile in-process, against real Git repositories and Redis.

Each failure kind ends in exact conditions (type, status, reason) and its own
requeue: Stalled (a ref that cannot exist) none, Transient (an unreachable
repository, an unexpected error) a backoff; success writes one status.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.source.git.gitrepository import GIT_REPOSITORY
from services.source.reconcile import reconcile_source
from shared.backoff import MIN_DELAY
from shared.keys import ObjectKey
from shared.scheduler import DUE, due_at
from shared.settings import Settings
from shared.worker import WorkerContext
from tests.fixtures.workers import worker_context
from tests.servers.git import BareRepo

NS = "flux-system"
FAR = 4_000_000_000.0


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "source")


def _repository(ctx: WorkerContext, url: str, **ref: str) -> ObjectKey:
    spec = {"interval": "5m", "url": url, "ref": ref or {"branch": "main"}}
    ctx.store.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": NS},
            "spec": spec,
        }
    )
    key = ObjectKey("GitRepository", NS, "repo")
    ctx.client.zadd(DUE, {str(key): FAR})  # as the scheduler tracks every object
    return key


def _conditions(ctx: WorkerContext, key: ObjectKey) -> dict[str, tuple[str, str]]:
    doc = ctx.store.get(key)
    assert doc is not None
    return {c["type"]: (c["status"], c["reason"]) for c in doc["status"].get("conditions", [])}


def test_a_fetched_commit_is_stored_and_ready(ctx: WorkerContext, git_repo: BareRepo) -> None:
    git_repo.commit({"app/cm.yaml": "kind: ConfigMap\n"})
    key = _repository(ctx, git_repo.url)
    reconcile_source(ctx, key, GIT_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["Ready"] == ("True", "Succeeded")
    assert conditions["ArtifactInStorage"] == ("True", "Succeeded")
    assert "Stalled" not in conditions and "Reconciling" not in conditions
    assert [e.type for _, e in ctx.events.read()] == ["revision-changed", "artifact-ready"]
    assert due_at(ctx.client, key) == FAR


def test_an_unreachable_repository_is_transient_and_backs_off(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    key = _repository(ctx, (tmp_path / "missing.git").as_uri())
    for attempt in (1, 2):
        before = time.time()
        reconcile_source(ctx, key, GIT_REPOSITORY)
        conditions = _conditions(ctx, key)
        assert conditions["FetchFailed"][0] == "True"
        assert conditions["Ready"][0] == "False"
        assert conditions["Reconciling"] == ("True", "ProgressingWithRetry")
        assert "Stalled" not in conditions
        due = due_at(ctx.client, key)
        delay = MIN_DELAY * 2 ** (attempt - 1)
        assert due is not None and before + delay <= due <= time.time() + delay
    assert {e.severity for _, e in ctx.events.read()} == {"error"}


def test_a_ref_that_cannot_exist_stalls_and_is_not_requeued(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    git_repo.commit({"a": "1"})
    key = _repository(ctx, git_repo.url, semver="not a range")
    reconcile_source(ctx, key, GIT_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["Stalled"][0] == "True"
    assert conditions["Ready"][0] == "False"
    assert conditions["Stalled"][1] == conditions["Ready"][1]
    assert "Reconciling" not in conditions
    assert due_at(ctx.client, key) == FAR
    # Nothing runs again at the same generation.
    reconcile_source(ctx, key, GIT_REPOSITORY)
    assert len(ctx.events.read()) == 1


def test_an_unexpected_error_ends_as_reconciliation_failed_with_a_backoff(
    ctx: WorkerContext, git_repo: BareRepo, tmp_path: Path
) -> None:
    git_repo.commit({"a": "1"})
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    # The Git cache cannot be created under a file: an OSError no step expects.
    broken = WorkerContext(
        settings=ctx.settings.with_overrides(cache_dir=blocker / "cache"),
        client=ctx.client,
        store=ctx.store,
        events=ctx.events,
    )
    key = _repository(broken, git_repo.url)
    before = time.time()
    reconcile_source(broken, key, GIT_REPOSITORY)
    conditions = _conditions(ctx, key)
    assert conditions["Ready"] == ("False", "ReconciliationFailed")
    assert conditions["Reconciling"] == ("True", "ProgressingWithRetry")
    due = due_at(ctx.client, key)
    assert due is not None and before + MIN_DELAY <= due <= time.time() + MIN_DELAY


def test_a_stored_object_that_no_longer_validates_stalls_without_showing_the_secret(
    ctx: WorkerContext,
) -> None:
    # Stored before sluice apply refused credentials in URLs: the store takes it as it is.
    key = _repository(ctx, "https://bot:hunter2@git.example.com/fleet.git")
    reconcile_source(ctx, key, GIT_REPOSITORY)
    assert _conditions(ctx, key)["Stalled"] == ("True", "ReconciliationFailed")
    doc = ctx.store.get(key)
    assert doc is not None
    (ready,) = [c for c in doc["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["message"].startswith("the stored object is not valid any more: spec.url: ")
    assert "hunter2" not in str(doc["status"])
    (event,) = [e for _, e in ctx.events.read() if e.object == key]
    assert "hunter2" not in event.message and event.severity == "error"
    assert due_at(ctx.client, key) == FAR
    # The interval fires again at the same generation: nothing runs, nothing is said.
    reconcile_source(ctx, key, GIT_REPOSITORY)
    assert len([e for _, e in ctx.events.read() if e.object == key]) == 1
