"""Footprint: what sluice costs in memory and what a CLI call costs in wall time.

Three figures, each read from /proc as a user's ``top`` or ``smem`` would:

- ``steady``: PSS summed over every sluice process of a stack (workers with
  their pool processes, the source worker serving the artifacts, scheduler;
  redis-server apart) once
  1,000 managed objects (100 Kustomizations x 10 ConfigMaps, 1 GitRepository,
  all at a 1-minute interval) are Ready and a settling pause has passed;
- ``up idle``: PSS summed over the whole process tree of ``sluice up`` (its
  redis-server, workers, scheduler, Flower, metrics) with nothing stored;
- ``get``: the wall time of ``sluice get ks -A`` against the stack above
  (100 Kustomizations), the median of several runs, each a new process; its
  CPU time beside it, which a busy machine disturbs less.

PSS (``/proc/<pid>/smaps_rollup``) charges a page shared by N processes 1/N
to each, so the sum is what the processes really take together; RSS counts
shared pages once per process and is shown beside it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

from bench.procstat import Usage, measure, tree_pids
from bench.scenarios.common import Context, Result, Row, median
from bench.scenarios.steady import OBJECTS, converge
from bench.stack import SLUICE, Stack, Topology
from shared.redisserver import free_port

__all__ = ["run"]

NAME = "footprint"
KUSTOMIZATIONS = 100
SETTLE = 10.0
GET_RUNS = 7
MIB = 1024 * 1024


def _mib(value: int) -> str:
    return f"{value / MIB:.0f} MiB"


def _steady(ctx: Context, stack: Stack, window: float) -> Usage:
    converge(ctx, stack, count=KUSTOMIZATIONS)
    ctx.say(f"  {KUSTOMIZATIONS * OBJECTS} objects converged; settling {SETTLE:.0f}s")
    time.sleep(SETTLE)
    return measure(stack.sluice_pids, window, every=2.0)


def _get_times(stack: Stack, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run of ``sluice get ks -A``."""
    times, cpu = [], []
    for _ in range(runs):
        began, used = time.monotonic(), _children_cpu()
        result = subprocess.run(
            [SLUICE, "get", "ks", "-A"], env=stack.env, capture_output=True, text=True, check=False
        )
        times.append(time.monotonic() - began)
        cpu.append(_children_cpu() - used)
        if result.returncode != 0 or result.stdout.count("\n") < KUSTOMIZATIONS:
            raise RuntimeError(f"sluice get ks -A failed ({result.returncode}): {result.stderr}")
    return times, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stop_tree(process: subprocess.Popen[str], pids: list[int]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _up_idle(ctx: Context, stack_env: dict[str, str], window: float) -> tuple[Usage, Usage]:
    """(whole tree, its redis-server alone) of an idle ``sluice up``."""
    work = ctx.work / "up"
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in stack_env.items() if k != "SLUICE_REDIS_URL"}
    env.update(
        SLUICE_ARTIFACT_DIR=str(work / "artifacts"),
        SLUICE_CACHE_DIR=str(work / "cache"),
        SLUICE_SECRET_KEY_FILE=str(work / "secret.key"),
    )
    argv = [SLUICE, "up", "--data-dir", str(work / "data")]
    for name in ("redis", "flower", "artifact", "metrics"):
        argv += [f"--{name}-port", str(free_port())]
    lines: list[str] = []
    with (work / "up.err").open("w") as err:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    pids: list[int] = []
    try:
        deadline = time.monotonic() + ctx.timeout
        while not any(line.startswith("sluice is up") for line in lines):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (work / "up.err").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"sluice up did not come up:\n{tail}")
            time.sleep(0.2)
        ctx.say(f"  sluice up is up; settling {SETTLE:.0f}s, measuring {window:.0f}s")
        time.sleep(SETTLE)
        pids = tree_pids(process.pid)

        def redis_pid() -> list[int]:
            return [p for p in tree_pids(process.pid) if b"redis-server" in _cmdline(p)]

        redis_usage: list[Usage] = []
        thread = threading.Thread(
            target=lambda: redis_usage.append(measure(redis_pid, window, every=2.0)), daemon=True
        )
        thread.start()
        whole = measure(lambda: [process.pid], window, every=2.0, tree=True)
        thread.join(timeout=window + 30)
        pids = tree_pids(process.pid)
    finally:
        _stop_tree(process, [p for p in pids if p != process.pid])
    if not redis_usage:
        raise RuntimeError("the redis-server measurement did not finish")
    return whole, redis_usage[0]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def run(ctx: Context) -> Result:
    """Measure steady PSS with 1,000 objects, ``sluice get ks -A``, then an idle ``sluice up``."""
    window = 20.0 if ctx.quick else 60.0
    topology = Topology(clusters=1, kustomize_workers=1, kustomize_concurrency=2)
    with Stack(topology, ctx.work / "stack", timeout=ctx.timeout, say=ctx.say) as stack:
        steady = _steady(ctx, stack, window)
        get_times, get_cpu = _get_times(stack, GET_RUNS)
        env = stack.env
    idle, idle_redis = _up_idle(ctx, env, window)
    get_median = median(get_times)
    managed = KUSTOMIZATIONS * OBJECTS
    return Result(
        name=NAME,
        title="footprint",
        rows=[
            Row(
                f"memory, {managed:,} objects steady",
                f"{_mib(steady.pss_bytes)} PSS",
                f"RSS {_mib(steady.rss_bytes)}; sum over {steady.processes} sluice processes "
                f"(redis-server apart); {topology.describe()}; mean over {window:.0f}s",
            ),
            Row(
                "memory, `sluice up` idle",
                f"{_mib(idle.pss_bytes)} PSS",
                f"RSS {_mib(idle.rss_bytes)}; its whole tree, {idle.processes} processes, of "
                f"which redis-server {_mib(idle_redis.pss_bytes)} PSS; mean over {window:.0f}s",
            ),
            Row(
                "`sluice get ks -A`",
                f"{get_median:.2f} s",
                f"median of {GET_RUNS} runs with {KUSTOMIZATIONS} Kustomizations stored "
                f"(min {min(get_times):.2f} s, max {max(get_times):.2f} s); CPU (user + "
                f"system) median {median(get_cpu):.2f} s, steadier when the machine is busy",
            ),
        ],
        data={
            "managed_objects": managed,
            "steady": {
                "pss_mib": round(steady.pss_bytes / MIB, 1),
                "rss_mib": round(steady.rss_bytes / MIB, 1),
                "processes": steady.processes,
                "topology": topology.describe(),
            },
            "up_idle": {
                "pss_mib": round(idle.pss_bytes / MIB, 1),
                "rss_mib": round(idle.rss_bytes / MIB, 1),
                "processes": idle.processes,
                "redis_pss_mib": round(idle_redis.pss_bytes / MIB, 1),
            },
            "get_ks_seconds": [round(t, 3) for t in get_times],
            "get_ks_median_seconds": round(get_median, 3),
            "get_ks_cpu_seconds": [round(t, 3) for t in get_cpu],
        },
    )
