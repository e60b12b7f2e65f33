"""Scheduler: due times in Redis, jitter, suspend/resume, restarts and concurrent schedulers."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
import redis
import yaml

from shared.keys import ObjectKey
from shared.redisserver import RedisServer
from shared.runtime import store_schedulables
from shared.scheduler import DUE, Schedulable, Scheduler, due_at, schedule_after
from shared.settings import Settings
from shared.store import Store
from tests.helpers import eventually

APPS = ObjectKey("Kustomization", "flux-system", "apps")
INFRA = ObjectKey("Kustomization", "flux-system", "infra")
T0 = 1_700_000_000.0


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Objects:
    """A stand-in for the store: what ``source()`` lists, and what got fired."""

    items: dict[ObjectKey, Schedulable] = field(default_factory=dict)
    fired: list[ObjectKey] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(
        self, key: ObjectKey, interval: float, *, suspended: bool = False, reconciled: bool = False
    ) -> None:
        self.items[key] = Schedulable(key, interval, suspended, reconciled=reconciled)

    def source(self) -> Iterable[Schedulable]:
        return list(self.items.values())

    def fire(self, key: ObjectKey) -> None:
        with self.lock:
            self.fired.append(key)


@pytest.fixture
def exact(settings: Settings) -> Settings:
    """Settings without interval jitter, so due times are exact."""
    return settings.with_overrides(interval_jitter_percent=0.0)


def scheduler(
    client: redis.Redis,
    settings: Settings,
    objects: Objects,
    clock: Clock,
    *,
    sync_every: float = 5.0,
) -> Scheduler:
    return Scheduler(
        client, settings, source=objects.source, fire=objects.fire, now=clock, sync_every=sync_every
    )


def test_a_new_object_fires_now_and_then_at_its_interval(
    redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    objects.put(APPS, 60)
    sched = scheduler(redis_client, exact, objects, clock)
    assert sched.tick() == [APPS]
    assert sched.tick() == []
    assert due_at(redis_client, APPS) == T0 + 60
    clock.now = T0 + 59.9
    assert sched.tick() == []
    clock.now = T0 + 60
    assert sched.tick() == [APPS]
    assert objects.fired == [APPS, APPS]


def test_a_restarted_scheduler_fires_both_due_times_once_each(
    redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    objects.put(APPS, 60)
    assert scheduler(redis_client, exact, objects, clock).tick() == [APPS]  # due 1, then "dies"
    clock.now = T0 + 30
    restarted = scheduler(redis_client, exact, objects, clock)
    assert restarted.tick() == []  # the new process does not fire early
    clock.now = T0 + 61
    assert restarted.tick() == [APPS]  # due 2
    assert restarted.tick() == []
    assert objects.fired == [APPS, APPS]


def test_due_times_survive_a_redis_restart(
    redis_server: RedisServer, redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    objects.put(APPS, 60)
    assert scheduler(redis_client, exact, objects, clock).tick() == [APPS]
    redis_server.restart()
    clock.now = T0 + 60
    after = redis.Redis.from_url(redis_server.url)
    assert due_at(after, APPS) == T0 + 60
    assert scheduler(after, exact, objects, clock).tick() == [APPS]


def test_two_schedulers_ticking_at_once_fire_each_due_time_once(
    redis_server: RedisServer, redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    keys = [ObjectKey("GitRepository", "default", f"repo-{n}") for n in range(200)]
    for key in keys:
        objects.put(key, 60)
    schedulers = [
        scheduler(redis.Redis.from_url(redis_server.url), exact, objects, clock) for _ in range(2)
    ]
    for due in (T0, T0 + 60, T0 + 120):
        clock.now = due
        start = threading.Barrier(len(schedulers))

        def run(sched: Scheduler, start: threading.Barrier = start) -> None:
            start.wait()
            sched.tick()

        threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(objects.fired) == sorted(keys * 3)


def test_entries_claimed_by_another_scheduler_mid_tick_are_not_fired_again(
    redis_server: RedisServer, redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    keys = [ObjectKey("GitRepository", "default", f"repo-{n}") for n in range(5)]
    for key in keys:
        objects.put(key, 60)
    other = scheduler(redis.Redis.from_url(redis_server.url), exact, objects, clock)
    taken: list[ObjectKey] = []

    def fire_and_let_the_other_tick(key: ObjectKey) -> None:
        objects.fire(key)
        if not taken:  # the first object fires while the other scheduler takes the rest
            taken.extend(other.tick())

    first = Scheduler(
        redis_client, exact, source=objects.source, fire=fire_and_let_the_other_tick, now=clock
    )
    first.sync()
    assert first.tick() == keys[:1]
    assert taken == keys[1:]
    assert sorted(objects.fired) == keys


def test_a_suspended_object_is_not_fired_and_fires_at_once_when_resumed(
    redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    objects.put(APPS, 60, suspended=True)
    objects.put(INFRA, 60)
    sched = scheduler(redis_client, exact, objects, clock, sync_every=0)
    assert sched.tick() == [INFRA]
    clock.now = T0 + 600
    assert sched.tick() == [INFRA]
    objects.put(APPS, 60)
    clock.now = T0 + 601
    assert sched.tick() == [APPS]


def test_deleted_objects_are_dropped_and_changed_intervals_rescheduled(
    redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    objects.put(APPS, 3600)
    objects.put(INFRA, 60)
    sched = scheduler(redis_client, exact, objects, clock, sync_every=0)
    assert sorted(sched.tick()) == [APPS, INFRA]
    del objects.items[INFRA]
    objects.put(APPS, 120)
    clock.now = T0 + 10
    assert sched.tick() == []
    assert due_at(redis_client, INFRA) is None
    assert due_at(redis_client, APPS) == T0 + 10 + 120


def test_a_new_object_already_reconciled_on_creation_first_fires_after_its_interval(
    redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    objects.put(APPS, 60, reconciled=True)  # the store watcher ran it when it was applied
    objects.put(INFRA, 60)  # not run yet: the scheduler is the safety net
    sched = scheduler(redis_client, exact, objects, clock)
    assert sched.tick() == [INFRA]
    assert due_at(redis_client, APPS) == T0 + 60
    clock.now = T0 + 60
    assert sorted(sched.tick()) == sorted([APPS, INFRA])


def test_the_scheduler_wakes_when_the_next_object_is_due_not_at_the_next_tick(
    redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    sched = scheduler(redis_client, exact.with_overrides(scheduler_tick=1.0), objects, clock)
    assert sched.pause() == 1.0  # nothing scheduled
    objects.put(APPS, 0.4)
    assert sched.tick() == [APPS]
    assert sched.pause() == pytest.approx(0.4)  # due again before the next tick
    clock.now = T0 + 0.4
    assert sched.tick() == [APPS]
    objects.put(APPS, 60)
    clock.now = T0 + 5  # the next sync moves it to the new interval
    assert sched.tick() == []
    assert sched.pause() == 1.0


def test_a_reconcile_can_ask_to_run_again_after_its_retry_interval(
    redis_client: redis.Redis, exact: Settings
) -> None:
    clock, objects = Clock(), Objects()
    objects.put(APPS, 3600)
    sched = scheduler(redis_client, exact, objects, clock)
    sched.tick()
    assert schedule_after(redis_client, APPS, 30, now=clock)
    assert not sched.schedule_after(INFRA, 30)  # unknown objects stay unscheduled
    assert redis_client.zscore(DUE, str(INFRA)) is None
    clock.now = T0 + 30
    assert sched.tick() == [APPS]
    assert due_at(redis_client, APPS) == T0 + 30 + 3600


def test_a_failed_fire_is_retried_soon(redis_client: redis.Redis, exact: Settings) -> None:
    clock, calls = Clock(), []

    def flaky(key: ObjectKey) -> None:
        calls.append(key)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    sched = Scheduler(
        redis_client,
        exact,
        source=lambda: [Schedulable(APPS, 3600)],
        fire=flaky,
        now=clock,
        retry_fire_after=5,
    )
    assert sched.tick() == []
    clock.now = T0 + 5
    assert sched.tick() == [APPS]
    assert calls == [APPS, APPS]


def test_jitter_spreads_due_times_within_the_configured_percent(
    redis_client: redis.Redis, settings: Settings
) -> None:
    jittered = settings.with_overrides(interval_jitter_percent=10.0)
    sched = Scheduler(
        redis_client, jittered, source=list, fire=print, now=Clock(), rng=random.Random(7)
    )
    dues = {sched.next_due(T0, 100) - T0 for _ in range(200)}
    assert all(90 <= d <= 110 for d in dues)
    assert len(dues) > 100


def test_run_ticks_until_stopped(redis_client: redis.Redis, exact: Settings) -> None:
    objects = Objects()
    objects.put(APPS, 3600)
    sched = Scheduler(
        redis_client,
        exact.with_overrides(scheduler_tick=0.05),
        source=objects.source,
        fire=objects.fire,
    )
    stop = threading.Event()
    runner = threading.Thread(target=sched.run, args=(stop,))
    runner.start()
    try:
        eventually(lambda: objects.fired == [APPS])
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()


def test_only_an_object_reconciled_successfully_at_its_generation_counts_as_reconciled(
    settings: Settings,
) -> None:
    store = Store.from_settings(settings)
    doc = yaml.safe_load(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        "metadata: {name: app, namespace: flux-system}\n"
        "spec: {interval: 1m, url: 'https://example.com/app.git', ref: {branch: main}}\n"
    )
    key = ObjectKey.of(store.apply(doc)[1])

    def reconciled() -> bool:
        return next(s.reconciled for s in store_schedulables(store) if s.key == key)

    def ready(status: str, generation: int = 1) -> dict[str, object]:
        condition = {"type": "Ready", "status": status, "reason": "r", "message": "m"}
        return {"observedGeneration": generation, "conditions": [condition]}

    assert not reconciled()  # never run
    store.update_status(key, ready("False"))
    assert not reconciled()  # failed: its retry must not wait for the interval
    store.update_status(key, ready("True"))
    assert reconciled()
    store.update_status(key, ready("True", generation=0))
    assert not reconciled()  # run at an older spec
