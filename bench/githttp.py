"""A read-only smart-HTTP Git server for the benchmark's repositories (``git http-backend``).

Flux's source-controller refuses ``file://`` URLs, so when the benchmark runs
Flux beside sluice it serves each scenario's bare repositories over HTTP on
loopback, and both tools fetch the same URL. Every request runs
``git http-backend`` as a CGI script, as a web server in front of a Git host
would; only fetches are served (no push: the benchmark pushes over the file
system). The server runs in a thread of the benchmark process, so its CPU is
counted for neither tool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["GitHttpServer"]

_COPY_CHUNK = 64 * 1024


class GitHttpServer:
    """Serves every bare repository under ``root`` at ``http://127.0.0.1:<port>/<name>.git``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("GitHttpServer is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url_for(self, bare: Path) -> str:
        """The URL of the bare repository ``bare`` (a folder under ``root``)."""
        return f"{self.url}/{bare.resolve().relative_to(self.root).as_posix()}"

    def start(self) -> None:
        """Bind a free loopback port and serve from a daemon thread."""
        self.root.mkdir(parents=True, exist_ok=True)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.root = self.root  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name="git-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class _Handler(BaseHTTPRequestHandler):
    """Runs ``git http-backend`` for one request and relays its answer."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a benchmark has no use for an access log."""

    def _serve(self) -> None:
        root: Path = self.server.root  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        if split.path.endswith("git-receive-pack") or "git-receive-pack" in split.query:
            self.send_error(403, "read-only")
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_PROJECT_ROOT=str(root),
            GIT_HTTP_EXPORT_ALL="1",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            # The repositories belong to whoever runs the benchmark; no ownership check.
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="safe.directory",
            GIT_CONFIG_VALUE_0="*",
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.1",
            REQUEST_METHOD=self.command,
            PATH_INFO=unquote(split.path),
            QUERY_STRING=split.query,
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            REMOTE_ADDR=self.client_address[0],
        )
        for name in ("Git-Protocol", "Content-Encoding"):
            if (value := self.headers.get(name)) is not None:
                env["HTTP_" + name.upper().replace("-", "_")] = value
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = self._read_chunked()
        env["CONTENT_LENGTH"] = str(len(body))
        done = subprocess.run(
            [shutil.which("git") or "git", "http-backend"],
            input=body,
            capture_output=True,
            env=env,
            check=False,
            timeout=60,
        )
        head, payload = _split_cgi(done.stdout)
        if head is None:
            self.send_error(500, done.stderr.decode(errors="replace")[:200])
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _sep, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        for start in range(0, len(payload), _COPY_CHUNK):
            self.wfile.write(payload[start : start + _COPY_CHUNK])

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(parts)


def _split_cgi(output: bytes) -> tuple[bytes | None, bytes]:
    """A CGI answer's header block and body (the blank line may be CRLF or LF)."""
    found = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := output.find(sep)) >= 0]
    if not found:
        return None, b""
    at, width = min(found)
    return output[:at], output[at + width :]
