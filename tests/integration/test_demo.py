"""``make demo`` as a user runs it: hack/demo.py end to end, then nothing of it left running."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fixtures.cluster import skip_without_control_plane_tools
from tests.helpers import eventually

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, str(ROOT / "hack" / "demo.py")]
CLUSTERS = ("cluster-1", "cluster-2")
# The table `sluice up` prints: COMPONENT ADDRESS PID LOG, then a blank line.
UP_TABLE = re.compile(r"^COMPONENT +ADDRESS +PID +LOG\n((?:.+\n)+)", re.M)


def _up_pids(output: str) -> dict[str, int]:
    """Component -> pid, from the table ``sluice up`` printed."""
    table = UP_TABLE.search(output)
    assert table, output
    rows = [line.split() for line in table.group(1).splitlines()]
    return {row[0]: int(row[2]) for row in rows}


def _processes() -> dict[int, tuple[int, str]]:
    """Every live process: pid -> (process group, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            state, _, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            if state not in ("Z", "X"):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found[int(entry.name)] = (int(pgrp), cmdline)
    return found


def _left_behind(output: str) -> dict[int, str]:
    """Processes the demo started that still run: sluice up's children and their process
    groups (Celery pools), and anything with the demo's folder on its command line (etcd,
    kube-apiservers)."""
    work = re.search(r"^working directory: (\S+)", output, re.M)
    assert work, output
    pids = set(_up_pids(output).values())
    return {
        pid: cmd
        for pid, (pgrp, cmd) in _processes().items()
        if pid in pids or pgrp in pids or work.group(1) in cmd
    }


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def test_demo_applies_each_commit_to_both_clusters_and_stops_everything() -> None:
    skip_without_control_plane_tools()
    done = subprocess.run(
        [*DEMO, "--commits", "2"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-6000:]
    components = set(_up_pids(out))
    assert {"redis", "worker-source", "worker-kustomize", "scheduler", "flower"} <= components
    assert {"worker-notify", "receiver"} <= components

    # Both clusters registered by `sluice cluster add`, each checked before it was stored.
    for cluster in CLUSTERS:
        added = rf"^✔ cluster {cluster}: https://127\.0\.0\.1:\d+ \(Kubernetes v1\."
        assert re.search(added, out, re.M), out

    # Each cluster bootstrapped from its own folder of the repo, into its own scope.
    for cluster in CLUSTERS:
        command = (
            r"^\$ sluice bootstrap git --url file://\$DEMO/git/app\.git --branch main "
            rf"--path clusters/{cluster} --cluster {cluster} "
        )
        assert re.search(command, out, re.M), out
        said = out.split(f"--cluster {cluster} ", 1)[1].split("\n$ ", 1)[0]
        assert f"► applying sync manifests in cluster {cluster}\n" in said
        assert "✔ Kustomization flux-system/flux-system created\n" in said
        assert re.search(r"^✔ applied revision main@sha1:[0-9a-f]{40}$", said, re.M), said
        assert f"✔ bootstrap of cluster {cluster} finished" in said

    # `-c cluster-1` shows that cluster's scope only: its flux-system and its apps.
    scope = out.split("$ sluice -c cluster-1 get ks -n flux-system\n", 1)[1].split("\n$ ", 1)[0]
    rows = [line.split() for line in scope.splitlines() if line.strip()]
    assert rows[0][:2] == ["NAME", "REVISION"], scope
    assert sorted(row[0] for row in rows[1:]) == ["apps", "flux-system"], scope

    # --all-clusters: both scopes hold a Kustomization apps, first Ready at the initial
    # commit, last at the second change.
    shas = re.findall(r"^commit \d/2 ([0-9a-f]{7}) ", out, re.M)
    assert len(shas) == 2, out
    listings = out.split("$ sluice --all-clusters get ks -n flux-system\n")[1:]
    assert len(listings) == 2, out
    for cluster in CLUSTERS:
        row = rf"^{cluster} +(apps|flux-system) +main@sha1:([0-9a-f]{{40}}) +False +True +Applied"
        first = re.findall(row, listings[0], re.M)
        last = re.findall(row, listings[-1], re.M)
        assert sorted(name for name, _ in first) == ["apps", "flux-system"], listings[0]
        assert sorted(name for name, _ in last) == ["apps", "flux-system"], listings[-1]
        assert all(sha.startswith(shas[-1]) for _, sha in last), listings[-1]
        assert not any(sha.startswith(shas[-1]) for _, sha in first), listings[0]

    # Each change was seen in both clusters, and the last one is what both hold.
    for n in (1, 2):
        for cluster in CLUSTERS:
            assert re.search(rf"^  {cluster}: configmap/web-config-\S+ greeting=hi-{n} ", out, re.M)
    final = out.split("==> the change on both clusters", 1)[1]
    assert len(re.findall(r"^web-config-\S+ +hi-2$", final, re.M)) == 2, final
    # wait: true over the sandbox's scheduler and kwok nodes: the app is Available on both.
    assert len(re.findall(r"^deployment\.apps/web +1/1 ", out, re.M)) == 2, out
    assert "hi-1" not in final  # the ConfigMap of the earlier revision was pruned

    # A github Receiver Ready in each scope; every push reached both as a signed webhook
    # (the post-receive hook no longer runs the sluice CLI).
    receivers = re.findall(r"^(cluster-\d) +git-push +False +True +Receiver initialized", out, re.M)
    assert receivers == list(CLUSTERS), out
    answered = r"^  post-receive hook: ✔ webhook to the Receiver of (cluster-\d): 200$"
    assert sorted(re.findall(answered, out, re.M)) == sorted(CLUSTERS * 2), out
    assert "✗" not in out and "sluice -c cluster-1 reconcile" not in out

    times = [float(t) for t in re.findall(r"commit-to-applied: (\d+\.\d+)s", out)]
    assert len(times) == 2 and all(t > 0 for t in times), out
    summary = re.search(r"median (\d+\.\d+)s, worst (\d+\.\d+)s", out)
    assert summary and float(summary.group(2)) == max(times), out

    # Nothing secret on screen, nothing left running, nothing left on disk.
    assert "client-key-data" not in out and "BEGIN " not in out
    assert _left_behind(out) == {}
    work = re.search(r"^working directory: (\S+)", out, re.M)
    assert work and not Path(work.group(1)).exists()


def test_ctrl_c_during_the_demo_stops_everything_it_started() -> None:
    skip_without_control_plane_tools()
    demo = subprocess.Popen(
        [*DEMO, "--commits", "1"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert demo.stdout is not None
        lines.extend(demo.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        eventually(lambda: any("==> registering" in line for line in lines), timeout=300)
        running = _left_behind("".join(lines))
        assert any("kube-apiserver" in cmd for cmd in running.values())
        assert any("redis-server" in cmd for cmd in running.values())
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=120) == 128 + signal.SIGINT
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(timeout=10)
    out = "".join(lines)
    assert "demo interrupted (SIGINT); stopping everything" in out
    assert "all stopped" in out
    assert _left_behind(out) == {}
