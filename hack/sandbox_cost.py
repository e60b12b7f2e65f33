"""What a sandbox cluster costs: start time, RSS and idle CPU, full and ``--api-only``.

Starts a sandbox of N clusters in each mode (in a throwaway folder), lets it
settle, then reads every process's RSS and CPU time from /proc over a window.
Prints one row per mode; the per-cluster figures leave the shared etcd out
(it is given on its own).

    .venv/bin/python hack/sandbox_cost.py [--clusters 2] [--window 30] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from shared.sandbox import ControlPlane
from shared.sandbox.state import SandboxState

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _rss_mib(pid: int) -> float:
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident * _PAGE / 2**20


def _pids(directory: Path) -> dict[str, int]:
    state = SandboxState.load(directory)
    return {r.name: r.pid for r in state.records() if r.pid is not None}


def measure(clusters: int, *, api_only: bool, window: float, settle: float) -> dict[str, float]:
    """One sandbox up, settled, measured over ``window`` seconds, and down."""
    with tempfile.TemporaryDirectory(prefix="sandbox-cost-") as work:
        plane = ControlPlane(Path(work) / "sandbox", clusters, api_only=api_only)
        plane.up()
        try:
            start_s = plane.timings["total"]
            time.sleep(settle)
            pids = _pids(plane.directory)
            before = {n: _cpu_seconds(p) for n, p in pids.items()}
            time.sleep(window)
            cpu = {n: (_cpu_seconds(p) - before[n]) / window for n, p in pids.items()}
            rss = {n: _rss_mib(p) for n, p in pids.items()}
        finally:
            plane.down()
    per_cluster = [n for n in pids if n != "etcd"]
    return {
        "start_s": start_s,
        "rss_mib": sum(rss[n] for n in per_cluster) / clusters,
        "cpu_pct": 100 * sum(cpu[n] for n in per_cluster) / clusters,
        "etcd_rss_mib": rss["etcd"],
        "etcd_cpu_pct": 100 * cpu["etcd"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--window", type=float, default=30.0, help="idle CPU window, seconds")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after up, first")
    parser.add_argument("--runs", type=int, default=3, help="start-ups per mode (median)")
    args = parser.parse_args()
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'mode':9} {'clusters':>8} {'start s':>8} {'RSS MiB/cluster':>16} "
        f"{'idle CPU %/cluster':>19} {'etcd RSS MiB':>13} {'etcd CPU %':>11}"
    )
    for api_only in (True, False):
        runs = [
            measure(args.clusters, api_only=api_only, window=args.window, settle=args.settle)
            for _ in range(args.runs)
        ]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        starts = ", ".join(f"{r['start_s']:.1f}" for r in runs)
        print(
            f"{'api-only' if api_only else 'full':9} {args.clusters:>8} {med['start_s']:>8.1f} "
            f"{med['rss_mib']:>16.0f} {med['cpu_pct']:>19.1f} {med['etcd_rss_mib']:>13.0f} "
            f"{med['etcd_cpu_pct']:>11.1f}   (start-ups: {starts} s)"
        )


if __name__ == "__main__":
    main()
