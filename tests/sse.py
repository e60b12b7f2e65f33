"""Test helpers for the event stream: its server under real uvicorn, an SSE reader on httpx."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from tests.helpers import eventually

__all__ = ["Frame", "SseReader", "serve", "subscribe"]


@contextmanager
def serve(routes: list[BaseRoute]) -> Iterator[str]:
    """A Starlette app of ``routes`` under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        Starlette(routes=routes),
        log_level="warning",
        lifespan="off",
        # Event streams never end by themselves: stop them at shutdown.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, 20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@dataclass
class Frame:
    """One dispatched SSE frame: its fields, and the comment lines before it."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None, f"frame {self} has no data"
        return json.loads(self.data)


class SseReader:
    """Frames of one open event stream, in order; tracks the last id as an EventSource does."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.last_id: str | None = None
        self._lines = response.iter_lines()

    def frame(self) -> Frame:
        """The next frame (a blank line ends it)."""
        frame = Frame()
        for line in self._lines:
            if not line:
                if frame.id is not None:
                    self.last_id = frame.id
                return frame
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if not name:
                frame.comments.append(value)
            else:
                setattr(frame, name, value)
        raise EOFError("the event stream ended")

    def ready(self) -> str:
        """Wait for the position frame that follows the start; return its id."""
        while True:
            frame = self.frame()
            if frame.id is not None:
                assert frame.data is None, f"an event before the position: {frame}"
                return frame.id

    def event(self, timeout: float = 60.0) -> Frame:
        """The next frame that carries data (an event or a gap), skipping heartbeats."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.frame()
            if frame.data is not None:
                return frame
        raise AssertionError(f"no event within {timeout}s")

    def events(self, count: int) -> list[Frame]:
        """The next ``count`` frames that carry data."""
        return [self.event() for _ in range(count)]


@contextmanager
def subscribe(
    base: str,
    *,
    params: list[tuple[str, str]] | None = None,
    last_id: str | None = None,
    token: str | None = None,
) -> Iterator[SseReader]:
    """An open ``GET /events`` stream, positioned; fails unless the server answers 200."""
    headers = {"Accept": "text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    timeout = httpx.Timeout(60.0, connect=10.0)
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream("GET", f"{base}/events", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200, response.read().decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        reader.ready()
        yield reader
