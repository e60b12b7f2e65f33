"""The scheduler: requeues each object at its interval, from due times kept in Redis.

Due times live in a sorted set (member ``Kind/namespace/name``, score = due
epoch seconds), so a restarted scheduler loses nothing, and any number of
schedulers may run: each due entry is claimed in Lua (its score must still be
the one read, and is moved to the next due time in the same step), so an
object fires once per due time however many schedulers tick at once.

The scheduler knows nothing of the store: ``source()`` lists what to schedule
(synced every ``sync_every`` seconds: new objects are due at once unless
already reconciled successfully, deleted ones dropped, suspended ones leave
the set until resumed, changed intervals rescheduled) and ``fire(key)``
starts a reconcile (normally a coalesced ``request_reconcile``). It ticks at least every
``scheduler_tick`` seconds, and sooner when the next due time is nearer.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import redis

from shared.keys import ObjectKey
from shared.settings import Settings

__all__ = ["DUE", "SPECS", "Schedulable", "Scheduler", "due_at", "schedule_after"]

DUE = "sluice:schedule:due"
SPECS = "sluice:schedule:specs"

log = logging.getLogger(__name__)

_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Schedulable:
    """What the scheduler needs of one object."""

    key: ObjectKey
    interval_seconds: float
    suspended: bool = False
    # Reconciled successfully at its current spec (the store watcher ran it on
    # creation): a new entry is then first due after its interval, not at once again.
    reconciled: bool = False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def schedule_after(
    client: redis.Redis, key: ObjectKey, seconds: float, *, now: Callable[[], float] = time.time
) -> bool:
    """Make ``key`` due in ``seconds`` (e.g. retryInterval after a failure); False if unscheduled.

    Only objects the scheduler tracks are moved: a suspended or deleted object
    stays out, and one not yet synced becomes due at once when it is.
    """
    client.zadd(DUE, {str(key): now() + seconds}, xx=True)
    return client.zscore(DUE, str(key)) is not None


def due_at(client: redis.Redis, key: ObjectKey) -> float | None:
    """When ``key`` is next due (epoch seconds), or None when it is not scheduled."""
    score = client.zscore(DUE, str(key))
    return None if score is None else float(score)


class Scheduler:
    """Fires each object of ``source()`` at its interval (with jitter) via ``fire(key)``."""

    def __init__(
        self,
        client: redis.Redis,
        settings: Settings,
        *,
        source: Callable[[], Iterable[Schedulable]],
        fire: Callable[[ObjectKey], None],
        now: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        sync_every: float = 5.0,
        retry_fire_after: float = 5.0,
        batch: int = 1000,
    ) -> None:
        self._client = client
        self._settings = settings
        self._source = source
        self._fire = fire
        self._now = now
        self._rng = rng or random.Random()
        self._sync_every = sync_every
        self._retry_fire_after = retry_fire_after
        self._batch = batch
        self._claim = client.register_script(_CLAIM)
        self._last_sync: float | None = None

    def next_due(self, now: float, interval: float) -> float:
        """``now + interval`` ± ``interval_jitter_percent``, so objects don't fire in step."""
        spread = self._settings.interval_jitter_percent / 100.0
        factor = 1.0 + self._rng.uniform(-spread, spread) if spread > 0 else 1.0
        return now + max(interval * factor, 0.001)

    def sync(self) -> None:
        """Bring the due set in line with ``source()``."""
        now = self._now()
        wanted = {str(item.key): item for item in self._source()}
        raw_specs = cast(dict[Any, Any], self._client.hgetall(SPECS))
        specs = {_text(k): json.loads(_text(v)) for k, v in raw_specs.items()}
        scheduled = {_text(m) for m in cast(list[Any], self._client.zrange(DUE, 0, -1))}
        pipe = self._client.pipeline(transaction=False)
        for member, item in wanted.items():
            spec = {"interval": item.interval_seconds, "suspended": item.suspended}
            old = specs.get(member)
            if item.suspended:
                pipe.zrem(DUE, member)
            elif old is None or old["suspended"] or member not in scheduled:
                # New or resumed: due now, unless already reconciled at this spec (NX
                # keeps a due time another scheduler just set).
                resumed = old is not None and old["suspended"]
                first = (
                    now
                    if resumed or not item.reconciled
                    else self.next_due(now, item.interval_seconds)
                )
                pipe.zadd(DUE, {member: first}, nx=True)
            elif old["interval"] != item.interval_seconds:
                pipe.zadd(DUE, {member: self.next_due(now, item.interval_seconds)})
            if old != spec:
                pipe.hset(SPECS, member, json.dumps(spec))
        for member in (specs.keys() | scheduled) - wanted.keys():
            pipe.zrem(DUE, member)
            pipe.hdel(SPECS, member)
        pipe.execute()
        self._last_sync = now

    def tick(self) -> list[ObjectKey]:
        """One pass: sync if due for it, claim and fire every due object; return those fired."""
        now = self._now()
        if self._last_sync is None or now - self._last_sync >= self._sync_every:
            self.sync()
        entries = cast(
            list[tuple[Any, float]],
            self._client.zrangebyscore(DUE, "-inf", now, start=0, num=self._batch, withscores=True),
        )
        if not entries:
            return []
        members = [_text(member) for member, _ in entries]
        raw_specs = cast(list[Any], self._client.hmget(SPECS, members))
        fired: list[ObjectKey] = []
        for member, (_, score), raw in zip(members, entries, raw_specs, strict=True):
            if raw is None:
                continue  # not synced yet; the next sync adds or drops it
            spec = json.loads(_text(raw))
            if spec["suspended"]:
                continue
            following = self.next_due(now, float(spec["interval"]))
            if not self._claim(keys=[DUE], args=[member, repr(score), repr(following)]):
                continue  # another scheduler fired it, or it was rescheduled
            key = ObjectKey.parse(member)
            try:
                self._fire(key)
            except Exception:
                log.exception(
                    "scheduler: firing %s failed; retrying in %ss", key, self._retry_fire_after
                )
                self._client.zadd(DUE, {member: now + self._retry_fire_after}, xx=True)
                continue
            fired.append(key)
        return fired

    def schedule_after(self, key: ObjectKey, seconds: float) -> bool:
        """Make ``key`` due in ``seconds`` by this scheduler's clock."""
        return schedule_after(self._client, key, seconds, now=self._now)

    def pause(self) -> float:
        """Seconds until the next tick: ``scheduler_tick``, or less when something is due sooner.

        Waking at the earliest due time keeps intervals exact: with a fixed tick a
        1 s interval due just after a tick waited for the next one, nearly 2 s.
        """
        tick = self._settings.scheduler_tick
        first = cast(list[tuple[Any, float]], self._client.zrange(DUE, 0, 0, withscores=True))
        if not first:
            return tick
        return min(tick, max(first[0][1] - self._now(), 0.05))

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, at least every ``settings.scheduler_tick`` seconds."""
        while not stop.is_set():
            pause = self._settings.scheduler_tick
            try:
                self.tick()
                pause = self.pause()
            except redis.RedisError as exc:
                # Redis restarting: due times are safe in Redis, try again next tick.
                log.warning("scheduler: tick failed: %s", exc)
            stop.wait(pause)
