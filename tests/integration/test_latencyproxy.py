"""bench.latencyproxy over real loopback sockets: bytes intact and in order, closes passed on."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.latencyproxy import LatencyProxy

TIMEOUT = 30.0
Handler = Callable[[socket.socket], None]


def read_all(sock: socket.socket) -> bytes:
    """Everything ``sock`` receives until the end of stream."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class OneShotServer:
    """A listener on loopback that hands its first connection to ``handler`` in a thread."""

    def __init__(self, handler: Handler) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(handler,), daemon=True)
        self.thread.start()

    def _run(self, handler: Handler) -> None:
        try:
            self.listener.settimeout(TIMEOUT)
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                handler(conn)
        except BaseException as exc:  # reported by join(), in the test's thread
            self.error = exc

    def join(self) -> None:
        self.thread.join(TIMEOUT)
        self.listener.close()
        assert not self.thread.is_alive(), "server handler did not finish"
        if self.error is not None:
            raise self.error


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Callable[[Handler], tuple[OneShotServer, socket.socket]]]:
    """Start a server with ``handler`` behind a 20 ms proxy; give the server and a client socket."""
    started: list[tuple[LatencyProxy, socket.socket]] = []

    def start(handler: Handler) -> tuple[OneShotServer, socket.socket]:
        server = OneShotServer(handler)
        proxy = LatencyProxy(server.port, rtt_ms=20, log=tmp_path / "proxy.log")
        port = proxy.start()
        client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        started.append((proxy, client))
        return server, client

    yield start
    for proxy, client in started:
        client.close()
        proxy.stop()


def test_large_payload_arrives_intact_in_order_both_ways(
    proxied: Callable[[Handler], tuple[OneShotServer, socket.socket]],
) -> None:
    payload = os.urandom(8 * 1024 * 1024)  # many chunks, past the proxy's buffer limit
    received: list[bytes] = []

    def echo(conn: socket.socket) -> None:
        got = bytearray()
        while chunk := conn.recv(65536):
            got += chunk
            conn.sendall(chunk)
        received.append(bytes(got))  # the client's half close arrived; leaving closes ours

    server, client = proxied(echo)

    def send() -> None:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)

    # Send from a thread: the echo must be read meanwhile, or both directions fill up.
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    echoed = read_all(client)  # ends only when the proxy passes on the server's close
    sender.join(TIMEOUT)
    server.join()
    assert received == [payload]
    assert echoed == payload


def test_client_close_reaches_server(
    proxied: Callable[[Handler], tuple[OneShotServer, socket.socket]],
) -> None:
    heard: list[bytes] = []
    server, client = proxied(lambda conn: heard.append(read_all(conn)))
    client.sendall(b"last words")
    client.close()
    server.join()  # read_all returned: the server saw the end of stream
    assert heard == [b"last words"]


def test_server_close_reaches_client(
    proxied: Callable[[Handler], tuple[OneShotServer, socket.socket]],
) -> None:
    server, client = proxied(lambda conn: conn.sendall(b"goodbye"))
    assert read_all(client) == b"goodbye"
    server.join()


def test_unreachable_target_closes_client(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = int(probe.getsockname()[1])  # closed again below: nothing listens there
    with LatencyProxy(port, log=tmp_path / "proxy.log") as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT)
        with client:
            assert read_all(client) == b""
    assert "connect 127.0.0.1" in (tmp_path / "proxy.log").read_text()
