"""React to writes in the store at once, as Flux controllers react to watch events.

A new or changed object (spec, labels or a ``reconcile.fluxcd.io/requestedAt``
annotation) is reconciled now rather than at its next interval; a deleted one
too, so its service can garbage-collect. A change to a kind that others read
(a Cluster, a Secret) re-runs the objects of its namespace whose kinds say so
(``KindFacts.reruns_on``), so a newly matching Cluster gets its workload with
no other change. Status writes are ignored.
The position in the changes feed is kept in Redis, so a restart misses nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import redis

from shared.keys import ObjectKey
from shared.store import Change, Store

__all__ = ["WATCH_POSITION", "Watcher", "keys_to_reconcile"]

WATCH_POSITION = "sluice:watch:position"

log = logging.getLogger(__name__)


def keys_to_reconcile(
    change: Change,
    *,
    reconciled: Callable[[str], bool],
    dependents: Callable[[ObjectKey], Iterable[ObjectKey]],
) -> list[ObjectKey]:
    """The objects to reconcile now because of one change (pure).

    ``dependents(key)``: the objects that a change of ``key`` (a kind that is
    not reconciled, e.g. a Cluster or a Secret) re-runs.
    """
    if change.type == "status":
        return []
    if reconciled(change.key.kind):
        return [change.key]
    return list(dependents(change.key))


class Watcher:
    """Follows the store's changes feed and requests reconciles through ``fire``."""

    def __init__(
        self,
        client: redis.Redis,
        store: Store,
        *,
        reconciled: Callable[[str], bool],
        dependents: Callable[[ObjectKey], Iterable[ObjectKey]],
        fire: Callable[[ObjectKey], None],
    ) -> None:
        self._client = client
        self._store = store
        self._reconciled = reconciled
        self._dependents = dependents
        self._fire = fire

    def poll(self, *, block_ms: int | None = None) -> int:
        """Handle the changes since the stored position; return how many were read."""
        raw = self._client.get(WATCH_POSITION)
        position = raw.decode() if isinstance(raw, bytes) else "$"
        if position == "$":
            # First start: begin at the newest entry, not the whole history.
            position = self._store.newest_change()
            self._client.set(WATCH_POSITION, position)
        changes = self._store.changes(position, count=500, block_ms=block_ms)
        for change in changes:
            for key in keys_to_reconcile(
                change, reconciled=self._reconciled, dependents=self._dependents
            ):
                self._fire(key)
        if changes:
            self._client.set(WATCH_POSITION, changes[-1].id)
        return len(changes)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, riding out Redis restarts."""
        while not stop.is_set():
            try:
                self.poll(block_ms=1000)
            except redis.ConnectionError:
                stop.wait(1.0)
            except Exception:
                log.exception("watching store changes failed; retrying")
                stop.wait(1.0)
