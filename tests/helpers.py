"""Test helpers: poll for a condition instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


def eventually(fn: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Call ``fn`` until it returns something truthy (AssertionError counts as not yet); return it.

    Fails with the last result or assertion once ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = fn()
        except AssertionError as exc:
            last = f"AssertionError: {exc}"
        else:
            if result:
                return result
            last = f"returned {result!r}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout}s: {last}")
        time.sleep(interval)
