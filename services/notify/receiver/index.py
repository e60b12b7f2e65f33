"""Which Receiver serves a webhook path: an index in Redis, so the server finds it in O(1).

Flux's receiver server lists Receivers through a field index on
``status.webhookPath``; sluice keeps the same index beside the store, written
by the Receiver's reconcile (the only writer of ``webhookPath``)::

    sluice:notify:receiver-paths   HASH  <webhook path> -> <receiver key>
    sluice:notify:receiver-of      HASH  <receiver key> -> <webhook path>

The server still checks the stored Receiver's own ``status.webhookPath``, so an
entry left behind (a crash between the status write and the index write) can
never serve a path the Receiver no longer has.
"""

from __future__ import annotations

import redis

from shared.keys import ObjectKey

__all__ = ["PATHS", "RECEIVERS", "forget_path", "index_path", "receiver_at"]

PATHS = "sluice:notify:receiver-paths"
RECEIVERS = "sluice:notify:receiver-of"


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def receiver_at(client: redis.Redis, path: str) -> ObjectKey | None:
    """The Receiver serving ``path``, or None."""
    found = _text(client.hget(PATHS, path))
    return None if found is None else ObjectKey.parse(found)


def index_path(client: redis.Redis, key: ObjectKey, path: str) -> None:
    """Record that ``key`` serves ``path`` (and no longer its previous path)."""
    previous = _text(client.hget(RECEIVERS, str(key)))
    pipe = client.pipeline(transaction=True)
    if previous and previous != path:
        pipe.hdel(PATHS, previous)
    pipe.hset(PATHS, path, str(key))
    pipe.hset(RECEIVERS, str(key), path)
    pipe.execute()


def forget_path(client: redis.Redis, key: ObjectKey) -> None:
    """``key`` serves no path any more (deleted, or its token is gone)."""
    previous = _text(client.hget(RECEIVERS, str(key)))
    pipe = client.pipeline(transaction=True)
    if previous and _text(client.hget(PATHS, previous)) == str(key):
        pipe.hdel(PATHS, previous)
    pipe.hdel(RECEIVERS, str(key))
    pipe.execute()
