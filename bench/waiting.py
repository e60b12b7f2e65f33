"""Poll a condition until it holds or a deadline passes, as every benchmark wait does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["BenchError", "wait_until"]

T = TypeVar("T")


class BenchError(RuntimeError):
    """A scenario step failed or timed out (the message ends with the services' log tails)."""


def wait_until(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    tails: Callable[[], str],
) -> T:
    """Poll ``check`` until it returns something other than None or False.

    On timeout, BenchError names ``what`` and ends with ``tails()`` (the logs'
    last lines, read only then).
    """
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s: {what}\n{tails()}")
        time.sleep(interval)
