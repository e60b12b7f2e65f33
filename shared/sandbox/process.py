"""Background processes for the sandbox: start detached, check, stop, read their logs."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from shared.redisserver import free_port

__all__ = [
    "PortInUseError",
    "SandboxError",
    "StartupError",
    "alive",
    "check_port_free",
    "free_ports",
    "log_tail",
    "spawn",
    "stop",
]


class SandboxError(RuntimeError):
    """The sandbox control plane could not do what was asked.

    SandboxError
    ├── PortInUseError   a port the sandbox needs is taken
    └── StartupError     etcd or a kube-apiserver did not come up (message has its log tail)

    A missing etcd or kube-apiserver raises ``shared.tools.ToolMissingError``.
    """


class PortInUseError(SandboxError):
    """A loopback port the sandbox needs is already taken."""


class StartupError(SandboxError):
    """A sandbox process exited or did not become ready in time."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that nothing listens on right now."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def check_port_free(port: int, what: str) -> None:
    """Raise PortInUseError when ``port`` on 127.0.0.1 cannot be bound."""
    with socket.socket() as sock:
        # Go listeners set SO_REUSEADDR, so connections in TIME_WAIT from an
        # earlier run on this port must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUseError(
                f"port {port} on 127.0.0.1 ({what}) is in use by another process"
            ) from exc


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session with output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        # A new session keeps a terminal's Ctrl-C away from the servers, and
        # lets them outlive the command that started them.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


# The parent of every kernel thread; a kernel thread has no command line.
_KTHREADD = 2


def _proc_state(pid: int) -> tuple[str, int, list[str]] | None:
    """(state letter, parent pid, argv) from /proc; None when /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    state, ppid = stat.rsplit(")", 1)[-1].split()[:2]
    return state, int(ppid), [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int, binary: str) -> bool:
    """True when ``pid`` is still running ``binary`` (so a reused pid is never signalled)."""
    try:
        # Reap it if it is our own exited child, so it does not linger as a zombie.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = _proc_state(pid)
    if proc is None:
        return True
    state, ppid, argv = proc
    # A zombie whose parent never reaps it (a container's init) is gone too.
    if state in ("Z", "X"):
        return False
    if not argv:
        # Popen returns once exec has begun, before the kernel has set up the new
        # program's arguments: for that moment the command line reads empty (seen
        # about 1 spawn in 40 of kube-apiserver under load). Only a kernel thread
        # has none for good.
        return pid != _KTHREADD and ppid != _KTHREADD
    return argv[0] == binary


def stop(pids: dict[int, str], *, timeout: float = 15.0, kill: bool = False) -> None:
    """Stop processes (pid -> binary) together: SIGTERM, then SIGKILL after ``timeout``."""
    running = {pid: binary for pid, binary in pids.items() if alive(pid, binary)}
    _signal(running, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = kill
    while running:
        running = {pid: b for pid, b in running.items() if alive(pid, b)}
        if not running:
            return
        if time.monotonic() > deadline:
            if killed:
                raise SandboxError(f"processes {sorted(running)} survived SIGKILL")
            _signal(running, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + 5.0
        time.sleep(0.05)


def _signal(pids: dict[int, str], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def log_tail(log: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, or a note that it is empty."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"({log} is empty)"
