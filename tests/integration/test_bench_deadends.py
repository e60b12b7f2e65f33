"""bench.deadends on loopback: a refusing port refuses, a silent server never answers."""

from __future__ import annotations

import time

import httpx
import pytest

from bench.deadends import SilentServer, refusing_url


def test_a_refusing_url_refuses_every_connection() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.post(refusing_url(), content=b"{}", timeout=5.0)


def test_the_silent_server_takes_the_request_and_never_answers() -> None:
    with SilentServer() as silent:
        began = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(silent.url, content=b'{"a": 1}', timeout=1.0)
        # The client gave up at its own timeout, not at a refusal or a reset.
        assert time.monotonic() - began >= 1.0
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(silent.url, content=b"{}", timeout=0.5)
        assert silent.connections == 2
    # Stopped: its port refuses now, and stopping did not wait on the open connections.
    with pytest.raises(httpx.ConnectError):
        httpx.post(silent.url, content=b"{}", timeout=5.0)
