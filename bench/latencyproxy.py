"""A TCP proxy on loopback that adds a fixed round trip, as a remote cluster's network would.

    python -m bench.latencyproxy --target 127.0.0.1:6443 [--rtt-ms 20] [--port 0]

Every chunk read from one side is written to the other ``rtt / 2`` later, in
the order it was read; chunks in flight overlap, so a stream is delayed but not
slowed down to one chunk per delay. It moves TCP bytes, so TLS passes through
untouched. An end of stream is passed on (after the same delay) as a half
close; once both directions ended, or one side is gone, both sockets close.
Connection set-up itself is not delayed. The child prints ``listening
127.0.0.1:<port>`` once it serves and exits when its stdin closes, so it never
outlives the benchmark that started it. ``LatencyProxy`` runs it for a ``with``
block, as a process of its own: its CPU shows apart and it shares no GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from types import TracebackType

__all__ = ["DEFAULT_RTT_MS", "LatencyProxy", "main", "serve"]

DEFAULT_RTT_MS = 20.0
# Past this many bytes waiting in one direction, stop reading that side (TCP backpressure).
_HIGH_WATER = 4 * 1024 * 1024
_READY = "listening "


class _Side(asyncio.Protocol):
    """One socket of a proxied connection; what it reads is written to ``peer`` after ``delay``."""

    def __init__(self, delay: float, target: tuple[str, int] | None = None) -> None:
        self.delay = delay
        self.target = target  # set on the accepted side: where to connect its peer
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        # Chunks read from this side, due to be written to the peer; None is the end of stream.
        self.pending: deque[tuple[float, bytes | None]] = deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.peer_full = False  # the peer's write buffer is over its limit
        self.ended = False  # the end of stream was read (or the socket is gone)
        self.finished = False  # ... and has been passed on to the peer
        self.lost = False

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.target is not None:
            self.loop.create_task(self._connect(*self.target))

    def data_received(self, data: bytes) -> None:
        self.pending.append((self.loop.time() + self.delay, data))
        self.queued += len(data)
        self._arm()
        self._update_reading()

    def eof_received(self) -> bool:
        self._end()
        return True  # keep our write half open: the peer may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._end()

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.peer_full = True
            self.peer._update_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.peer_full = False
            self.peer._update_reading()

    # -- the delayed pipe ------------------------------------------------------

    async def _connect(self, host: str, port: int) -> None:
        try:
            await self.loop.create_connection(lambda: _Connected(self.delay, self), host, port)
        except OSError as exc:
            print(f"connect {host}:{port}: {exc}", file=sys.stderr, flush=True)
            self.pending.clear()
            if self.transport is not None:
                self.transport.close()

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self.pending.append((self.loop.time() + self.delay, None))
            self._arm()

    def _arm(self) -> None:
        # One timer per direction, for the oldest chunk; _flush re-arms for the next one.
        if self.timer is None and self.pending and self.peer is not None:
            self.timer = self.loop.call_at(self.pending[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        peer = self.peer
        assert peer is not None and peer.transport is not None
        until = max(self.loop.time(), self.pending[0][0])
        while self.pending and self.pending[0][0] <= until:
            data = self.pending.popleft()[1]
            if data is None:
                self._finish(peer)
            elif not peer.transport.is_closing():
                peer.transport.write(data)
                self.queued -= len(data)
            else:  # the peer is gone: drop what it can no longer take
                self.queued -= len(data)
        self._arm()
        self._update_reading()

    def _finish(self, peer: _Side) -> None:
        assert peer.transport is not None and self.transport is not None
        self.finished = True
        if self.lost or peer.finished or not peer.transport.can_write_eof():
            peer.transport.close()
            self.transport.close()
        elif not peer.transport.is_closing():
            peer.transport.write_eof()

    def _update_reading(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.queued > _HIGH_WATER or self.peer_full:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()


class _Connected(_Side):
    """The side the proxy connected to: paired with the accepted side as soon as it is up."""

    def __init__(self, delay: float, peer: _Side) -> None:
        super().__init__(delay)
        self.peer = peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.peer is not None
        self.peer.peer = self
        self.peer._arm()  # what the client sent while we connected


async def serve(target: tuple[str, int], *, rtt_ms: float, port: int = 0) -> None:
    """Proxy 127.0.0.1:``port`` to ``target`` with ``rtt_ms`` added; announce the port; run."""
    loop = asyncio.get_running_loop()
    delay = rtt_ms / 2000.0
    server = await loop.create_server(lambda: _Side(delay, target), "127.0.0.1", port)
    stop: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    def stdin_readable() -> None:
        if not os.read(0, 4096):  # the parent is gone, or closed our stdin
            finish()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish)
    # A file or /dev/null as stdin cannot be watched (epoll refuses it): run until a signal.
    with contextlib.suppress(OSError, ValueError):
        loop.add_reader(0, stdin_readable)
    bound = server.sockets[0].getsockname()[1]
    print(f"{_READY}127.0.0.1:{bound}", flush=True)
    async with server:
        await stop


def main(argv: list[str] | None = None) -> int:
    """The command line: ``--target HOST:PORT``, ``--rtt-ms``, ``--port``."""
    parser = argparse.ArgumentParser(prog="latencyproxy", description="delaying TCP proxy")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--rtt-ms", type=float, default=DEFAULT_RTT_MS, help="added round trip")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any)")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    asyncio.run(serve((host or "127.0.0.1", int(port)), rtt_ms=args.rtt_ms, port=args.port))
    return 0


class LatencyProxy:
    """``python -m bench.latencyproxy`` in a child process of its own session, for a ``with``."""

    def __init__(
        self,
        target_port: int,
        *,
        rtt_ms: float = DEFAULT_RTT_MS,
        target_host: str = "127.0.0.1",
        log: Path | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.rtt_ms = rtt_ms
        self.log = log
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        """The proxy's process id while it runs."""
        return None if self.process is None else self.process.pid

    def start(self, timeout: float = 10.0) -> int:
        """Start the proxy; return the port it listens on, once it does."""
        argv = [sys.executable, "-m", "bench.latencyproxy", "--rtt-ms", str(self.rtt_ms),
                "--target", f"{self.target[0]}:{self.target[1]}"]  # fmt: skip
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log or os.devnull, "a") as errors:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
                cwd=Path(__file__).resolve().parents[1], start_new_session=True,
            )  # fmt: skip
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line.startswith(_READY):
            self.stop()
            raise RuntimeError(f"latency proxy to {self.target} did not start (log: {self.log})")
        self.port = int(line.rsplit(":", 1)[1])
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the proxy (closing its stdin is enough; SIGKILL if it lingers)."""
        process, self.process = self.process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def __enter__(self) -> LatencyProxy:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
