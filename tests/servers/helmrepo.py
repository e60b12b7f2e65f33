"""An HTTP(S) Helm chart repository for tests: charts packaged by the pinned ``helm``.

``add_chart`` writes a small chart, runs ``helm package`` into the served
folder and ``helm repo index`` over it, as a repository owner publishes a
version; ``add_package`` publishes an already packaged chart the same way.
The server answers GET/HEAD of files in that folder, behind Basic auth when
credentials are set and over TLS when given a certificate, with ``ETag`` and
``Last-Modified`` validators and 304 for a conditional GET that matches.
Every answer is recorded, so a test counts what crossed the wire:
``downloads("index.yaml")`` bodies sent, ``not_modified("index.yaml")`` 304s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.helmcharts import HelmCli, chart_yaml, package_chart, write_chart
from tests.servers.background import BackgroundServer

__all__ = ["HelmRepoRequest", "HelmRepoServer", "podinfo_repository"]

REALM = "sluice-test-helm"


@dataclass(frozen=True)
class HelmRepoRequest:
    """One answered request: which file, what status, whether a body was sent."""

    method: str
    name: str
    status: int
    body: bool
    authorized: bool


@dataclass
class HelmRepoServer:
    """Serves ``root`` (charts and ``index.yaml``); Basic auth and TLS when configured."""

    root: Path
    username: str | None = None
    password: str | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    # With TLS: require a client certificate signed by this CA (mutual TLS).
    client_ca_file: Path | None = None
    # Off: the server sends no ETag/Last-Modified, as some static hosts do.
    validators: bool = True
    # Above 0: each body is sent in 8 pieces spread over this many seconds (a slow link).
    slow_seconds: float = 0.0
    _records: list[HelmRepoRequest] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: BackgroundServer | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The repository URL a HelmRepository names (no trailing slash, no credentials)."""
        if self._server is None:
            raise RuntimeError("HelmRepoServer is not started")
        scheme = "https" if self.cert_file else "http"
        return f"{scheme}://127.0.0.1:{self._server.port}"

    def start(self) -> None:
        """Serve from a background thread on a free loopback port."""
        self.root.mkdir(parents=True, exist_ok=True)
        tls = None
        if self.cert_file is not None:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.cert_file, self.key_file)
            if self.client_ca_file is not None:
                tls.load_verify_locations(self.client_ca_file)
                tls.verify_mode = ssl.CERT_REQUIRED
        self._server = BackgroundServer.start(
            _Handler, port=0, owner=self, name="helm-repo", tls=tls
        )

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def add_chart(self, name: str, version: str, *, app_version: str = "1.0.0") -> Path:
        """Package chart ``name`` at ``version`` into the repository and re-index it."""
        files = {
            "Chart.yaml": chart_yaml(name, version, app_version=app_version),
            "values.yaml": "message: hello\n",
            "templates/configmap.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
                "data:\n  message: {{ .Values.message | quote }}\n"
            ),
        }
        source = write_chart(self.root.parent / "chart-sources" / f"{name}-{version}", files)
        package = package_chart(source, self.root)
        self._index()
        return package

    def add_package(self, package: Path) -> Path:
        """Publish a chart packaged elsewhere (a ``.tgz``) and re-index the repository."""
        served = self.root / package.name
        shutil.copyfile(package, served)
        self._index()
        return served

    def records(self) -> list[HelmRepoRequest]:
        """Every answered request so far, oldest first."""
        with self._lock:
            return list(self._records)

    def downloads(self, name: str = "index.yaml") -> int:
        """How many times ``name`` was sent with a body (200)."""
        return sum(1 for r in self.records() if r.name == name and r.body)

    def not_modified(self, name: str = "index.yaml") -> int:
        """How many conditional GETs of ``name`` were answered 304 (no body)."""
        return sum(1 for r in self.records() if r.name == name and r.status == 304)

    def requests(self, name: str = "index.yaml") -> int:
        """How many requests for ``name`` were answered at all."""
        return sum(1 for r in self.records() if r.name == name)

    def _index(self) -> None:
        cli = HelmCli(None, self.root.parent / "helm-home")
        cli.run("repo", "index", str(self.root), "--url", self.url, check=True)

    def _record(self, request: HelmRepoRequest) -> None:
        with self._lock:
            self._records.append(request)

    def _authorized(self, header: str) -> bool:
        if self.username is None or self.password is None:
            return True
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(
            password, self.password
        )


@contextmanager
def podinfo_repository(
    root: Path, *, username: str, password: str, versions: tuple[str, ...] = ("6.0.0",)
) -> Iterator[HelmRepoServer]:
    """A running repository at ``root`` behind Basic auth, serving podinfo at ``versions``."""
    server = HelmRepoServer(root, username=username, password=password)
    server.start()
    try:
        for version in versions:
            server.add_chart("podinfo", version)
        yield server
    finally:
        server.stop()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def _owner(self) -> HelmRepoServer:
        owner: HelmRepoServer = self.server.owner  # type: ignore[attr-defined]
        return owner

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        owner = self._owner
        name = unquote(urlsplit(self.path).path).lstrip("/")
        authorized = owner._authorized(self.headers.get("Authorization", ""))
        if not authorized:
            self._answer(401, name, {"WWW-Authenticate": f'Basic realm="{REALM}"'}, authorized)
            return
        path = owner.root / name
        if "/" in name or name.startswith(".") or not path.is_file():
            self._answer(404, name, {}, authorized)
            return
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        if owner.validators and self._unchanged(etag, path.stat().st_mtime):
            self._answer(304, name, {"ETag": etag, "Last-Modified": modified}, authorized)
            return
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        if owner.validators:
            headers |= {"ETag": etag, "Last-Modified": modified}
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self._send(data, owner.slow_seconds)
        owner._record(HelmRepoRequest(self.command, name, 200, body, authorized))

    def _send(self, data: bytes, seconds: float) -> None:
        if seconds <= 0:
            self.wfile.write(data)
            return
        piece = max(len(data) // 8, 1)
        for start in range(0, len(data), piece):
            self.wfile.write(data[start : start + piece])
            self.wfile.flush()
            time.sleep(seconds / 8)

    def _unchanged(self, etag: str, mtime: float) -> bool:
        match = self.headers.get("If-None-Match")
        if match is not None:
            return etag in [tag.strip() for tag in match.split(",")]
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            return int(mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False

    def _answer(self, status: int, name: str, headers: dict[str, str], authorized: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self._owner._record(HelmRepoRequest(self.command, name, status, False, authorized))
