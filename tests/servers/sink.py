"""A local HTTP server that records every request it gets: the webhook receiver of tests."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.servers.background import BackgroundServer

__all__ = ["HttpSink", "RecordedRequest", "SinkResponse"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sink received it; ``headers`` keys are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    time: float

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class SinkResponse:
    """What the sink answers: a status, a body and extra headers."""

    status: int = 200
    body: bytes = b"ok\n"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpSink:
    """Records every request; answers ``response`` unless a scripted one is queued."""

    response: SinkResponse = field(default_factory=SinkResponse)
    _records: list[RecordedRequest] = field(default_factory=list, init=False, repr=False)
    _queued: deque[SinkResponse] = field(default_factory=deque, init=False, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _server: BackgroundServer | None = field(default=None, init=False, repr=False)

    @property
    def port(self) -> int:
        """The TCP port the sink listens on."""
        if self._server is None:
            raise RuntimeError("HttpSink is not started")
        return self._server.port

    @property
    def url(self) -> str:
        """The sink's base URL; any path under it is accepted."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._cond:
            return list(self._records)

    def set_status(self, status: int, body: bytes = b"", **headers: str) -> None:
        """Answer every later request with ``status`` (e.g. 500, or 429 with Retry-After)."""
        with self._cond:
            self.response = SinkResponse(status, body, dict(headers))

    def queue(self, *responses: SinkResponse | int) -> None:
        """Answer the next requests with these, in order, then fall back to ``response``."""
        with self._cond:
            for item in responses:
                self._queued.append(SinkResponse(item) if isinstance(item, int) else item)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._records) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"sink got {len(self._records)} request(s) in {timeout}s, expected {count}"
                    )
                self._cond.wait(remaining)
            return list(self._records)

    def clear(self) -> None:
        """Forget the recorded requests and any queued responses."""
        with self._cond:
            self._records.clear()
            self._queued.clear()

    def start(self) -> None:
        """Bind a free loopback port and serve from a background thread."""
        self._server = BackgroundServer.start(_Handler, port=0, owner=self, name="http-sink")

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def record(self, request: RecordedRequest) -> SinkResponse:
        """Store ``request``, wake waiters, and pick the response to send."""
        with self._cond:
            self._records.append(request)
            self._cond.notify_all()
            return self._queued.popleft() if self._queued else self.response


class _Handler(BaseHTTPRequestHandler):
    """Reads the whole request, hands it to the sink, writes the chosen response."""

    protocol_version = "HTTP/1.1"
    server_version = "sluice-test-sink/1"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the recorded requests are the log."""

    def _handle(self) -> None:
        sink: HttpSink = self.server.owner  # type: ignore[attr-defined]
        body = self._read_body()
        split = urlsplit(self.path)
        reply = sink.record(
            RecordedRequest(
                method=self.command,
                path=split.path,
                query=split.query,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                time=time.time(),
            )
        )
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _read_body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts: list[bytes] = []
        while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(parts)
