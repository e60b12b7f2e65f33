"""The changes feed: one small stream entry per write, for schedulers and ``sluice get -w``.

Entries carry the key, the kind of change and the new resourceVersion, never
the object: a reader re-reads what it cares about, so a missed or repeated
entry costs one extra read, not a wrong state. The stream is capped
(approximately) so it stays small; a reader that falls behind the cap should
list the objects again and resume from the newest entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from shared.keys import ObjectKey

__all__ = ["Change", "ChangeType", "decode_entries"]

ChangeType = Literal["created", "updated", "status", "deleted"]


@dataclass(frozen=True)
class Change:
    """One write seen on the feed; ``id`` is the stream id to resume after."""

    id: str
    key: ObjectKey
    type: ChangeType
    resource_version: str


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_entries(entries: Any) -> list[Change]:
    """Changes from the entries of one XRANGE/XREAD stream reply."""
    out = []
    for entry_id, fields in entries or []:
        values = {_text(k): _text(v) for k, v in fields.items()}
        out.append(
            Change(
                id=_text(entry_id),
                key=ObjectKey.parse(values["key"]),
                type=cast(ChangeType, values["type"]),
                resource_version=values["resourceVersion"],
            )
        )
    return out
