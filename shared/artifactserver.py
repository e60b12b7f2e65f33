"""Serve the artifact directory over HTTP, read-only, as source-controller's storage server does.

Source workers write artifacts under ``settings.artifact_dir``; kustomize and
helm workers on any machine fetch them from ``settings.artifact_url``. The
server answers GET and HEAD for regular files inside the root and nothing
else: no listings, no writes, and no path that leaves the root, whether by
``..`` (plain or percent-encoded), an absolute path, or a symlink.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mimetypes
import os
import shutil
import socket
import stat
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

__all__ = ["ArtifactServer", "ArtifactServerError", "serve_artifacts"]

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_TYPES = {".tar.gz": "application/gzip", ".tgz": "application/gzip", ".gz": "application/gzip"}


class ArtifactServerError(RuntimeError):
    """The artifact server could not bind its address."""


class ArtifactServer(ThreadingHTTPServer):
    """A threaded HTTP server whose handler serves files under ``root``."""

    daemon_threads = True
    root: Path
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server, with the port it actually bound."""
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def close(self) -> None:
        """Stop serving and release the port."""
        if self.thread is not None:
            self.shutdown()
            self.thread.join(timeout=5)
            self.thread = None
        self.server_close()


class _IPv6ArtifactServer(ArtifactServer):
    address_family = socket.AF_INET6


def _content_type(name: str) -> str:
    for suffix, kind in _TYPES.items():
        if name.endswith(suffix):
            return kind
    guessed, encoding = mimetypes.guess_type(name)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    return guessed


def _relative_parts(raw_path: str) -> list[str] | None:
    """The path's segments under the root; None when the path is malformed or climbs up."""
    # Origin-form only ("/a/b?q"): "//host/x" and absolute URLs are refused, not reinterpreted.
    path = raw_path.partition("?")[0].partition("#")[0]
    if not path.startswith("/") or path.startswith("//"):
        return None
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\0" in decoded or "\\" in decoded:
        return None
    parts = [p for p in decoded.split("/") if p]
    # Refused rather than normalised: a client asking for ".." is never legitimate.
    if any(p in (".", "..") for p in parts):
        return None
    return parts


class _Handler(BaseHTTPRequestHandler):
    server: ArtifactServer
    protocol_version = "HTTP/1.1"
    server_version = "sluice-artifacts"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _refuse_method(self) -> None:
        # The request body is never read, so the connection cannot carry another request.
        self.close_connection = True
        extra = {"Allow": "GET, HEAD", "Connection": "close"}
        self._fail(HTTPStatus.METHOD_NOT_ALLOWED, extra=extra)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _fail(self, status: HTTPStatus, *, extra: dict[str, str] | None = None) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _open(self) -> tuple[int, os.stat_result, str] | HTTPStatus:
        """An open descriptor of the requested regular file, or the status to answer with."""
        parts = _relative_parts(self.path)
        if parts is None:
            return HTTPStatus.BAD_REQUEST
        if not parts:
            return HTTPStatus.NOT_FOUND  # the root is a directory, never listed
        root = self.server.root
        try:
            target = root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):
            return HTTPStatus.NOT_FOUND
        if not target.is_relative_to(root):
            return HTTPStatus.FORBIDDEN
        try:
            # resolve() removed every symlink; O_NOFOLLOW refuses one swapped in since.
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            return HTTPStatus.FORBIDDEN if exc.errno == errno.ELOOP else HTTPStatus.NOT_FOUND
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return HTTPStatus.NOT_FOUND  # directories are never listed
        return fd, info, parts[-1]

    def _serve(self, *, body: bool) -> None:
        opened = self._open()
        if isinstance(opened, HTTPStatus):
            self._fail(opened)
            return
        fd, info, name = opened
        with os.fdopen(fd, "rb") as file:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", _content_type(name))
            self.send_header("Content-Length", str(info.st_size))
            self.send_header("Last-Modified", formatdate(info.st_mtime, usegmt=True))
            self.end_headers()
            if body:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    shutil.copyfileobj(file, self.wfile, _CHUNK)


def serve_artifacts(
    directory: Path, *, host: str = "127.0.0.1", port: int = 9090
) -> ArtifactServer:
    """Bind ``host:port`` (0 picks a free port) and serve ``directory`` from a background thread."""
    directory.mkdir(parents=True, exist_ok=True)
    server_class = _IPv6ArtifactServer if ":" in host else ArtifactServer
    try:
        server = server_class((host, port), _Handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ArtifactServerError(
                f"port {port} on {host} (artifact server) is in use by another process"
            ) from exc
        raise ArtifactServerError(f"artifact server cannot bind {host}:{port}: {exc}") from exc
    server.root = directory.resolve()
    server.thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},  # how long close() waits for the loop to notice
        name="artifact-server",
        daemon=True,
    )
    server.thread.start()
    return server
