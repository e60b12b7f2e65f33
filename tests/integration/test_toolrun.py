"""Tools run on content from Git are stopped at their memory, CPU-time and time caps."""

from __future__ import annotations

import signal
import sys

import pytest

from shared.toolrun import ToolLimitExceeded, ToolLimits, run_tool

ENV = {"PATH": "/usr/bin:/bin"}


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_tool_that_spins_is_stopped_at_its_cpu_cap() -> None:
    limits = ToolLimits(memory_bytes=1 << 30, cpu_seconds=1, timeout=60)
    with pytest.raises(ToolLimitExceeded, match=r"CPU-time cap \(1 s\)") as caught:
        run_tool(python("while True: pass"), limits=limits, env=ENV)
    assert caught.value.cause == "cpu"


def test_a_tool_that_allocates_without_bound_is_stopped_at_its_memory_cap() -> None:
    limits = ToolLimits(memory_bytes=128 << 20, cpu_seconds=60, timeout=60)
    grow = "chunks = []\nwhile True: chunks.append(bytearray(16 << 20))"
    with pytest.raises(ToolLimitExceeded, match=r"memory cap \(128 MiB\)") as caught:
        run_tool(python(grow), limits=limits, env=ENV)
    assert caught.value.cause == "memory"


def test_a_tool_that_hangs_is_killed_at_its_time_limit() -> None:
    limits = ToolLimits(memory_bytes=1 << 30, cpu_seconds=60, timeout=0.5)
    with pytest.raises(ToolLimitExceeded, match=r"time limit \(0.5 s\)"):
        run_tool(python("import time; time.sleep(60)"), limits=limits, env=ENV)


def test_an_ordinary_failure_is_returned_for_the_caller_to_explain() -> None:
    limits = ToolLimits(memory_bytes=1 << 30, cpu_seconds=60, timeout=60)
    code = "import sys; sys.stdout.write(sys.stdin.read()); sys.exit(3)"
    done = run_tool(python(code), limits=limits, env=ENV, input=b"echo")
    assert (done.returncode, done.stdout) == (3, b"echo")


def test_a_tool_that_crashes_close_to_its_memory_cap_is_reported_as_stopped_by_it() -> None:
    # Go's collector sometimes segfaults instead of printing "out of memory" when the
    # cap refuses an allocation: peak memory near the cap is what tells.
    limits = ToolLimits(memory_bytes=256 << 20, cpu_seconds=60, timeout=60)
    code = "import os, signal\nheld = b'x' * (200 << 20)\nos.kill(os.getpid(), signal.SIGSEGV)"
    with pytest.raises(ToolLimitExceeded, match=r"memory cap \(256 MiB\)") as caught:
        run_tool(python(code), limits=limits, env=ENV)
    assert caught.value.cause == "memory"


def test_a_tool_that_crashes_far_below_its_memory_cap_is_returned_as_a_crash() -> None:
    limits = ToolLimits(memory_bytes=1 << 30, cpu_seconds=60, timeout=60)
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"
    done = run_tool(python(code), limits=limits, env=ENV)
    assert done.returncode == -signal.SIGSEGV
