"""Smart HTTP Git server for tests: `git http-backend` behind Basic or Bearer auth."""

from __future__ import annotations

import base64
import contextlib
import hmac
import io
import shutil
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.servers.background import BackgroundServer
from tests.servers.git import BareRepo, repo_name, server_git_env

__all__ = ["GitHttpRequest", "GitHttpServer"]

REALM = "sluice-test-git"
COPY_CHUNK = 64 * 1024
HEAD_BYTES = 512
NOT_FORWARDED = {"authorization", "proxy-authorization", "content-type", "content-length"}


@dataclass(frozen=True)
class GitHttpRequest:
    """One answered request.

    ``kind`` is "info/refs", "rpc" or "other"; for an rpc, ``command`` is what it asked:
    "ls-refs" or "fetch" (upload-pack, protocol v2 or v0) or "push" (receive-pack).
    """

    method: str
    path: str
    kind: str
    service: str
    command: str
    status: int
    user: str
    auth: str
    time: float


@dataclass
class GitHttpServer:
    """Serves every repository under ``base_dir``; requires auth when credentials are set."""

    base_dir: Path
    username: str | None = None
    password: str | None = None
    token: str | None = None
    _records: list[GitHttpRequest] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: BackgroundServer | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _port: int = field(default=0, init=False, repr=False)

    @property
    def port(self) -> int:
        """The TCP port the server listens on (or listened on, and will again, once stopped)."""
        if self._server is None:
            if self._port:
                return self._port
            raise RuntimeError("GitHttpServer is not started")
        return self._server.port

    @property
    def url(self) -> str:
        """The http:// URL of the base directory, without credentials."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_required(self) -> bool:
        """Whether requests without valid credentials get 401."""
        return self.username is not None or self.token is not None

    def url_for(self, repo: BareRepo | str) -> str:
        """The URL of ``repo`` without credentials, as a GitRepository spec.url holds it."""
        return f"{self.url}/{repo_name(self.base_dir, repo)}"

    def authenticated_url(self, repo: BareRepo | str) -> str:
        """The URL of ``repo`` with the Basic credentials in it, for the git CLI."""
        if self.username is None or self.password is None:
            return self.url_for(repo)
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"http://{user}:{password}@127.0.0.1:{self.port}/{repo_name(self.base_dir, repo)}"

    @property
    def requests(self) -> list[GitHttpRequest]:
        """A snapshot of every request answered so far, oldest first."""
        with self._lock:
            return list(self._records)

    def count(
        self,
        *,
        kind: str | None = None,
        service: str | None = None,
        status: int | None = None,
        method: str | None = None,
    ) -> int:
        """How many recorded requests match every given filter, e.g. ``kind="rpc"``."""
        return sum(
            1
            for r in self.requests
            if (kind is None or r.kind == kind)
            and (service is None or r.service == service)
            and (status is None or r.status == status)
            and (method is None or r.method == method)
        )

    def fetches(self) -> int:
        """Successful upload-pack requests that asked for objects (a clone or a real fetch)."""
        return sum(
            1
            for r in self.requests
            if r.service == "git-upload-pack" and r.command == "fetch" and r.status == 200
        )

    def reset(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._records.clear()

    def start(self) -> None:
        """Bind a free loopback port (the same one again after ``stop()``) and serve it."""
        self._log = (self.base_dir.parent / "git-http.log").open("ab")
        self._server = BackgroundServer.start(
            _Handler, port=self._port, owner=self, name="git-http"
        )
        self._port = self._server.port

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def check_auth(self, header: str | None) -> tuple[bool, str, str]:
        """Whether an Authorization header passes, the user name, and the scheme used."""
        if not self.auth_required:
            return True, "", "none"
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() == "basic" and self.username is not None and self.password is not None:
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False, "", "basic"
            ok = hmac.compare_digest(user, self.username) and hmac.compare_digest(
                password, self.password
            )
            return ok, user if ok else "", "basic"
        if scheme.lower() == "bearer" and self.token is not None:
            ok = hmac.compare_digest(value.strip(), self.token)
            return ok, "token" if ok else "", "bearer"
        return False, "", scheme.lower() or "none"

    def record(self, request: GitHttpRequest) -> None:
        """Append one answered request."""
        with self._lock:
            self._records.append(request)

    def backend_log(self) -> IO[bytes] | int:
        """Where http-backend's stderr goes."""
        return self._log if self._log is not None else subprocess.DEVNULL


class _Handler(BaseHTTPRequestHandler):
    """Checks credentials, then runs `git http-backend` as a CGI script for the request."""

    server_version = "sluice-test-git/1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the recorded requests are the log."""

    def _serve(self) -> None:
        owner: GitHttpServer = self.server.owner  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        kind, service = _classify(self.command, split.path, split.query)
        self._body_head = bytearray()
        ok, user, scheme = owner.check_auth(self.headers.get("Authorization"))
        if not ok:
            self._drain_body()
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Basic realm="{REALM}"')
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"authentication required\n")
            status = 401
        else:
            status = self._run_backend(owner, split.path, split.query, user)
        owner.record(
            GitHttpRequest(
                method=self.command,
                path=split.path,
                kind=kind,
                service=service,
                command=_rpc_command(kind, service, bytes(self._body_head), self.headers),
                status=status,
                user=user,
                auth=scheme,
                time=time.time(),
            )
        )

    def _run_backend(self, owner: GitHttpServer, path: str, query: str, user: str) -> int:
        env = server_git_env(
            {
                "GIT_PROJECT_ROOT": str(owner.base_dir.resolve()),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": unquote(path),
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "REMOTE_ADDR": self.client_address[0],
                "REMOTE_USER": user or "anonymous",
            }
        )
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = self.headers.get("Content-Length")
        if length is not None and not chunked:
            env["CONTENT_LENGTH"] = length
        for name, value in self.headers.items():
            # Git-Protocol and Content-Encoding reach http-backend this way, as under Apache.
            if name.lower() not in NOT_FORWARDED:
                env["HTTP_" + name.upper().replace("-", "_")] = value
        process = subprocess.Popen(
            [_git_binary(), "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=owner.backend_log(),
            env=env,
        )
        assert process.stdin is not None and process.stdout is not None
        # Feed the body from another thread: receive-pack may answer while still reading.
        feeder = threading.Thread(
            target=self._feed_body,
            args=(process.stdin, int(length or 0), chunked),
            daemon=True,
        )
        feeder.start()
        try:
            return self._relay_response(cast(io.BufferedReader, process.stdout))
        finally:
            feeder.join(timeout=30)
            process.stdout.close()
            process.wait(timeout=30)

    def _relay_response(self, stdout: io.BufferedReader) -> int:
        status, reason, headers = 200, "OK", []
        while line := stdout.readline():
            text = line.decode("latin-1").rstrip("\r\n")
            if not text:
                break
            name, _, value = text.partition(":")
            if name.lower() == "status":
                code, _, reason = value.strip().partition(" ")
                status = int(code)
            else:
                headers.append((name, value.strip()))
        self.send_response(status, reason or None)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        # HTTP/1.0: the body ends when the connection closes, so it streams without buffering.
        while chunk := stdout.read1(COPY_CHUNK):
            self.wfile.write(chunk)
        return status

    def _feed_body(self, stdin: IO[bytes], length: int, chunked: bool) -> None:
        try:
            for chunk in self._iter_chunks() if chunked else self._iter_fixed(length):
                if len(self._body_head) < HEAD_BYTES:
                    self._body_head += chunk[:HEAD_BYTES]
                stdin.write(chunk)
        except (BrokenPipeError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def _iter_fixed(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(COPY_CHUNK, remaining))
            if not chunk:
                return
            yield chunk
            remaining -= len(chunk)

    def _iter_chunks(self) -> Iterator[bytes]:
        """Decode a chunked request body as it arrives."""
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _drain_body(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            for _ in self._iter_chunks():
                pass
        elif length := int(self.headers.get("Content-Length") or 0):
            self.rfile.read(length)


def _classify(method: str, path: str, query: str) -> tuple[str, str]:
    if path.endswith("/info/refs"):
        return "info/refs", parse_qs(query).get("service", [""])[0]
    last = path.rsplit("/", 1)[-1]
    if method == "POST" and last in ("git-upload-pack", "git-receive-pack"):
        return "rpc", last
    return "other", ""


def _rpc_command(kind: str, service: str, head: bytes, headers: Message) -> str:
    """Which command an rpc body starts with, read from its first pkt-lines."""
    if kind != "rpc":
        return ""
    if service == "git-receive-pack":
        return "push"
    if headers.get("Content-Encoding", "").lower() in ("gzip", "x-gzip"):
        with contextlib.suppress(zlib.error):
            head = zlib.decompressobj(wbits=31).decompress(head)
    # Protocol v2 opens with "command=<name>"; a v0 upload-pack body always asks for objects.
    try:
        first = head[4 : int(head[:4], 16)].decode(errors="replace").rstrip("\n")
    except ValueError:
        first = ""
    return first.removeprefix("command=") if first.startswith("command=") else "fetch"


def _git_binary() -> str:
    return shutil.which("git") or "git"
