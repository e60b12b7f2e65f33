"""Each Provider's outbox in Redis: notices waiting to be sent, in order, and who is sending them.

One list per Provider, so a dead or slow endpoint holds back only its own
notices. A notice leaves the list only once sent (or given up on), so a
worker killed mid-send loses nothing: the next sender sends it again (at
least once). At most one sender per Provider at a time, through a flag with a
lease (``shared/lease.py``): a sender that died frees it by expiry.
The list is bounded; past the bound the oldest notices are dropped, and
counted, rather than letting one dead endpoint fill Redis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis

from services.notify.notice import InvolvedObject, Notice
from shared.keys import ObjectKey
from shared.lease import Lease

__all__ = ["Outbox", "Queued"]

_PREFIX = "sluice:notify"
MAX_QUEUED = 10_000


@dataclass(frozen=True)
class Queued:
    """One notice waiting in an outbox, with the Alert that sent it and its tries so far."""

    alert: ObjectKey
    notice: Notice
    attempts: int = 0

    def encode(self) -> str:
        obj = self.notice.involved_object
        return json.dumps(
            {
                "alert": str(self.alert),
                "attempts": self.attempts,
                "object": [obj.api_version, obj.kind, obj.name, obj.namespace, obj.uid],
                "notice": self.notice.to_json(),
                "alertObject": dict(self.notice.alert),
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Queued:
        data: dict[str, Any] = json.loads(raw)
        api_version, kind, name, namespace, uid = data["object"]
        payload = data["notice"]
        notice = Notice(
            involved_object=InvolvedObject(api_version, kind, name, namespace, uid),
            severity=payload["severity"],
            timestamp=payload["timestamp"],
            message=payload["message"],
            reason=payload["reason"],
            metadata=payload.get("metadata") or {},
            reporting_controller=payload["reportingController"],
            reporting_instance=payload["reportingInstance"],
            alert=data.get("alertObject") or {},
        )
        return cls(ObjectKey.parse(data["alert"]), notice, int(data["attempts"]))


class Outbox:
    """The outbox of one Provider."""

    def __init__(self, client: redis.Redis, provider: ObjectKey) -> None:
        self._client = client
        self._list = f"{_PREFIX}:outbox:{provider}"
        self._retry_at = f"{_PREFIX}:retry-at:{provider}"
        # A lease of its own: the Provider's reconcile holds the Provider's.
        self._sender = ObjectKey(
            "ProviderOutbox", provider.namespace, provider.name, provider.scope
        )

    def put(self, items: list[Queued]) -> int:
        """Append ``items``; the number of old ones dropped to stay within the bound."""
        pipe = self._client.pipeline()
        pipe.rpush(self._list, *(item.encode() for item in items))
        pipe.ltrim(self._list, -MAX_QUEUED, -1)
        length: int = pipe.execute()[0]
        return max(0, length - MAX_QUEUED)

    def head(self) -> Queued | None:
        raw = cast(bytes | None, self._client.lindex(self._list, 0))
        return None if raw is None else Queued.decode(raw)

    def done(self) -> None:
        """Drop the head (sent, or given up on)."""
        self._client.lpop(self._list)

    def retried(self, item: Queued) -> Queued:
        """Record one more try of the head; the head as it now is."""
        again = Queued(item.alert, item.notice, item.attempts + 1)
        self._client.lset(self._list, 0, again.encode())
        return again

    def __len__(self) -> int:
        return self._client.llen(self._list)

    def sender(self, holder: str, ttl: float) -> Lease:
        """The lease its one sender holds (renewed while held; expires with a dead one)."""
        return Lease(self._client, self._sender, holder, ttl)

    def backing_off(self) -> bool:
        """Whether a retry is scheduled: a sender started now would only retry early."""
        return bool(self._client.exists(self._retry_at))

    def back_off(self, seconds: float) -> None:
        """No sender before ``seconds`` from now (the scheduled retry runs then)."""
        self._client.set(self._retry_at, 1, px=max(1, int(seconds * 1000)))

    def clear(self) -> int:
        """Drop every queued notice (the Provider is gone or suspended); how many there were."""
        pipe = self._client.pipeline()
        pipe.llen(self._list)
        pipe.delete(self._list)
        return cast(int, pipe.execute()[0])
