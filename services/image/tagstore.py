"""An ImageRepository's scanned tags, kept in Redis (Flux keeps them in its Badger database).

One hash per ImageRepository, written in one round trip when a scan finds
something new, and read by the ImagePolicies that name it::

    sluice:image:tags:<ImageRepository key>
        tags   JSON array, descending byte order (the scan's order), at most MAX_TAGS
        memo   JSON of the scan's ScanMemo (revision, count, latest tags, ETag)

Bounded: a repository with more than :data:`MAX_TAGS` tags keeps the first
``MAX_TAGS`` of them in that order (the status still reports the full count);
a policy then chooses among those, and the record says it was cut
(:attr:`TagRecord.truncated`). A deleted ImageRepository's record goes with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import redis

from services.image.registry import ScanMemo
from shared.keys import ObjectKey

__all__ = ["MAX_TAGS", "TagRecord", "TagStore"]

MAX_TAGS = 20_000
_PREFIX = "sluice:image:tags:"


@dataclass(frozen=True)
class TagRecord:
    """What the last scan that found something left: its tags and what the next scan compares."""

    tags: tuple[str, ...]
    memo: ScanMemo
    truncated: bool = False


def _memo(raw: Any) -> ScanMemo:
    data = json.loads(raw)
    return ScanMemo(
        canonical_image_name=str(data["canonical_image_name"]),
        exclusion_list=tuple(data["exclusion_list"]),
        revision=str(data["revision"]),
        tag_count=int(data["tag_count"]),
        latest_tags=tuple(data.get("latest_tags") or ()),
        etag=str(data.get("etag") or ""),
    )


class TagStore:
    """The tag records of every ImageRepository in one Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def save(self, key: ObjectKey, *, tags: Sequence[str], memo: ScanMemo) -> None:
        """Replace ``key``'s record with ``tags`` (cut at MAX_TAGS) and ``memo``."""
        kept = list(tags[:MAX_TAGS])
        self._client.hset(
            f"{_PREFIX}{key}",
            mapping={
                "tags": json.dumps(kept, separators=(",", ":")),
                "memo": json.dumps(asdict(memo), separators=(",", ":")),
                "truncated": "1" if len(tags) > MAX_TAGS else "0",
            },
        )

    def save_memo(self, key: ObjectKey, memo: ScanMemo) -> None:
        """Keep the tags, remember a new ``memo`` (the same tags under a new ETag)."""
        self._client.hset(
            f"{_PREFIX}{key}", "memo", json.dumps(asdict(memo), separators=(",", ":"))
        )

    def get(self, key: ObjectKey) -> TagRecord | None:
        """``key``'s record, or None before its first successful scan (or when unreadable)."""
        raw = cast(dict[bytes, bytes], self._client.hgetall(f"{_PREFIX}{key}"))
        if b"tags" not in raw or b"memo" not in raw:
            return None
        try:
            tags = json.loads(raw[b"tags"])
            memo = _memo(raw[b"memo"])
        except (ValueError, KeyError, TypeError):
            return None  # a record another version wrote: the next scan replaces it
        return TagRecord(
            tags=tuple(str(t) for t in tags),
            memo=memo,
            truncated=raw.get(b"truncated") == b"1",
        )

    def drop(self, key: ObjectKey) -> None:
        """Forget a deleted ImageRepository's tags."""
        self._client.delete(f"{_PREFIX}{key}")
