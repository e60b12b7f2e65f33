"""Receivers: their reconcile, and the real ``sluice receiver`` answering webhook calls.

Everything is real: redis-server, the store, the ``sluice receiver`` process on
loopback, HTTP calls signed as GitHub signs them. "Nothing reconciled" is
checked where a user would look: no requestedAt annotation on the object and
no reconcile task queued for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.notify.receiver.index import receiver_at
from services.notify.receiver.reconcile import reconcile_receiver
from services.notify.receiver.webhook import sign
from shared.keys import ObjectKey
from shared.lease import pending_key
from shared.settings import Settings
from shared.worker import WorkerContext
from tests.fixtures.gitops import secret_yaml
from tests.fixtures.workers import worker_context
from tests.leaks import redis_bytes
from tests.receivers import (
    ReceiverProcess,
    github_push,
    receiver_yaml,
    reconciled,
    requested,
    running_receiver,
    store_objects,
)

TOKEN = "receiver-token-5f1c9a"
OTHER_TOKEN = "another-token-77aa"
NS = "flux-system"
APP = ObjectKey("GitRepository", NS, "app")


def git_repository(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"interval": "1h", "url": "https://example.com/app.git", "ref": {"branch": "main"}},
    }


def secret(name: str, token: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(secret_yaml(name, {"token": token}).split("---")[0])
    return doc


def status(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("status") or {}


def ready(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status(doc)["conditions"] if c["type"] == "Ready")


def nothing_requested(ctx: WorkerContext, key: ObjectKey) -> bool:
    pending = ctx.client.exists(pending_key("source.reconcile", key))
    return requested(ctx.store, key) is None and not pending


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings, tmp_path, "notify")


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[ReceiverProcess]:
    with running_receiver(settings, tmp_path / "logs") as running:
        yield running


def make_receiver(ctx: WorkerContext, name: str, **spec: Any) -> str:
    """Store a Receiver (and its Secret, unless ``secret`` is given), reconcile it; its path."""
    token = spec.pop("token", TOKEN)
    secret_name = spec.pop("secret", f"{name}-token")
    docs = [receiver_yaml(name, secret=secret_name, **spec)]
    if token is not None:
        docs.insert(0, secret(secret_name, token))
    store_objects(ctx.store, *docs)
    doc = reconciled(ctx, ObjectKey("Receiver", NS, name))
    return str(status(doc).get("webhookPath", ""))


# -- the reconcile ----------------------------------------------------------------


def test_a_receiver_gets_fluxs_webhook_path_and_is_ready(ctx: WorkerContext) -> None:
    path = make_receiver(ctx, "github")
    expected = hashlib.sha256(f"{TOKEN}github{NS}".encode()).hexdigest()
    assert path == f"/hook/{expected}"
    doc = ctx.store.get(ObjectKey("Receiver", NS, "github"))
    assert doc is not None
    assert ready(doc)["status"] == "True"
    assert ready(doc)["reason"] == "Succeeded"
    assert status(doc)["observedGeneration"] == doc["metadata"]["generation"]


def test_a_missing_token_secret_is_token_not_found_until_it_is_applied(ctx: WorkerContext) -> None:
    key = ObjectKey("Receiver", NS, "late")
    store_objects(ctx.store, receiver_yaml("late", secret="late-token"))
    doc = reconciled(ctx, key)
    assert (ready(doc)["status"], ready(doc)["reason"]) == ("False", "TokenNotFound")
    assert "late-token" in ready(doc)["message"]
    assert "webhookPath" not in status(doc)

    store_objects(ctx.store, secret("late-token", TOKEN))
    doc = reconciled(ctx, key)
    assert ready(doc)["reason"] == "Succeeded"
    assert status(doc)["webhookPath"].startswith("/hook/")


def test_an_invalid_resource_filter_stalls_the_receiver(ctx: WorkerContext) -> None:
    make_receiver(ctx, "filtered", resourceFilter="res.metadata.name ==")
    doc = ctx.store.get(ObjectKey("Receiver", NS, "filtered"))
    assert doc is not None
    stalled = next(c for c in status(doc)["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "InvalidCELExpression"
    assert ready(doc)["status"] == "False"
    assert "invalid resourceFilter expression" in ready(doc)["message"]


def test_a_token_change_moves_the_webhook_path(ctx: WorkerContext, server: ReceiverProcess) -> None:
    store_objects(ctx.store, git_repository("app"))
    old = make_receiver(ctx, "rotating")
    store_objects(ctx.store, secret("rotating-token", OTHER_TOKEN))
    new = str(status(reconciled(ctx, ObjectKey("Receiver", NS, "rotating")))["webhookPath"])
    assert new != old
    body, headers = github_push(OTHER_TOKEN)
    assert server.post(old, body, headers).status_code == 404
    assert server.post(new, body, headers).status_code == 200


# -- the server -------------------------------------------------------------------


def test_a_github_signed_push_requests_a_reconcile_of_the_named_object(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "github", events=["push"])
    body, headers = github_push(TOKEN)
    response = server.post(path, body, headers)
    assert response.status_code == 200, server.output()
    assert requested(ctx.store, APP) is not None
    assert ctx.client.exists(pending_key("source.reconcile", APP))
    log = server.output()
    assert "Receiver flux-system/github" in log
    assert "GitRepository/flux-system/app" in log
    assert TOKEN not in log and path.removeprefix("/hook/") not in log
    # An event on the Receiver, as `sluice events` shows it.
    events = [e for _, e in ctx.events.read() if e.object == ObjectKey("Receiver", NS, "github")]
    assert [(e.type, e.reason) for e in events] == [("webhook-received", "ReconcileRequested")]
    assert "GitRepository/flux-system/app" in events[0].message


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("bad signature", lambda b, h: (b, {**h, "X-Hub-Signature-256": "sha256=" + "0" * 64})),
        ("wrong token", lambda b, h: (b, {**h, "X-Hub-Signature-256": sign(b, "guessed")})),
        (
            "no signature",
            lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Hub-Signature-256"}),
        ),
        ("body changed after signing", lambda b, h: (b.replace(b"main", b"evil"), h)),
        ("event not allowed", lambda b, h: (b, {**h, "X-GitHub-Event": "issues"})),
    ],
)
def test_a_forged_github_call_is_refused_and_reconciles_nothing(
    ctx: WorkerContext, server: ReceiverProcess, why: str, change: Any
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "github", events=["push"])
    body, headers = change(*github_push(TOKEN))
    assert server.post(path, body, headers).status_code == 400, why
    assert nothing_requested(ctx, APP)


def test_a_call_replayed_to_another_receivers_path_is_refused(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"), git_repository("other"))
    make_receiver(ctx, "first")
    second = make_receiver(
        ctx, "second", token=OTHER_TOKEN, resources=[{"kind": "GitRepository", "name": "other"}]
    )
    body, headers = github_push(TOKEN)  # genuine for "first", sent to "second"'s path
    assert server.post(second, body, headers).status_code == 400
    assert nothing_requested(ctx, ObjectKey("GitRepository", NS, "other"))


def test_an_oversized_body_is_refused_before_it_is_read(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "github")
    big = b'{"pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    response = server.post(path, big, {**headers, "X-Hub-Signature-256": sign(big, TOKEN)})
    assert response.status_code == 413
    assert "maximum size" in response.text
    assert nothing_requested(ctx, APP)


def test_an_oversized_streamed_body_is_cut_off_at_the_limit(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "generic", type_="generic")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, as a streaming client sends
        for _ in range(4):
            yield b"x" * (1024 * 1024)

    response = httpx.post(server.url + path, content=chunks(), timeout=30)
    assert response.status_code == 413
    assert nothing_requested(ctx, APP)


def test_a_deleted_receivers_path_is_not_found_and_forgotten(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "gone")
    key = ObjectKey("Receiver", NS, "gone")
    ctx.store.delete(key)
    body, headers = github_push(TOKEN)
    assert server.post(path, body, headers).status_code == 404
    reconcile_receiver(ctx, key)
    assert receiver_at(ctx.client, path) is None
    assert nothing_requested(ctx, APP)


def test_an_unknown_path_is_not_found(server: ReceiverProcess) -> None:
    body, headers = github_push(TOKEN)
    assert server.post("/hook/" + "ab" * 32, body, headers).status_code == 404


def test_a_suspended_or_unready_receiver_answers_unavailable(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "paused")
    doc = receiver_yaml("paused", secret="paused-token", suspend=True)
    store_objects(ctx.store, doc)
    body, headers = github_push(TOKEN)
    assert server.post(path, body, headers).status_code == 503
    assert nothing_requested(ctx, APP)

    # Not Ready: its Secret lost the token; the last path answers 503 until then 404.
    store_objects(ctx.store, receiver_yaml("paused", secret="paused-token"))
    ctx.store.delete(ObjectKey("Secret", NS, "paused-token"))
    assert server.post(path, body, headers).status_code == 400
    reconciled(ctx, ObjectKey("Receiver", NS, "paused"))
    assert server.post(path, body, headers).status_code == 404
    assert nothing_requested(ctx, APP)


def test_a_github_ping_is_answered_without_reconciling(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "github", events=["push"])
    body, headers = github_push(TOKEN, event="ping")
    assert server.post(path, body, headers).status_code == 200
    assert nothing_requested(ctx, APP)


def test_wildcard_with_match_labels_and_a_resource_filter_select_the_right_objects(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(
        ctx.store,
        git_repository("web", team="a"),
        git_repository("api", team="a"),
        git_repository("db", team="b"),
        git_repository("main", team="a"),
    )
    wildcard = {"kind": "GitRepository", "name": "*", "matchLabels": {"team": "a"}}
    # Only objects whose name is the branch pushed to: "main" from "refs/heads/main".
    path = make_receiver(
        ctx,
        "team-a",
        resources=[wildcard],
        resourceFilter="'refs/heads/' + res.metadata.name == req.ref || res.metadata.name == 'web'",
    )
    body, headers = github_push(TOKEN, ref="refs/heads/main")
    assert server.post(path, body, headers).status_code == 200, server.output()
    chosen = {
        name
        for name in ("web", "api", "db", "main")
        if requested(ctx.store, ObjectKey("GitRepository", NS, name))
    }
    assert chosen == {"web", "main"}


def test_a_named_object_that_does_not_exist_is_an_error_after_the_others(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    resources = [
        {"kind": "GitRepository", "name": "missing"},
        {"kind": "GitRepository", "name": "app"},
    ]
    path = make_receiver(ctx, "generic", type_="generic", resources=resources)
    assert server.post(path, b"", {}).status_code == 500
    assert requested(ctx.store, APP) is not None


def test_no_token_in_redis_or_the_receivers_log(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    store_objects(ctx.store, git_repository("app"))
    path = make_receiver(ctx, "github")
    body, headers = github_push(TOKEN)
    assert server.post(path, body, headers).status_code == 200
    forged = {**headers, "X-Hub-Signature-256": sign(body, "nope")}
    assert server.post(path, body, forged).status_code == 400
    assert TOKEN.encode() not in redis_bytes(ctx.client)
    assert TOKEN not in server.output()
    assert path.removeprefix("/hook/") not in server.output()


def test_receivers_in_two_cluster_scopes_get_their_own_paths(
    ctx: WorkerContext, server: ReceiverProcess
) -> None:
    for scope in ("east", "west"):
        store_objects(
            ctx.store,
            secret("scoped-token", TOKEN),
            git_repository("app"),
            receiver_yaml("scoped", secret="scoped-token"),
            scope=scope,
        )
    east = ObjectKey("Receiver", NS, "scoped", "east")
    west = ObjectKey("Receiver", NS, "scoped", "west")
    east_path = status(reconciled(ctx, east))["webhookPath"]
    west_path = status(reconciled(ctx, west))["webhookPath"]
    assert east_path != west_path
    body, headers = github_push(TOKEN)
    assert server.post(east_path, body, headers).status_code == 200
    assert requested(ctx.store, APP.in_scope("east")) is not None
    assert requested(ctx.store, APP.in_scope("west")) is None
