"""One way to run a test HTTP server on loopback in a background thread, and stop it."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["BackgroundServer"]


@dataclass
class BackgroundServer:
    """A ThreadingHTTPServer serving from a daemon thread; ``owner`` is reachable from handlers."""

    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @classmethod
    def start(
        cls,
        handler: type[BaseHTTPRequestHandler],
        *,
        port: int,
        owner: object,
        name: str,
        tls: ssl.SSLContext | None = None,
    ) -> BackgroundServer:
        """Bind 127.0.0.1:``port`` (0: a free one) and serve; handlers read ``server.owner``.

        With ``tls``, connections are HTTPS; each handshake runs in its
        request's thread, so one stalled client never holds up accept().
        """
        httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        httpd.daemon_threads = True
        if tls is not None:
            httpd.socket = tls.wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        httpd.owner = owner  # type: ignore[attr-defined]
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name=name, daemon=True)
        thread.start()
        return cls(httpd, thread)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
