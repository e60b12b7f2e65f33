"""The event stream's pure half: stream ids, where a resumed subscriber starts, SSE frames."""

from __future__ import annotations

import json

import pytest

from services.notify.sse import (
    ResumePoint,
    StreamId,
    event_frame,
    gap_frame,
    heartbeat_frame,
    resume_point,
)
from shared.events import Event
from shared.keys import ObjectKey

S = StreamId.parse


@pytest.mark.parametrize(
    ("since", "first", "last", "expected"),
    [
        # From now on: after the last id given, whatever the stream keeps.
        (None, S("5-0"), S("9-2"), ResumePoint(S("9-2"), S("9-2"))),
        (None, None, None, ResumePoint(S("0-0"), S("0-0"))),
        # From the start: every entry kept, never a gap.
        (S("0"), S("5-0"), S("9-2"), ResumePoint(S("0-0"), S("0-0"))),
        # Resumed inside what is kept.
        (S("7-1"), S("5-0"), S("9-2"), ResumePoint(S("7-1"), S("7-1"))),
        (S("9-2"), S("5-0"), S("9-2"), ResumePoint(S("9-2"), S("9-2"))),
        # The client's own entry was the last trimmed and the next one is kept: nothing lost.
        (S("4-7"), S("4-8"), S("9-2"), ResumePoint(S("4-7"), S("4-7"))),
        # A gap from the client's id to just before the oldest entry kept.
        (
            S("4-7"),
            S("5-0"),
            S("9-2"),
            ResumePoint(S("4-18446744073709551615"), S("4-7"), "trimmed"),
        ),
        (S("3-0"), S("5-3"), S("9-2"), ResumePoint(S("5-2"), S("3-0"), "trimmed")),
        # Everything after the client's id trimmed away.
        (S("3-0"), None, S("9-2"), ResumePoint(S("9-2"), S("3-0"), "trimmed")),
        # An id this stream never gave: Redis lost its data; the stream starts over.
        (S("10-0"), S("5-0"), S("9-2"), ResumePoint(S("0-0"), S("10-0"), "reset")),
        (S("10-0"), None, None, ResumePoint(S("0-0"), S("10-0"), "reset")),
    ],
)
def test_a_subscriber_resumes_after_its_id_and_is_told_of_what_the_stream_no_longer_keeps(
    since: StreamId | None, first: StreamId | None, last: StreamId | None, expected: ResumePoint
) -> None:
    assert resume_point(since, first=first, last=last) == expected


def test_resuming_from_a_gaps_id_reports_no_gap_again() -> None:
    gap = resume_point(S("3-0"), first=S("5-3"), last=S("9-2"))
    assert resume_point(gap.cursor, first=S("5-3"), last=S("9-2")).gap is None


@pytest.mark.parametrize("text", ["", "12", "12-", "-1", "a-1", "1-2-3", "1.5-0", "1" * 21 + "-0"])
def test_a_malformed_stream_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not an event id"):
        StreamId.parse(text)


def test_stream_ids_order_as_redis_orders_them() -> None:
    assert S("10-0") > S("9-99") > S("9-2") > S("0")
    assert str(S(" 1733-2 ")) == "1733-2"
    assert S("5-0").previous() == S("4-18446744073709551615")
    assert S("4-18446744073709551615").next() == S("5-0")


def test_an_event_frame_is_its_id_type_and_one_line_of_json() -> None:
    event = Event(
        type="applied",
        object=ObjectKey("Kustomization", "flux-system", "apps"),
        message="line one\nline two\r\ndata: forged",
        id="e1",
    )
    frame = event_frame("1733-0", event)
    lines = frame.split("\n")
    assert lines[:2] == ["id: 1733-0", "event: applied"]
    assert lines[2].startswith("data: ")
    assert json.loads(lines[2].removeprefix("data: ")) == event.to_dict()
    assert lines[3:] == ["", ""]


def test_gap_and_heartbeat_frames() -> None:
    assert gap_frame(since=S("3-0"), after=S("5-2"), reason="trimmed") == (
        'id: 5-2\nevent: gap\ndata: {"since":"3-0","after":"5-2","reason":"trimmed"}\n\n'
    )
    assert heartbeat_frame() == ": heartbeat\n\n"
    assert heartbeat_frame(S("7-1")) == ": heartbeat\nid: 7-1\n\n"
