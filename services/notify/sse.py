"""Server-Sent Events framing and stream ids: the pure half of the event stream.

Frames follow the HTML living standard's ``text/event-stream`` format: lines
``field: value`` closed by a blank line. Sluice sends four kinds:

- an event: ``id: <stream id>``, ``event: <event type>``, ``data: <JSON>``;
- a gap: ``id: <last lost id>``, ``event: gap``, ``data: <JSON>`` when events
  after the client's id are no longer kept;
- a heartbeat: a comment line ``: heartbeat``, with ``id: <id>`` when events
  that did not pass the filter moved the position on (a frame with an id and
  no data moves an EventSource's last event id without firing an event);
- ``retry: <ms>`` once at the start: how long an EventSource waits before it
  reconnects.

Stream ids are Redis stream ids ``<milliseconds>-<sequence>``, ordered as
pairs of integers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from shared.events import Event

__all__ = [
    "GapReason",
    "ResumePoint",
    "StreamId",
    "event_frame",
    "gap_frame",
    "heartbeat_frame",
    "resume_point",
    "retry_frame",
]

_ID = re.compile(r"(\d{1,20})-(\d{1,20})")
_SEQ_MAX = 2**64 - 1
GapReason = Literal["trimmed", "reset"]


@dataclass(frozen=True, order=True)
class StreamId:
    """A Redis stream id; ``StreamId(0, 0)`` is before every entry."""

    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    def next(self) -> StreamId:
        """The smallest id after this one."""
        return StreamId(self.ms, self.seq + 1) if self.seq < _SEQ_MAX else StreamId(self.ms + 1, 0)

    def previous(self) -> StreamId:
        """The largest id before this one (``0-0`` stays ``0-0``)."""
        if self.seq > 0:
            return StreamId(self.ms, self.seq - 1)
        return StreamId(self.ms - 1, _SEQ_MAX) if self.ms > 0 else self

    @classmethod
    def parse(cls, text: str) -> StreamId:
        """``<ms>-<seq>`` (or ``0``, the start of the stream); ValueError otherwise."""
        text = text.strip()
        if text == "0":
            return cls(0, 0)
        match = _ID.fullmatch(text)
        if match is None:
            raise ValueError(
                f"{text[:60]!r} is not an event id (expected <milliseconds>-<sequence>)"
            )
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class ResumePoint:
    """Where a subscriber's reads start; ``gap`` says why events after ``since`` are missing."""

    cursor: StreamId
    since: StreamId
    gap: GapReason | None = None


def resume_point(
    since: StreamId | None, *, first: StreamId | None, last: StreamId | None
) -> ResumePoint:
    """Where to read after ``since`` (None: from now on) in a stream of ``first``..``last``.

    ``first`` is the oldest entry kept (None: the stream is empty), ``last`` the
    last id the stream ever gave (None: no stream). Trimming drops the oldest
    entries, so an id older than the one just before ``first`` means entries
    after ``since`` may have been dropped: a ``trimmed`` gap up to just
    before ``first``. Exact when ``first`` directly follows ``since``
    (nothing lost, no gap); otherwise it reports a gap whenever one is
    possible. An id past ``last`` was never given by this stream: Redis
    lost its data, and the stream starts over (a ``reset`` gap).
    """
    origin = StreamId(0, 0)
    if last is None:
        if since is None or since == origin:
            return ResumePoint(origin, origin)
        return ResumePoint(origin, since, "reset")
    if since is None:
        return ResumePoint(last, last)
    if since > last:
        return ResumePoint(origin, since, "reset")
    before_first = last if first is None else first.previous()
    if since != origin and since.next() <= before_first:
        return ResumePoint(before_first, since, "trimmed")
    return ResumePoint(since, since)


def retry_frame(retry_ms: int) -> str:
    """Tell an EventSource how long to wait before it reconnects."""
    return f"retry: {retry_ms}\n\n"


def event_frame(entry_id: str, event: Event) -> str:
    """One event; JSON escapes newlines, so ``data`` is always a single line."""
    data = json.dumps(event.to_dict(), separators=(",", ":"))
    return f"id: {entry_id}\nevent: {_field(event.type)}\ndata: {data}\n\n"


def gap_frame(*, since: StreamId, after: StreamId, reason: GapReason) -> str:
    """Events after ``since`` up to ``after`` are gone; the stream goes on after ``after``.

    (``after`` is the new position: a client resuming from it is not told twice.)
    """
    data: dict[str, Any] = {"since": str(since), "after": str(after), "reason": reason}
    return f"id: {after}\nevent: gap\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def heartbeat_frame(position: StreamId | None = None) -> str:
    """A comment proxies see as traffic; with ``position``, the client's id moves there."""
    return ": heartbeat\n\n" if position is None else f": heartbeat\nid: {position}\n\n"


def _field(value: str) -> str:
    # A field value ends at a line break: one inside would start a forged field.
    return value.replace("\r", " ").replace("\n", " ")
