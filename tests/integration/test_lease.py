"""Per-object leases (one holder at a time, expiry on holder death) and coalesced requests."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import redis

from shared.celeryapp import create_app
from shared.keys import ObjectKey
from shared.lease import (
    Lease,
    LeaseBusy,
    current_holder,
    exclusive_run,
    pending_key,
    request_reconcile,
)
from shared.redisserver import RedisServer
from shared.settings import Settings
from tests.fixtures.workers import ROOT, Workers
from tests.helpers import eventually

APPS = ObjectKey("Kustomization", "flux-system", "apps")
RECONCILE = "sluicetest.reconcile"


def test_two_holders_cannot_both_acquire(redis_client: redis.Redis) -> None:
    first = Lease(redis_client, APPS, "worker-a", ttl=5)
    second = Lease(redis_client, APPS, "worker-b", ttl=5)
    assert first.acquire()
    assert not second.acquire()
    assert current_holder(redis_client, APPS) == "worker-a"
    with pytest.raises(LeaseBusy, match="worker-a"), second:
        pass
    assert first.release()
    assert second.acquire()


def test_a_holder_never_renews_or_releases_someone_elses_lease(redis_client: redis.Redis) -> None:
    stale = Lease(redis_client, APPS, "worker-a", ttl=0.2)
    assert stale.acquire()
    taker = Lease(redis_client, APPS, "worker-b", ttl=5)
    assert eventually(taker.acquire, timeout=2)
    assert not stale.renew()
    assert not stale.release()
    assert current_holder(redis_client, APPS) == "worker-b"


def test_different_objects_lease_independently(redis_client: redis.Redis) -> None:
    other = ObjectKey("Kustomization", "flux-system", "infra")
    with Lease(redis_client, APPS, "a", ttl=5), Lease(redis_client, other, "b", ttl=5):
        assert current_holder(redis_client, APPS) == "a"
        assert current_holder(redis_client, other) == "b"
    assert current_holder(redis_client, APPS) is None


def test_a_held_lease_is_renewed_past_its_ttl_and_released_on_exit(
    redis_client: redis.Redis,
) -> None:
    rival = Lease(redis_client, APPS, "rival", ttl=5)
    with Lease(redis_client, APPS, "holder", ttl=1.0) as lease:
        # Three TTLs: without renewal the rival would get in.
        for _ in range(30):
            assert not rival.acquire()
            assert not lease.lost.wait(0.1)
    assert current_holder(redis_client, APPS) is None


def test_a_lease_taken_away_is_reported_lost(redis_client: redis.Redis) -> None:
    with Lease(redis_client, APPS, "holder", ttl=0.3) as lease:
        redis_client.delete("sluice:lease:" + str(APPS))
        assert Lease(redis_client, APPS, "thief", ttl=5).acquire()
        assert lease.lost.wait(2)
    assert current_holder(redis_client, APPS) == "thief"


def test_the_lease_of_a_killed_holder_expires_and_can_be_acquired(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time, redis
        from shared.keys import ObjectKey
        from shared.lease import Lease
        client = redis.Redis.from_url({redis_server.url!r})
        with Lease(client, ObjectKey.parse({str(APPS)!r}), "doomed", ttl=3.0):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert current_holder(redis_client, APPS) == "doomed"
        holder.kill()
        holder.wait(timeout=5)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    successor = Lease(redis_client, APPS, "successor", ttl=5)
    assert not successor.acquire()  # still within the dead holder's ttl
    assert eventually(successor.acquire, timeout=10)


def test_ten_requests_queue_one_message(settings: Settings, redis_client: redis.Redis) -> None:
    app = create_app("tester", settings)
    sent = [request_reconcile(redis_client, app, APPS, task_name=RECONCILE) for _ in range(10)]
    assert sent == [True] + [False] * 9
    assert redis_client.llen("sluicetest") == 1
    assert redis_client.exists(pending_key(RECONCILE, APPS))


def test_a_request_after_the_task_started_queues_one_more(
    settings: Settings, redis_client: redis.Redis
) -> None:
    app = create_app("tester", settings)
    assert request_reconcile(redis_client, app, APPS, task_name=RECONCILE)
    with exclusive_run(redis_client, app, APPS, task_name=RECONCILE, holder="w", ttl=5) as lease:
        assert lease is not None
        sent = [request_reconcile(redis_client, app, APPS, task_name=RECONCILE) for _ in range(5)]
    assert sent == [True] + [False] * 4
    assert redis_client.llen("sluicetest") == 2


def test_a_run_finding_the_lease_held_requests_itself_again(
    settings: Settings, redis_client: redis.Redis
) -> None:
    app = create_app("tester", settings)
    with Lease(redis_client, APPS, "other", ttl=5):
        with exclusive_run(
            redis_client, app, APPS, task_name=RECONCILE, holder="w", ttl=5
        ) as lease:
            assert lease is None
        assert redis_client.llen("sluicetest") == 1
        assert redis_client.exists(pending_key(RECONCILE, APPS))


def test_a_burst_of_requests_gives_one_run_with_a_real_worker(
    workers: Workers, worker_settings: Settings, redis_client: redis.Redis
) -> None:
    app = create_app("tester", worker_settings)
    for _ in range(10):
        request_reconcile(redis_client, app, APPS, task_name=RECONCILE)
    workers.start("coalescer", concurrency=2)
    eventually(lambda: redis_client.llen(f"test:done:{APPS}") == 1)
    assert redis_client.llen("sluicetest") == 0
    assert int(redis_client.get(f"test:tasks:{APPS}") or 0) == 1
    assert redis_client.llen(f"test:runs:{APPS}") == 1


def test_requests_during_a_run_give_exactly_one_more_run_never_overlapping(
    workers: Workers, worker_settings: Settings, redis_client: redis.Redis
) -> None:
    app = create_app("tester", worker_settings)
    redis_client.set(f"test:run-seconds:{APPS}", 1.0)
    workers.start("coalescer", concurrency=2)
    request_reconcile(redis_client, app, APPS, task_name=RECONCILE)
    eventually(lambda: redis_client.llen(f"test:runs:{APPS}") == 1)
    for _ in range(10):
        request_reconcile(redis_client, app, APPS, task_name=RECONCILE)
    eventually(lambda: redis_client.llen(f"test:done:{APPS}") == 2, timeout=15)
    eventually(lambda: not redis_client.exists(pending_key(RECONCILE, APPS)))
    assert redis_client.llen("sluicetest") == 0
    assert redis_client.llen(f"test:runs:{APPS}") == 2
    assert set(redis_client.lrange(f"test:active-seen:{APPS}", 0, -1)) == {b"1"}
