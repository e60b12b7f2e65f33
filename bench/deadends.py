"""Endpoints that never take a notice: a port that refuses, and a server that never answers.

The alerts scenario points a Provider at one of these beside a live sink, to
show that a dead endpoint holds back only its own notices. Both live in the
benchmark process, on loopback.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from shared.redisserver import free_port

__all__ = ["SilentServer", "refusing_url"]


def refusing_url() -> str:
    """An http URL on a loopback port that nothing listens on: every connect is refused."""
    return f"http://127.0.0.1:{free_port()}/refused"


class SilentServer:
    """Accepts TCP connections, reads what comes and never answers: a hung endpoint.

    ``connections`` counts the connections it accepted (each one a try that
    ended in the client's timeout). Use as ``with SilentServer() as silent: ...``.
    """

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)

    @property
    def url(self) -> str:
        """Its http URL."""
        return f"http://127.0.0.1:{self.port}/hung"

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError):  # wakes the accept() (a close alone may not)
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:  # closed: the server stops
                return
            with self._lock:
                self.connections += 1
                self._held.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        # Read and drop the request so the client's send never blocks; answer nothing.
        try:
            while conn.recv(65536):
                pass
        except OSError:
            return
