"""Who uses whom, kept in Redis, so an event reaches the objects it concerns without a scan.

A reconcile records what its object uses (a Kustomization: its source and its
``dependsOn``) before any other step, and a reconcile of a deleted object drops
its edges; an event about an object then wakes exactly its dependents. Keys::

    sluice:dependents:<Kind/ns/name>   set of the keys that use it
    sluice:uses:<Kind/ns/name>         set of the keys it uses (to replace its edges)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import redis

from shared.keys import ObjectKey

__all__ = ["DependentsIndex"]

_DEPENDENTS = "sluice:dependents:"
_USES = "sluice:uses:"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DependentsIndex:
    """The reverse edges from a used object to its users."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def set_uses(self, key: ObjectKey, uses: Iterable[ObjectKey]) -> None:
        """Record that ``key`` uses exactly ``uses`` (its old edges go)."""
        new = {str(u) for u in uses}
        old = {_text(m) for m in cast(set[bytes], self._client.smembers(f"{_USES}{key}"))}
        if new == old:
            return
        pipe = self._client.pipeline(transaction=True)
        for gone in old - new:
            pipe.srem(f"{_DEPENDENTS}{gone}", str(key))
        for added in new - old:
            pipe.sadd(f"{_DEPENDENTS}{added}", str(key))
        pipe.delete(f"{_USES}{key}")
        if new:
            pipe.sadd(f"{_USES}{key}", *sorted(new))
        pipe.execute()

    def drop(self, key: ObjectKey) -> None:
        """Forget every edge of a deleted ``key``."""
        self.set_uses(key, ())

    def dependents(self, used: ObjectKey) -> list[ObjectKey]:
        """The keys that use ``used``, sorted."""
        members = cast(set[bytes], self._client.smembers(f"{_DEPENDENTS}{used}"))
        return sorted(ObjectKey.parse(_text(m)) for m in members)

    def uses(self, key: ObjectKey) -> list[ObjectKey]:
        """The keys ``key`` uses, sorted."""
        members = cast(set[bytes], self._client.smembers(f"{_USES}{key}"))
        return sorted(ObjectKey.parse(_text(m)) for m in members)
