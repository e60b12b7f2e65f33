"""A front for a real registry that pages tag lists as the distribution spec says.

Debian's docker-registry (distribution 2.8) answers ``/v2/<name>/tags/list``
whole, ignoring ``n``; registries built on distribution 3, Harbor, GHCR and
Docker Hub page it. ``TagPagingFront`` forwards every request to the real
registry (credentials, challenges and all) and pages the tag list it gets
back: ``n`` tags after ``last``, in lexical order, with
``Link: </v2/<name>/tags/list?n=N&last=T>; rel="next"`` while more remain.
With ``etag`` it also sends an ``ETag`` on each page and answers 304 to a
matching ``If-None-Match``, as registries that support conditional requests
do. ``seen`` records ``(method, path)`` of every request it forwarded.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.servers.background import BackgroundServer

__all__ = ["TagPagingFront"]

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class TagPagingFront:
    """Pages ``upstream``'s tag lists; everything else passes through unchanged."""

    upstream: str  # the real registry's base URL, http://127.0.0.1:PORT
    etag: bool = False
    # Above 0: each tag page is answered this many seconds late.
    delay_seconds: float = 0.0
    # Set: the Link to the next page is an absolute URL on this host (a hostile registry's).
    link_host: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)
    _server: BackgroundServer | None = field(default=None, init=False, repr=False)

    @property
    def host(self) -> str:
        if self._server is None:
            raise RuntimeError("TagPagingFront is not started")
        return f"127.0.0.1:{self._server.port}"

    def start(self) -> None:
        self._server = BackgroundServer.start(_Handler, port=0, owner=self, name="tag-pages")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def count(self, method: str, path_part: str = "") -> int:
        """How many ``method`` requests for a path containing ``path_part`` were forwarded."""
        return sum(1 for m, p in self.seen if m == method and path_part in p)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def _forward(self) -> None:
        owner: TagPagingFront = self.server.owner  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        owner.seen.append((self.command, url.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        paged = self.command == "GET" and url.path.endswith("/tags/list")
        if paged and owner.delay_seconds:
            time.sleep(owner.delay_seconds)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in _HOP_HEADERS and k.lower() != "if-none-match"
        }
        target = owner.upstream + (url.path if paged else self.path)
        with httpx.Client(timeout=30) as client:
            answer = client.request(self.command, target, headers=headers, content=body)
        if paged and answer.status_code == 200:
            self._page(owner, url.path, parse_qs(url.query), answer.json())
            return
        out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
        if self.command == "HEAD":  # no body: say the upstream's length
            out["Content-Length"] = answer.headers.get("Content-Length", "0")
        self._send(answer.status_code, answer.content, out, head=self.command == "HEAD")

    def _page(
        self, owner: TagPagingFront, path: str, query: dict[str, list[str]], doc: dict[str, object]
    ) -> None:
        tags = sorted(str(t) for t in (doc.get("tags") or []))  # type: ignore[attr-defined]
        last = query.get("last", [""])[0]
        size = int(query.get("n", ["0"])[0] or 0) or len(tags) or 1
        after = [t for t in tags if t > last] if last else tags
        page, more = after[:size], len(after) > size
        content = json.dumps({"name": doc.get("name"), "tags": page}).encode()
        headers = {"Content-Type": "application/json"}
        if more:
            base = f"http://{owner.link_host}" if owner.link_host else ""
            headers["Link"] = f'<{base}{path}?n={size}&last={page[-1]}>; rel="next"'
        if owner.etag:
            tag = '"' + hashlib.sha256(content + headers.get("Link", "").encode()).hexdigest() + '"'
            headers["ETag"] = tag
            if self.headers.get("If-None-Match") == tag:
                self._send(304, b"", {"ETag": tag})
                return
        self._send(200, content, headers)

    def _send(
        self, status: int, content: bytes, headers: dict[str, str], *, head: bool = False
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304 and "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(content)
