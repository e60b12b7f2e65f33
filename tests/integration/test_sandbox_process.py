"""shared.sandbox.process.alive on processes that were just started (a real kube-apiserver)."""

from __future__ import annotations

from pathlib import Path

from shared.sandbox.process import alive, spawn
from shared.tools import require_tool

SPAWNS = 120


def test_a_process_just_spawned_counts_as_alive(tmp_path: Path) -> None:
    # Right after Popen returns, the new program's command line can still read
    # empty (about 1 spawn in 40 under load): ControlPlane.up() then took a
    # starting apiserver for one that had exited.
    binary = str(require_tool("kube-apiserver"))
    missed = 0
    for _ in range(SPAWNS):
        process = spawn([binary, "--version"], tmp_path / "version.log")
        if not alive(process.pid, binary) and process.poll() is None:
            missed += 1
        process.wait(timeout=30)
    assert missed == 0, f"{missed} of {SPAWNS} running processes were reported gone"
