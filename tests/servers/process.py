"""Start, watch and stop the server processes behind the test servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "ServerStartError",
    "port_open",
    "start_process",
    "stop_process",
    "wait_until_ready",
]


class ServerStartError(RuntimeError):
    """A test server process exited early or did not become ready in time."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_process(
    argv: list[str], *, log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group with stdout and stderr going to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        # Its own session, so stop_process can end the forked per-connection children too.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    what: str,
    log_path: Path,
    timeout: float = 15.0,
) -> None:
    """Poll ``ready`` until true; on early exit or timeout, fail with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"{what} exited with code {process.returncode}:\n{_tail(log_path)}"
            )
        if ready():
            return
        time.sleep(0.05)
    stop_process(process)
    raise ServerStartError(f"{what} not ready after {timeout:.0f}s:\n{_tail(log_path)}")


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    """Stop ``process`` and its process group: SIGTERM first, SIGKILL if it lingers."""
    if process is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children of the group may outlive the leader by a moment; make sure none stay behind.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(log_path: Path, lines: int = 30) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
