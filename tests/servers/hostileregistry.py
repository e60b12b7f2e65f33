"""A registry that misbehaves on purpose: endless tag pages, huge bodies, dripping blobs.

What a hostile or broken registry may do to a client, one behaviour per
field, each off by default. Everything else is answered as a small, honest
registry would: one repository ``app`` with one manifest (tag ``v1``) and its
layer. A test checks the client stays within its time and memory bounds.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.servers.background import BackgroundServer

__all__ = ["LAYER", "HostileRegistry"]

LAYER = b"layer-bytes " * 4096
_LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()
_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
                "digest": _LAYER_DIGEST,
                "size": len(LAYER),
            }
        ],
    }
).encode()


@dataclass
class HostileRegistry:
    """The behaviours: set a field before (or while) the client runs."""

    # Tag pages that always name a next page (distinct each time).
    endless_tag_pages: bool = False
    # Above 0: bodies of this many bytes for the tag list, a 404 and a token answer.
    huge_body_bytes: int = 0
    # Above 0: the layer is sent in pieces this many seconds apart.
    drip_seconds: float = 0.0
    # A Bearer challenge whose realm is this server's /token.
    bearer: bool = False
    # A Basic challenge until the request carries any Authorization.
    basic: bool = False
    # Where an upload goes (the POST's Location): another host's URL, say.
    upload_location: str = ""
    # Above 0: tag 1.0.0 is a Helm chart whose layer is this many bytes (of zeros).
    chart_layer_bytes: int = 0
    pages_served: int = 0
    # (method, path, Authorization header) of every request.
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    _server: BackgroundServer | None = field(default=None, init=False, repr=False)

    @property
    def host(self) -> str:
        if self._server is None:
            raise RuntimeError("HostileRegistry is not started")
        return f"127.0.0.1:{self._server.port}"

    def start(self) -> None:
        self._server = BackgroundServer.start(_Handler, port=0, owner=self, name="hostile-registry")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def _owner(self) -> HostileRegistry:
        owner: HostileRegistry = self.server.owner  # type: ignore[attr-defined]
        return owner

    def do_HEAD(self) -> None:
        self._route(body=False)

    def do_GET(self) -> None:
        self._route(body=True)

    def do_POST(self) -> None:
        self._route(body=True)

    def do_PUT(self) -> None:
        self._route(body=True)

    def _route(self, *, body: bool) -> None:
        owner = self._owner
        path = self.path.split("?")[0]
        owner.seen.append((self.command, path, self.headers.get("Authorization", "")))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if owner.basic and not self.headers.get("Authorization"):
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="x"'})
            return
        if self.command == "PUT":
            self._send(201, b"", {})
            return
        if self.command == "POST" and path == "/v2/app/blobs/uploads/":
            self._send(202, b"", {"Location": owner.upload_location or "/upload/1"})
            return
        if path.startswith("/token"):
            self._huge_or(200, b'{"token": "t"}')
            return
        if owner.bearer and self.headers.get("Authorization") != "Bearer t":
            realm = f"http://{owner.host}/token"
            self._send(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'})
            return
        if path == "/v2/app/tags/list":
            owner.pages_served += 1
            if not owner.endless_tag_pages:
                self._huge_or(200, b'{"name": "app", "tags": ["v1"]}')
                return
            following = f"</v2/app/tags/list?n=1000&last=t{owner.pages_served}>"
            tags = json.dumps({"name": "app", "tags": [f"t{owner.pages_served}"]}).encode()
            self._send(200, tags, {"Link": f'{following}; rel="next"'})
        elif path in ("/v2/app/manifests/v1", f"/v2/app/manifests/{_digest(_MANIFEST)}"):
            headers = {
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": _digest(_MANIFEST),
            }
            self._send(200, _MANIFEST if body else b"", headers, length=len(_MANIFEST))
        elif path == "/v2/app/manifests/1.0.0" and owner.chart_layer_bytes:
            manifest = _chart_manifest(owner.chart_layer_bytes)
            headers = {
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                "Docker-Content-Digest": _digest(manifest),
            }
            self._send(200, manifest if body else b"", headers, length=len(manifest))
        elif owner.chart_layer_bytes and path == f"/v2/app/blobs/{_zeros(owner.chart_layer_bytes)}":
            self._drip(bytes(owner.chart_layer_bytes), 0.0)
        elif path == f"/v2/app/blobs/{_digest(b'{}')}":
            self._send(200, b"{}" if body else b"", {}, length=2)
        elif path == f"/v2/app/blobs/{_LAYER_DIGEST}":
            self._drip(LAYER, owner.drip_seconds)
        else:
            self._huge_or(404, b'{"errors": [{"code": "NOT_FOUND", "message": "nothing"}]}')

    def _huge_or(self, status: int, data: bytes) -> None:
        size = self._owner.huge_body_bytes
        if size <= 0:
            self._send(status, data, {"Content-Type": "application/json"})
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        piece = b"[" * (1 << 16)
        try:
            for _ in range(size // len(piece)):
                self.wfile.write(piece)
        except OSError:
            pass  # the client stopped reading: what a bounded client does
        self.close_connection = True

    def _drip(self, data: bytes, seconds: float) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        step = 1024 if seconds else 1 << 16
        try:
            for start in range(0, len(data), step):
                self.wfile.write(data[start : start + step])
                if seconds:
                    self.wfile.flush()
                    time.sleep(seconds)
        except OSError:
            pass
        self.close_connection = True

    def _send(
        self, status: int, data: bytes, headers: dict[str, str], *, length: int | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        self.wfile.write(data)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _zeros(size: int) -> str:
    return _digest(bytes(size))


def _chart_manifest(size: int) -> bytes:
    """A Helm chart's manifest (as ``helm push`` writes it) whose layer is ``size`` zeros."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.cncf.helm.config.v1+json",
                "digest": _digest(b"{}"),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "digest": _zeros(size),
                    "size": size,
                }
            ],
        }
    ).encode()
