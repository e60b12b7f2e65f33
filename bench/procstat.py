"""CPU time and memory of process trees, from /proc (Linux only).

A sluice process is counted with everything in its session: every child the
benchmark starts leads its own session, so Celery's pool processes and the
kustomize builds they run are included. CPU counts ``utime + stime`` plus the
children's ``cutime + cstime``, so a process that exits in the window (a
kustomize build) is still counted, through its parent, once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CpuSnapshot",
    "PeakMemory",
    "Usage",
    "children_cpu_seconds",
    "cmdline_pids",
    "cpu_seconds",
    "measure",
    "memory",
    "session_pids",
    "snapshot",
    "tree_pids",
]

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class Usage:
    """What a set of process trees used over a window."""

    seconds: float
    cpu_seconds: float
    rss_bytes: int
    pss_bytes: int
    processes: int

    @property
    def cpu_per_minute(self) -> float:
        """CPU seconds per minute of wall time."""
        return self.cpu_seconds * 60.0 / self.seconds if self.seconds else 0.0


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ")".
    return text.rpartition(")")[2].split()


def session_pids(leaders: Iterable[int]) -> list[int]:
    """Every live process in the sessions led by ``leaders``."""
    wanted = {str(pid) for pid in leaders}
    found: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        # fields[3] is the session id (field 6 of /proc/<pid>/stat).
        if fields is not None and fields[3] in wanted:
            found.append(int(entry.name))
    return found


def tree_pids(root: int) -> list[int]:
    """``root`` and every live descendant (by parent pid, whatever session each leads)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            # fields[1] is the parent pid (field 4 of /proc/<pid>/stat).
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, frontier = [root], [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return found


def cmdline_pids(needle: str) -> list[int]:
    """Every live process whose command line contains ``needle`` (e.g. a sandbox folder)."""
    found: list[int] = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            if needle in cmdline:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU seconds used so far by ``pids`` and their reaped children."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14..17.
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / _TICKS


def children_cpu_seconds(pids: Iterable[int]) -> float:
    """CPU seconds of the children ``pids`` have reaped so far (the tools a worker ran)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICKS


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far per named group of processes, and by the whole machine."""

    groups: dict[str, float]
    busy: int
    total: int

    def since(self, earlier: CpuSnapshot) -> dict[str, float]:
        """CPU seconds per group since ``earlier``, plus ``rest`` and ``available``."""
        # rest: all else the machine ran (the benchmark, other users); available: wall x cores.
        used = {name: self.groups[name] - earlier.groups.get(name, 0.0) for name in self.groups}
        busy = (self.busy - earlier.busy) / _TICKS
        used["rest"] = max(0.0, busy - sum(used.values()))
        used["available"] = (self.total - earlier.total) / _TICKS
        return used


def snapshot(groups: Mapping[str, Iterable[int]]) -> CpuSnapshot:
    """CPU used so far by each group of pids, and the machine's busy and total jiffies."""
    # First line of /proc/stat: cpu user nice system idle iowait irq softirq steal ...
    jiffies = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = jiffies[3] + jiffies[4]
    return CpuSnapshot(
        groups={name: cpu_seconds(pids) for name, pids in groups.items()},
        busy=sum(jiffies) - idle,
        total=sum(jiffies),
    )


def _status_kb(path: Path, field: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def memory(pids: Iterable[int]) -> tuple[int, int]:
    """(RSS, PSS) in bytes, summed over ``pids``; PSS shares pages between a pool's processes."""
    rss = pss = 0
    for pid in pids:
        rss += _status_kb(_PROC / str(pid) / "status", "VmRSS") * 1024
        pss += _status_kb(_PROC / str(pid) / "smaps_rollup", "Pss") * 1024
    return rss, pss


class PeakMemory:
    """The highest RSS and PSS that the sessions of ``leaders()`` reached, sampled in a thread.

    Use as ``with PeakMemory(leaders) as peak: ...``; ``peak.rss_bytes`` and
    ``peak.pss_bytes`` hold the highest sums seen (one more sample is taken on exit).
    """

    def __init__(self, leaders: Callable[[], Iterable[int]], *, every: float = 0.5) -> None:
        self._leaders = leaders
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-memory", daemon=True)
        self.rss_bytes = 0
        self.pss_bytes = 0

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        rss, pss = memory(session_pids(self._leaders()))
        self.rss_bytes = max(self.rss_bytes, rss)
        self.pss_bytes = max(self.pss_bytes, pss)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()


def measure(
    leaders: Callable[[], Iterable[int]],
    seconds: float,
    *,
    every: float = 5.0,
    stop: threading.Event | None = None,
    tree: bool = False,
) -> Usage:
    """CPU used by the sessions of ``leaders()`` over ``seconds``, and their mean memory.

    With ``tree``, by the process trees of ``leaders()`` instead (children that
    lead sessions of their own, as ``sluice up``'s do, included).
    """
    stop = stop or threading.Event()

    def members(roots: Iterable[int]) -> list[int]:
        if not tree:
            return session_pids(roots)
        return [pid for root in roots for pid in tree_pids(root)]

    began = time.monotonic()
    start_cpu = cpu_seconds(members(leaders()))
    samples: list[tuple[int, int, int]] = []
    while True:
        pids = members(leaders())
        rss, pss = memory(pids)
        samples.append((rss, pss, len(pids)))
        left = began + seconds - time.monotonic()
        if left <= 0 or stop.wait(min(every, left)):
            break
    end_cpu = cpu_seconds(members(leaders()))
    return Usage(
        seconds=time.monotonic() - began,
        cpu_seconds=end_cpu - start_cpu,
        rss_bytes=sum(s[0] for s in samples) // len(samples),
        pss_bytes=sum(s[1] for s in samples) // len(samples),
        processes=max(s[2] for s in samples),
    )
