"""The supervisor with real (tiny Python) child processes: start, ready, restart, stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.supervisor import Child, Supervisor, SupervisorError
from tests.helpers import eventually

# Prints "ready", forks a grandchild into its own process group, and ignores SIGTERM
# when told to: the worst case for stopping.
STUBBORN = """
import os, signal, sys, time
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(300)
    os._exit(0)
print("ready", flush=True)
time.sleep(300)
"""
POLITE = "import time; print('ready', flush=True); time.sleep(300)"


def gone(pid: int) -> bool:
    """No such process, or an orphan's zombie that init is about to reap."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def reaped(pid: int) -> bool:
    """Our child ``pid`` was waited for: no zombie of ours is left."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def said_ready(child: Child) -> bool:
    return "ready" in child.output()


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def sup(tmp_path: Path, events: list[str]) -> Iterator[Supervisor]:
    supervisor = Supervisor(tmp_path / "logs", on_event=events.append, backoff=(0.2, 1.0))
    yield supervisor
    supervisor.stop(timeout=2)


def test_start_waits_for_ready_and_stop_leaves_no_process(
    sup: Supervisor, events: list[str]
) -> None:
    sup.add("polite", [sys.executable, "-c", POLITE], ready=said_ready)
    sup.add("stubborn", [sys.executable, "-c", STUBBORN, "ignore"], ready=said_ready)
    assert sup.start(timeout=20)
    pids = [c.pid for c in sup.children if c.pid is not None]
    grandchildren = eventually(lambda: children_of(pids[1]))
    assert all(c.running() for c in sup.children)

    sup.stop(timeout=1)

    assert all(reaped(pid) for pid in pids)
    eventually(lambda: all(gone(pid) for pid in grandchildren), timeout=5)
    assert all(c.process is None for c in sup.children)
    assert events == [f"stubborn (pid {pids[1]}) ignored SIGTERM for 1s"]


def test_a_child_that_dies_is_restarted_and_its_group_killed(
    sup: Supervisor, events: list[str]
) -> None:
    child = sup.add("stubborn", [sys.executable, "-c", STUBBORN, "ignore"], ready=said_ready)
    assert sup.start(timeout=20)
    first = child.pid
    assert first is not None
    orphans = eventually(lambda: children_of(first))
    stop = threading.Event()
    runner = threading.Thread(target=sup.run, args=(stop,), kwargs={"interval": 0.05})
    runner.start()
    try:
        os.kill(first, signal.SIGKILL)
        eventually(lambda: child.pid != first and child.running() and said_ready(child))
    finally:
        stop.set()
        runner.join()
    assert child.restarts == 1
    assert reaped(first)
    eventually(lambda: all(gone(pid) for pid in orphans), timeout=5)
    assert events[0].startswith(f"stubborn (pid {first}) exited with code -9")
    assert events[1] == f"stubborn restarted as pid {child.pid}"


def test_restarts_back_off_while_a_child_keeps_failing(sup: Supervisor, events: list[str]) -> None:
    crash = "import time; time.sleep(0.3); exit(3)"
    child = sup.add("crasher", [sys.executable, "-c", crash], ready=lambda c: True)
    assert sup.start(timeout=5)
    stop = threading.Event()
    runner = threading.Thread(target=sup.run, args=(stop,), kwargs={"interval": 0.05})
    runner.start()
    try:
        eventually(lambda: child.restarts >= 3, timeout=15)
    finally:
        stop.set()
        runner.join()
    delays = [e.split("restarting in ")[1].split("s")[0] for e in events if "exited" in e]
    assert delays[:3] == ["0", "0", "1"]  # 0.2 s, 0.4 s, 0.8 s, rounded
    assert all("exited with code 3" in e for e in events if "exited" in e)


def test_a_child_that_exits_while_starting_fails_with_its_output(sup: Supervisor) -> None:
    sup.add("polite", [sys.executable, "-c", POLITE], ready=said_ready)
    sup.add("broken", [sys.executable, "-c", "print('port 1234 in use'); exit(2)"])
    sup.add("never", [sys.executable, "-c", POLITE], ready=lambda c: False)
    with pytest.raises(SupervisorError, match=r"broken exited with code 2[\s\S]*port 1234 in use"):
        sup.start(timeout=20)


def test_a_child_never_ready_fails_with_the_probe_error(sup: Supervisor) -> None:
    def probe(child: Child) -> bool:
        raise ConnectionRefusedError("nothing on port 1")

    sup.add("deaf", [sys.executable, "-c", POLITE], ready=probe)
    with pytest.raises(SupervisorError, match=r"not ready after 1s: deaf[\s\S]*nothing on port 1"):
        sup.start(timeout=1)


def test_start_returns_false_when_asked_to_stop(sup: Supervisor) -> None:
    sup.add("never", [sys.executable, "-c", POLITE], ready=lambda c: False)
    stop = threading.Event()
    stop.set()
    assert sup.start(timeout=20, stop=stop) is False


def test_names_are_unique(sup: Supervisor) -> None:
    sup.add("a", ["true"])
    with pytest.raises(ValueError, match="'a' is already supervised"):
        sup.add("a", ["true"])
