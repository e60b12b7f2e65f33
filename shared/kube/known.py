"""What a worker knows it applied: skip the dry run of an object that is known unchanged.

A reconcile on a steady revision dry-runs every object only to learn that
nothing changed. Once a payload was applied (or its dry run matched the live
object), the object's resourceVersion right after is remembered, keyed by a
digest of the payload and of the options that shape the verdict. Next time the
same payload is planned, the live object is read as usual; if its
resourceVersion is still the remembered one, no one has written to it since,
so applying the payload again would change nothing: the plan says unchanged
without a dry run. Any write to the object (drift, another applier, a
controller) moves its resourceVersion and brings the dry run back; a changed
payload or option digests differently. The memory is per client (one per
cluster and identity in a worker, ``clients.py``) and bounded; a miss only costs
the dry run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_ENTRIES", "KnownApplied", "payload_digest"]

MAX_ENTRIES = 50_000


def payload_digest(obj: Mapping[str, Any], *, shaping: str) -> str:
    """A digest of the payload as it would be sent, and of the options that judge it."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{shaping}\0{text}".encode()).hexdigest()


class KnownApplied:
    """Payload digest → the resourceVersion the object had once that payload was in place."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._versions: OrderedDict[str, str] = OrderedDict()

    def has(self, digest: str) -> bool:
        """Whether this payload was put in place before."""
        with self._lock:
            return digest in self._versions

    def unchanged(self, digest: str, live: Mapping[str, Any] | None) -> bool:
        """Whether ``live`` is still the object this payload left behind."""
        version = _version(live)
        with self._lock:
            known = self._versions.get(digest)
            if known is not None:
                self._versions.move_to_end(digest)
        return bool(version) and known == version

    def remember(self, digest: str, result: Mapping[str, Any] | None) -> None:
        """The payload is in place and ``result`` is the object as it is now."""
        version = _version(result)
        if not version:
            return
        with self._lock:
            self._versions[digest] = version
            self._versions.move_to_end(digest)
            while len(self._versions) > self._limit:
                self._versions.popitem(last=False)

    def forget(self, digest: str) -> None:
        """Nothing is known of this payload any more."""
        with self._lock:
            self._versions.pop(digest, None)


def _version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")
