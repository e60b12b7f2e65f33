"""run_all: requests go out together, results keep their order, errors come after all ended."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import pytest

from shared.kube.parallel import POOL_SIZE, run_all


def meet(barrier: threading.Barrier, value: int, wait: float = 10.0) -> int:
    # Waits until the barrier's count of calls is running at once, or breaks it.
    barrier.wait(timeout=wait)
    return value


def test_calls_run_at_the_same_time_and_results_keep_their_order() -> None:
    # Each call waits until all four are running: sequential calls would never meet.
    barrier = threading.Barrier(4)
    assert run_all([partial(meet, barrier, n) for n in range(4)]) == [0, 1, 2, 3]


def test_no_more_than_the_limit_run_at_once() -> None:
    barrier = threading.Barrier(3)
    with pytest.raises(threading.BrokenBarrierError):
        run_all([partial(meet, barrier, n, 0.5) for n in range(3)], limit=2)


def test_the_first_failure_in_call_order_is_raised_once_every_call_ended() -> None:
    ended: list[str] = []

    def step(name: str, error: Exception | None = None) -> str:
        ended.append(name)
        if error is not None:
            raise error
        return name

    calls: list[Callable[[], str]] = [
        partial(step, "a"),
        partial(step, "b", KeyError("first")),
        partial(step, "c", ValueError("second")),
        partial(step, "d"),
    ]
    with pytest.raises(KeyError, match="first"):
        run_all(calls)
    assert sorted(ended) == ["a", "b", "c", "d"]


def test_a_single_call_runs_in_the_callers_thread() -> None:
    assert run_all([threading.current_thread]) == [threading.current_thread()]
    assert run_all([]) == []


def test_batches_inside_batches_finish_even_when_every_helper_thread_is_busy() -> None:
    # More nested batches than the process has helper threads: callers drain their own.
    def inner(n: int) -> int:
        return sum(run_all([partial(int, n)] * 3))

    outer = [partial(run_all, [partial(inner, n) for n in range(8)]) for _ in range(POOL_SIZE)]
    assert run_all(outer, limit=POOL_SIZE) == [[3 * n for n in range(8)]] * POOL_SIZE
