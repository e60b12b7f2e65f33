"""Per-object retry delays after failures: exponential, capped, reset by a success."""

from __future__ import annotations

import redis

from shared.keys import ObjectKey

__all__ = ["MAX_DELAY", "MIN_DELAY", "failure_delay", "reset_failures"]

# Flux's controller rate limiter: --min-retry-delay 750ms, --max-retry-delay 15m.
MIN_DELAY = 0.75
MAX_DELAY = 15 * 60.0


def _key(key: ObjectKey, scope: str) -> str:
    return f"sluice:failures:{scope}:{key}"


def failure_delay(
    client: redis.Redis, key: ObjectKey, *, cap: float = MAX_DELAY, scope: str = "reconcile"
) -> float:
    """Count one more failure of ``key`` and return how long to wait before the next try."""
    failures = int(client.incr(_key(key, scope)))
    client.expire(_key(key, scope), int(MAX_DELAY * 2))
    return float(min(MIN_DELAY * 2 ** (failures - 1), cap, MAX_DELAY))


def reset_failures(client: redis.Redis, key: ObjectKey, *, scope: str = "reconcile") -> None:
    """Forget the failures of ``key`` after it succeeded."""
    client.delete(_key(key, scope))
