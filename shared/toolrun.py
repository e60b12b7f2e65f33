"""Run an external tool on content from Git or a registry, under memory, CPU and time caps.

kustomize, helm, sops and git read whatever a repository holds, and a few hundred
bytes of YAML aliases can make kustomize allocate without bound. Every such run
goes through ``run_tool``, which starts the tool under util-linux ``prlimit``:

- ``RLIMIT_DATA`` caps private writable memory. It is chosen over ``RLIMIT_AS``
  because Go reserves large address ranges it never touches; RLIMIT_DATA counts
  what is really allocated, so a Go tool dies with "cannot allocate memory" at the
  cap instead of failing at start. ``GOMEMLIMIT`` is set a little below the cap so
  Go's collector works harder before the cap is reached. Go does not always say
  so: about one run in forty its collector crashes (SIGSEGV, exit 2) when an
  allocation is refused. So a failed run whose peak resident memory came close to
  the cap (read from ``wait4``'s rusage) is also counted as a memory stop.
- ``RLIMIT_CPU`` caps CPU seconds (soft, then hard a few seconds later).
- the wall-clock timeout kills the tool's whole process group.
- the tool dies with the thread that started it (util-linux ``setpriv
  --pdeathsig``): the tool runs in a session of its own, so a worker killed
  with SIGKILL would otherwise leave it running, e.g. a ``helm upgrade`` that
  keeps its release locked and later writes over what the next worker did.

``prlimit`` sets the limits on itself and then execs the tool, so the caps hold
from the first instruction; Python's ``preexec_fn`` would do the same but is unsafe
in a threaded worker.

Measured with kustomize 5.8.2 on this project's 2-core machine: an honest build of
5,000 ConfigMaps (6 MB of YAML) peaks at 221 MB RSS and 5.7 s; a 510-byte alias bomb
reaches 1 GiB in under 6 s and keeps growing. The default cap (2 GiB, 300 CPU s)
leaves honest builds ten times their need and stops the bomb within seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.settings import Settings

__all__ = ["ToolLimitExceeded", "ToolLimits", "ToolRun", "run_tool"]

_MiB = 1024 * 1024
# Go's collector aims below this share of the cap, so garbage is freed before the cap.
_GOMEMLIMIT_SHARE = 0.8
# Grace between the soft CPU limit (SIGXCPU) and the hard one (SIGKILL).
_CPU_GRACE = 5
_MEMORY_MARKERS = ("cannot allocate memory", "out of memory", "memoryerror")
# A failed run whose peak RSS reached this share of the cap was stopped by it: Go
# tools peak at 77-80 % of the cap (GOMEMLIMIT), honest builds at a tenth of it.
_NEAR_CAP_SHARE = 0.7


@dataclass(frozen=True)
class ToolLimits:
    """Caps for one run: private memory in bytes, CPU seconds, wall-clock seconds."""

    memory_bytes: int
    cpu_seconds: int
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float) -> ToolLimits:
        """The installation's caps with this run's wall-clock timeout."""
        return cls(
            memory_bytes=settings.tool_memory_limit_mb * _MiB,
            cpu_seconds=settings.tool_cpu_seconds,
            timeout=timeout,
        )


class ToolLimitExceeded(Exception):
    """The tool hit a cap: ``cause`` is "memory", "cpu" or "time"; the message says which."""

    def __init__(self, tool: str, *, cause: str, limits: ToolLimits) -> None:
        caps = {
            "memory": f"its memory cap ({limits.memory_bytes // _MiB} MiB)",
            "cpu": f"its CPU-time cap ({limits.cpu_seconds} s)",
            "time": f"its time limit ({limits.timeout:g} s)",
        }
        super().__init__(f"{tool} was stopped: it exceeded {caps[cause]}")
        self.tool = tool
        self.cause = cause


@dataclass(frozen=True)
class ToolRun:
    """What a finished tool returned."""

    returncode: int
    stdout: bytes
    stderr: bytes


def _prlimit_argv(argv: Sequence[str], limits: ToolLimits) -> list[str]:
    # Found on the worker's PATH: the tool's own environment may have none.
    prlimit = shutil.which("prlimit") or "/usr/bin/prlimit"
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    cpu = f"{limits.cpu_seconds}:{limits.cpu_seconds + _CPU_GRACE}"
    return [
        setpriv,
        "--pdeathsig=KILL",
        prlimit,
        f"--data={limits.memory_bytes}",
        f"--cpu={cpu}",
        "--",
        *argv,
    ]


class _MeasuredPopen(subprocess.Popen[bytes]):
    """Popen that keeps the child's peak resident memory when it reaps it."""

    peak_rss_bytes = 0

    # Popen reaps the child in _try_wait with waitpid, which drops the rusage; this
    # is the one place to swap in wait4 without rewriting communicate().
    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid:
            self.peak_rss_bytes = usage.ru_maxrss * 1024  # KiB on Linux
        return pid, status


def _cause(
    returncode: int, stderr: bytes, *, peak_rss_bytes: int, limits: ToolLimits
) -> str | None:
    # The hard CPU limit is the only SIGKILL the caps send; Go reports SIGXCPU itself.
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL) or b"SIGXCPU" in stderr:
        return "cpu"
    if returncode == 0:
        return None
    text = stderr[-4096:].lower() + stderr[:4096].lower()
    if any(marker.encode() in text for marker in _MEMORY_MARKERS):
        return "memory"
    if peak_rss_bytes >= limits.memory_bytes * _NEAR_CAP_SHARE:
        return "memory"
    return None


def run_tool(
    argv: Sequence[str],
    *,
    limits: ToolLimits,
    env: Mapping[str, str],
    cwd: Path | None = None,
    input: bytes | None = None,
) -> ToolRun:
    """Run ``argv`` under ``limits``; ToolLimitExceeded when a cap stopped it.

    OSError when the tool cannot be started. A non-zero exit that no cap caused is
    returned as it is, for the caller to explain.
    """
    tool = Path(argv[0]).name
    environment = dict(env)
    environment.setdefault("GOMEMLIMIT", str(int(limits.memory_bytes * _GOMEMLIMIT_SHARE)))
    process = _MeasuredPopen(
        _prlimit_argv(argv, limits),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=environment,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(input=input, timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        # Its own session: helpers it started (ssh, plugins) die with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ToolLimitExceeded(tool, cause="time", limits=limits) from None
    cause = _cause(process.returncode, stderr, peak_rss_bytes=process.peak_rss_bytes, limits=limits)
    if cause is not None:
        raise ToolLimitExceeded(tool, cause=cause, limits=limits)
    return ToolRun(returncode=process.returncode, stdout=stdout, stderr=stderr)
