"""Ask for a reconcile of one object, the way ``sluice reconcile --no-wait`` does.

Twice over, as ``shared/cli/flux.py``: the ``reconcile.fluxcd.io/requestedAt``
annotation in the store (what Flux's receiver patches, what a Flux user looks
for, what the scheduler's watcher sees), then a direct, coalesced request to
the kind's reconcile task (``shared.lease.request_reconcile``), so it runs at
once even with no scheduler.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery

from shared.cli.flux import request_token
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.runtime import reconcile_task
from shared.store import Conflict, Store
from shared.worker import REQUESTED_AT

__all__ = ["RequestFailed", "ask_reconcile"]

_ATTEMPTS = 8


class RequestFailed(Exception):
    """The object could not be annotated (gone, or changing under every attempt)."""


def _annotate(store: Store, key: ObjectKey, token: str) -> None:
    for _ in range(_ATTEMPTS):
        doc: dict[str, Any] | None = store.get(key)
        if doc is None:
            raise RequestFailed(f"{key.kind} '{key.namespace}/{key.name}' not found")
        doc["metadata"].setdefault("annotations", {})[REQUESTED_AT] = token
        try:
            store.update(doc, scope=key.scope)
            return
        except Conflict:
            continue
    raise RequestFailed(f"{key}: kept changing under {_ATTEMPTS} attempts")


def ask_reconcile(store: Store, client: redis.Redis, sender: Celery, key: ObjectKey) -> str:
    """Annotate ``key`` with a fresh requestedAt token and queue its reconcile; the token."""
    token = request_token()
    _annotate(store, key, token)
    task = reconcile_task(key.kind)
    if task is not None:
        request_reconcile(client, sender, key, task_name=task)
    return token
