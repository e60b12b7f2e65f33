"""Start and stop a set of child processes as one unit, restarting any that die.

Each child runs in its own session (so its own process group, away from the
terminal's Ctrl-C): the supervisor decides when children stop, and killing a
group also takes the processes a child forked (Celery's pool). A child that
exits is checked with ``waitid(WNOWAIT)`` first and reaped only after its
group was killed, so its pid, and with it the group id, cannot be reused by
an unrelated process in between. No child is left a zombie.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Child", "Supervisor", "SupervisorError"]

log = logging.getLogger(__name__)

# Seconds a child without a ready check must run before it counts as started.
_GRACE = 1.0


class SupervisorError(RuntimeError):
    """A child exited or did not become ready while starting (the message has its log tail)."""


@dataclass
class Child:
    """One supervised command, its current process and its log file."""

    name: str
    argv: tuple[str, ...]
    log: Path
    env: Mapping[str, str] | None = None
    ready: Callable[[Child], bool] | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    # Consecutive short-lived runs, for the restart backoff.
    failures: int = 0
    restart_at: float | None = None
    log_offset: int = field(default=0, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        """Whether the current process has not exited (without reaping it)."""
        return self.process is not None and _exit_status(self.process) is None

    def output(self) -> str:
        """What the current process has written to its log since it started."""
        try:
            with self.log.open("rb") as file:
                file.seek(self.log_offset)
                return file.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 20) -> str:
        """The last lines of the current process's output."""
        text = self.output().splitlines()[-lines:]
        return "\n".join(text) if text else f"(nothing in {self.log})"


def _exit_status(process: subprocess.Popen[bytes]) -> int | None:
    """The exit code of an exited child, leaving it unreaped; None while it runs."""
    if process.returncode is not None:
        return process.returncode
    try:
        result = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return process.poll()
    if result is None:
        return None
    if result.si_code == os.CLD_EXITED:
        return result.si_status
    return -result.si_status


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Supervisor:
    """Named children started in order, restarted when they die, stopped in reverse order."""

    def __init__(
        self,
        log_dir: Path,
        *,
        on_event: Callable[[str], None] | None = None,
        backoff: tuple[float, float] = (1.0, 30.0),
        stable_after: float = 30.0,
    ) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self._on_event = on_event or log.warning
        self._backoff = backoff
        self._stable_after = stable_after

    def add(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        ready: Callable[[Child], bool] | None = None,
    ) -> Child:
        """Register a child (started by ``start``); ``ready`` tells when it serves."""
        if any(c.name == name for c in self.children):
            raise ValueError(f"child {name!r} is already supervised")
        child = Child(name, tuple(argv), self.log_dir / f"{name}.log", env, ready)
        self.children.append(child)
        return child

    def child(self, name: str) -> Child:
        """The child registered as ``name``."""
        for child in self.children:
            if child.name == name:
                return child
        raise KeyError(name)

    def _spawn(self, child: Child) -> None:
        child.log.parent.mkdir(parents=True, exist_ok=True)
        with child.log.open("ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} start {child.name}\n".encode())
            out.flush()
            child.log_offset = out.tell()
            child.process = subprocess.Popen(
                child.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(child.env) if child.env is not None else None,
                start_new_session=True,
            )
        child.started_at = time.monotonic()
        child.restart_at = None

    def start(self, *, timeout: float = 60.0, stop: threading.Event | None = None) -> bool:
        """Start every child, then wait until all are ready; False when ``stop`` was set first.

        A child that exits or is not ready within ``timeout`` seconds raises
        SupervisorError; the caller then calls ``stop()`` to end the others.
        """
        for child in self.children:
            self._spawn(child)
        deadline = time.monotonic() + timeout
        waiting = list(self.children)
        problems: dict[str, str] = {}
        while waiting:
            if stop is not None and stop.is_set():
                return False
            # Every child, ready or not: one that dies while others start is a failed start.
            for child in self.children:
                assert child.process is not None
                code = _exit_status(child.process)
                if code is not None:
                    raise SupervisorError(
                        f"{child.name} exited with code {code} while starting "
                        f"(log {child.log}):\n{child.tail()}"
                    )
            waiting = [c for c in waiting if not self._is_ready(c, problems)]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(c.name for c in waiting)
                details = "\n".join(
                    f"--- {c.name} ({problems.get(c.name, 'not ready')}; log {c.log}):\n{c.tail()}"
                    for c in waiting
                )
                raise SupervisorError(f"not ready after {timeout:.0f}s: {names}\n{details}")
            time.sleep(0.1)
        return True

    @staticmethod
    def _is_ready(child: Child, problems: dict[str, str]) -> bool:
        if child.ready is None:
            # Without a probe, surviving its first moments is the best sign there is.
            return time.monotonic() - child.started_at >= _GRACE
        try:
            return child.ready(child)
        except Exception as exc:  # a probe error means "not yet"; kept for the time-out message
            problems[child.name] = f"{type(exc).__name__}: {exc}"
            return False

    def poll(self) -> None:
        """One supervision pass: notice children that exited, restart those whose delay passed."""
        now = time.monotonic()
        for child in self.children:
            if child.process is None:
                continue
            if child.restart_at is None:
                code = _exit_status(child.process)
                if code is None:
                    continue
                self._reap(child)
                ran = now - child.started_at
                child.failures = child.failures + 1 if ran < self._stable_after else 1
                base, most = self._backoff
                delay = min(most, base * 2 ** (child.failures - 1))
                child.restart_at = now + delay
                self._on_event(
                    f"{child.name} (pid {child.process.pid}) exited with code {code} after "
                    f"{ran:.1f}s; restarting in {delay:.0f}s (log {child.log})"
                )
            elif now >= child.restart_at:
                self._spawn(child)
                child.restarts += 1
                self._on_event(f"{child.name} restarted as pid {child.pid}")

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float = 0.5,
        tick: Callable[[], None] | None = None,
    ) -> None:
        """Supervise until ``stop`` is set, calling ``tick`` after every pass."""
        while not stop.wait(interval):
            self.poll()
            if tick is not None:
                tick()

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM each child (last started first), wait, then SIGKILL what is left of each."""
        live = [c for c in reversed(self.children) if c.process is not None]
        for child in live:
            assert child.process is not None
            if _exit_status(child.process) is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        pending = list(live)
        while pending and time.monotonic() < deadline:
            pending = [c for c in pending if c.running()]
            if pending:
                time.sleep(0.05)
        for child in pending:
            self._on_event(f"{child.name} (pid {child.pid}) ignored SIGTERM for {timeout:.0f}s")
        for child in live:
            self._reap(child)
            child.process = None
            child.restart_at = None

    @staticmethod
    def _reap(child: Child) -> None:
        """Kill what is left of the child's group (pool processes, a hung leader), then reap it."""
        if child.process is None or child.process.returncode is not None:
            return
        _kill_group(child.process.pid, signal.SIGKILL)
        child.process.wait()
