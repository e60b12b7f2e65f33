"""A local HTTP(S) server that records every request it gets: the webhook receiver of tests.

Each path answers as the test sets it with ``respond()``: a status, "fail N
times with 500, then the status", or "hang S seconds first" (the server is
threaded, so a hanging path never holds up another request); ``queue()``
scripts the next answers whatever the path, ``set_status()`` the default. With ``tls``,
the sink serves HTTPS from a CA it makes (``ca_pem`` for the client) and can
require a client certificate signed by that CA (``client_cert`` for mTLS).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.servers.background import BackgroundServer
from tests.servers.registryauth import RegistryTls

__all__ = ["HttpSink", "RecordedRequest", "Route", "SinkResponse"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sink received it; ``headers`` keys are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    time: float  # time.time() on arrival, before any hang
    client_cn: str | None = None  # the client certificate's common name, under mTLS

    @property
    def target(self) -> str:
        """Path and query as the client asked for them (``/hook?x=1``)."""
        return f"{self.path}?{self.query}" if self.query else self.path

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
class Route:
    """How one path answers: ``fail_times`` failures first, then ``response``; after ``hang`` s."""

    response: SinkResponse = field(default_factory=SinkResponse)
    fail_times: int = 0
    fail_status: int = 500
    hang: float = 0.0
    served: int = 0

    def next_response(self) -> SinkResponse:
        """The answer to the next request on this path (counts it)."""
        self.served += 1
        if self.served <= self.fail_times:
            return replace(self.response, status=self.fail_status)
        return self.response


class HttpSink:
    """Records every request on 127.0.0.1; answers per path as ``respond()`` set it.

    Precedence: responses ``queue()``d for the next requests (any path), then
    the path's own ``respond()`` rule, then the default (``set_status()`` or
    ``respond(None, ...)``; 200 ``ok`` unless set).
    """

    def __init__(self, *, tls_dir: Path | None = None, client_auth: bool = False) -> None:
        """``tls_dir``: serve HTTPS with certificates made there; ``client_auth``: require mTLS."""
        if client_auth and tls_dir is None:
            raise ValueError("client_auth needs tls_dir: mTLS is over HTTPS")
        self._tls = RegistryTls.create(tls_dir, client_auth=client_auth) if tls_dir else None
        self._records: list[RecordedRequest] = []
        self._routes: dict[str | None, Route] = {}
        self._queued: deque[SinkResponse] = deque()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: BackgroundServer | None = None

    # -- where to send -------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the sink listens on."""
        if self._server is None:
            raise RuntimeError("HttpSink is not started")
        return self._server.port

    @property
    def url(self) -> str:
        """The sink's base URL, ``http://127.0.0.1:PORT`` (``https://`` under TLS)."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url_for(self, path: str = "/") -> str:
        """The URL of ``path`` (may carry a query) on this sink."""
        return self.url + (path if path.startswith("/") else f"/{path}")

    @property
    def ca_pem(self) -> bytes:
        """The PEM of the CA that signed the serving certificate (TLS only)."""
        return self._tls_files().read("ca.crt")

    @property
    def ca_file(self) -> Path:
        """The CA PEM's path, for clients that take a file."""
        return self._tls_files().directory / "ca.crt"

    @property
    def client_cert(self) -> tuple[Path, Path]:
        """A client certificate and key (PEM files) the sink accepts under mTLS."""
        directory = self._tls_files().directory
        return directory / "client.crt", directory / "client.key"

    def client_pem(self) -> tuple[bytes, bytes]:
        """The client certificate and key PEMs (what a Provider's certSecretRef would hold)."""
        tls = self._tls_files()
        return tls.read("client.crt"), tls.read("client.key")

    # -- how to answer -------------------------------------------------------

    def respond(
        self,
        path: str | None,
        *,
        status: int = 200,
        fail_times: int = 0,
        hang: float = 0.0,
        body: bytes = b"ok\n",
        headers: dict[str, str] | None = None,
        fail_status: int = 500,
    ) -> None:
        """Answer ``path`` (None: every path without its own rule) from now on, counting afresh.

        The first ``fail_times`` requests get ``fail_status``, later ones
        ``status``; each waits ``hang`` seconds before its answer (other
        requests are served meanwhile). ``headers`` go on every answer.
        """
        response = SinkResponse(status, body, dict(headers or {}))
        route = Route(response, fail_times=fail_times, fail_status=fail_status, hang=hang)
        with self._cond:
            self._routes[path] = route

    def set_status(self, status: int, body: bytes = b"", **headers: str) -> None:
        """Answer every later request on a path without its own rule with ``status``."""
        with self._cond:
            self._routes[None] = Route(SinkResponse(status, body, dict(headers)))

    def queue(self, *responses: SinkResponse | int) -> None:
        """Answer the next requests (any path) with these, in order, then as the rules say."""
        with self._cond:
            for item in responses:
                self._queued.append(SinkResponse(item) if isinstance(item, int) else item)

    # -- what arrived --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._cond:
            return list(self._records)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The requests received on ``path`` (without query), oldest first."""
        with self._cond:
            return self._matching(path)

    def wait_for(
        self, count: int, path: str | None = None, *, timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Block until at least ``count`` requests (on ``path``) arrived; TimeoutError if not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := self._matching(path)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    where = f" on {path}" if path else ""
                    raise TimeoutError(
                        f"sink got {len(found)} request(s){where} in {timeout}s, expected {count}"
                    )
                self._cond.wait(remaining)
            return found

    def clear(self) -> None:
        """Forget the recorded requests, queued responses and every ``respond()`` rule."""
        with self._cond:
            self._records.clear()
            self._queued.clear()
            self._routes.clear()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Bind a free loopback port and serve from background threads."""
        self._stopping.clear()
        self._server = BackgroundServer.start(
            _Handler, port=0, owner=self, name="http-sink", tls=self._ssl_context()
        )

    def stop(self) -> None:
        """Wake hanging requests, stop serving and close the socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- called by the handler -----------------------------------------------

    def record(self, request: RecordedRequest) -> tuple[SinkResponse, float]:
        """Store ``request``, wake waiters, and pick its answer and how long to hang first."""
        with self._cond:
            self._records.append(request)
            self._cond.notify_all()
            if self._queued:
                return self._queued.popleft(), 0.0
            route = self._routes.get(request.path) or self._routes.setdefault(None, Route())
            return route.next_response(), route.hang

    def hang(self, seconds: float) -> None:
        """Hold a request ``seconds`` (less if the sink stops meanwhile)."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _matching(self, path: str | None) -> list[RecordedRequest]:
        return [r for r in self._records if path is None or r.path == path]

    def _tls_files(self) -> RegistryTls:
        if self._tls is None:
            raise RuntimeError("this HttpSink serves plain HTTP: make it with tls_dir")
        return self._tls

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self._tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        directory = self._tls.directory
        context.load_cert_chain(directory / "server.crt", directory / "server.key")
        if self._tls.client_auth:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(directory / "ca.crt")
        return context


class _Handler(BaseHTTPRequestHandler):
    """Reads the whole request, records it, hangs if told, writes the route's answer."""

    protocol_version = "HTTP/1.1"
    server_version = "sluice-test-sink/2"
    # The status line and headers go out in one write and the body in another: with
    # Nagle on, a kept-alive client's delayed ACK holds each answer back ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
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
        reply, hang = sink.record(
            RecordedRequest(
                method=self.command,
                path=split.path,
                query=split.query,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                time=time.time(),
                client_cn=self._client_cn(),
            )
        )
        sink.hang(hang)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _client_cn(self) -> str | None:
        get_peer = getattr(self.connection, "getpeercert", None)
        peer = get_peer() if get_peer else None
        for rdn in (peer or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None

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
