"""``GET /events``: sluice's event stream as Server-Sent Events, for systems without Redis access.

Each subscriber reads the Redis stream ``sluice:events`` through its own
asyncio connection at its own pace: a subscriber that reads slowly (or not at
all) stops its own reads when the server's socket buffer is full, and never
delays another subscriber. What one connection holds is bounded by
``StreamOptions.batch`` entries plus the server's write buffer.

Query parameters are the filters of :mod:`shared.eventfilter` (``kind``,
``name``, ``namespace``, ``cluster``, ``severity``, ``reason``, ``type``;
repeated or comma-separated) and ``since``. Where to start:

- the ``Last-Event-ID`` header (an EventSource sends it when it reconnects),
  else ``?since=<id>``: the events after that id; ``since=0``: every event
  the stream still keeps;
- neither: the events published from now on.

Resuming loses nothing and repeats nothing: an event's ``id`` is its stream
id, and a heartbeat carries the position reached past events the filter
dropped. When events after the client's id are no longer kept (the stream is
bounded by ``SLUICE_EVENTS_MAX_LEN``) the first frame is ``event: gap``;
see ``docs/events.md`` for the format.

Errors: with ``StreamOptions.token`` set, a request without that bearer
token is refused with 401; a malformed filter or id with 400 naming the parameter;
past ``max_subscribers`` open streams a new one gets 503 with Retry-After.
While Redis is unreachable the stream stays open, sends heartbeats and picks
up where it was once Redis is back.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio
import redis.asyncio
import redis.exceptions
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from services.notify.sse import (
    StreamId,
    event_frame,
    gap_frame,
    heartbeat_frame,
    resume_point,
    retry_frame,
)
from shared.eventfilter import EventFilter, FilterError, parse_filter
from shared.events import STREAM, decode_entry
from shared.redisconn import connect_async
from shared.settings import Settings

__all__ = ["CLIENT_NAME", "StreamOptions", "routes"]

log = logging.getLogger(__name__)

CLIENT_NAME = "sluice-eventstream"
_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# No cache may keep the stream, and nginx must pass each frame on at once.
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class StreamOptions:
    """How the event stream behaves; the defaults suit proxies that close idle links at 30-60 s."""

    heartbeat: float = 15.0  # seconds without a frame before a heartbeat
    batch: int = 100  # stream entries read at once: one connection's buffer
    retry_ms: int = 3000  # an EventSource's wait before it reconnects
    max_subscribers: int = 256
    redis_retry: float = 1.0  # seconds between tries while Redis is unreachable
    # When set, a request must carry ``Authorization: Bearer <token>``: the
    # server may listen beyond loopback for Git hosts' webhooks.
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Request:
    wanted: EventFilter
    since: StreamId | None  # None: from now on


class _Seats:
    """Open streams, counted so one client cannot open connections to Redis without end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0


def routes(
    settings: Settings, *, options: StreamOptions | None = None, stream: str = STREAM
) -> list[BaseRoute]:
    """The event stream's routes: ``GET /events``."""
    opts = options or StreamOptions()
    seats = _Seats(opts.max_subscribers)

    async def events(request: Request) -> Response:
        # No await in here: the seat count checked now is the one the stream takes.
        if opts.token is not None and not _authorized(request, opts.token):
            return PlainTextResponse(
                "a bearer token is required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="sluice events"'},
            )
        try:
            wanted = _parse(request)
        except ValueError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        if request.method == "HEAD":
            # Starlette routes HEAD to GET handlers: the headers, and no stream behind them.
            return Response(media_type=_EventStreamResponse.media_type, headers=_HEADERS)
        if seats.taken >= seats.limit:
            return PlainTextResponse(
                "too many event streams open; try again later\n",
                status_code=503,
                headers={"Retry-After": str(max(1, opts.retry_ms // 1000))},
            )
        return _EventStreamResponse(settings, opts, stream=stream, request=wanted, seats=seats)

    return [Route("/events", events, methods=["GET"])]


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _parse(request: Request) -> _Request:
    """The filter and start position of a request; ValueError naming what is wrong."""
    values: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    since_values = values.pop("since", [])
    try:
        wanted = parse_filter(values)
    except FilterError as exc:
        raise ValueError(f"query parameter {exc}") from None
    header = request.headers.get("last-event-id")
    # An EventSource reconnects to the same URL with the header: the header wins.
    source, raw = ("Last-Event-ID", header) if header else ("since", _one(since_values))
    try:
        since = None if raw is None else StreamId.parse(raw)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    return _Request(wanted=wanted, since=since)


def _one(values: list[str]) -> str | None:
    if len(values) > 1:
        raise ValueError("query parameter since: given more than once")
    return values[0] if values else None


class _EventStreamResponse(Response):
    """One subscriber's stream: its own Redis connection, read as fast as the client takes."""

    media_type = "text/event-stream"

    def __init__(
        self,
        settings: Settings,
        options: StreamOptions,
        *,
        stream: str,
        request: _Request,
        seats: _Seats,
    ) -> None:
        self._settings = settings
        self._options = options
        self._stream = stream
        self._request = request
        self._seats = seats
        self.status_code = 200
        self.background = None
        self.init_headers(_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._seats.taken += 1
        # The socket timeout must outlast the blocking read of one heartbeat period.
        timeout = self._options.heartbeat + self._settings.redis_timeout
        client = connect_async(self._settings, name=CLIENT_NAME, timeout=timeout)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_until_disconnect, receive, group.cancel_scope)
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
                async with aclosing(self._frames(client)) as frames:
                    async for frame in frames:
                        body = frame.encode()
                        await send({"type": "http.response.body", "body": body, "more_body": True})
        except OSError:
            pass  # the client went away (servers of ASGI 2.4 say so from send)
        finally:
            self._seats.taken -= 1
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def _frames(self, client: redis.asyncio.Redis) -> AsyncGenerator[str, None]:
        """Every frame for this subscriber, until cancelled."""
        opts = self._options
        wanted = self._request.wanted
        yield retry_frame(opts.retry_ms)
        position = self._request.since
        # The position the client knows. None at first: the first frame after the
        # start is found carries it, so a subscriber "from now on" knows when
        # "now" was, and can resume from there.
        told: StreamId | None = None
        cursor: StreamId | None = None  # the last entry read; None: to be (re)checked
        written = time.monotonic()
        while True:
            try:
                if cursor is None:
                    cursor, gap = await _start(client, self._stream, position)
                    where = cursor if position is None else position
                    if where != told:
                        yield heartbeat_frame(where)
                        told, written = where, time.monotonic()
                    if gap is not None:
                        yield gap
                        told, written = cursor, time.monotonic()
                # Wait for new entries no longer than until the next heartbeat is due.
                due = written + opts.heartbeat - time.monotonic()
                reply = await client.xread(
                    {self._stream: str(cursor)},
                    count=opts.batch,
                    block=max(1, int(due * 1000)),
                )
            except _REDIS_DOWN as exc:
                log.warning("event stream: Redis unreachable (%s); retrying", type(exc).__name__)
                # Redis may come back without the entries it had: check the position again.
                position = cursor if cursor is not None else position
                cursor = None
                yield heartbeat_frame()
                written = time.monotonic()
                await anyio.sleep(opts.redis_retry)
                continue
            for entry_id, fields in _entries(reply):
                cursor = StreamId.parse(_text(entry_id))
                try:
                    _, event = decode_entry(entry_id, fields)
                except ValueError as exc:
                    log.warning("event stream: skipping an entry: %s", exc)
                    continue
                if wanted.matches(event):
                    yield event_frame(str(cursor), event)
                    told, written = cursor, time.monotonic()
            if time.monotonic() - written >= opts.heartbeat:
                yield heartbeat_frame(cursor if cursor != told else None)
                told, written = cursor, time.monotonic()


async def _until_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _start(
    client: redis.asyncio.Redis, stream: str, since: StreamId | None
) -> tuple[StreamId, str | None]:
    """Where to read from, and the gap frame to send first when events after ``since`` are gone."""
    try:
        info = await client.xinfo_stream(stream)
    except redis.exceptions.ResponseError:
        # No such key: nothing was ever published, or Redis lost it.
        point = resume_point(since, first=None, last=None)
    else:
        first_entry = info.get("first-entry")
        point = resume_point(
            since,
            first=StreamId.parse(_text(first_entry[0])) if first_entry else None,
            last=StreamId.parse(_text(info["last-generated-id"])),
        )
    if point.gap is None:
        return point.cursor, None
    return point.cursor, gap_frame(since=point.since, after=point.cursor, reason=point.gap)


def _entries(reply: Any) -> list[tuple[Any, Any]]:
    return [entry for _stream, entries in reply or [] for entry in entries]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
