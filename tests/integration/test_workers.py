"""Celery app factory and worker delivery: routing, JSON only, re-delivery after a killed worker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import redis

from shared.celeryapp import create_app, route_by_prefix, task_limits, transport_options
from shared.redisserver import RedisServer
from shared.settings import Settings
from tests.fixtures.workers import Workers
from tests.helpers import eventually


def worker_names(client: redis.Redis, key: str) -> list[str]:
    """The worker names (``name@host``, host dropped) a test task pushed to ``key``."""
    return [
        str(h.decode() if isinstance(h, bytes) else h).split("@")[0]
        for h in client.lrange(key, 0, -1)
    ]


def test_the_app_consumes_one_queue_named_after_its_service(settings: Settings) -> None:
    app = create_app("kustomize", settings)
    conf = app.conf
    assert [q.name for q in app.amqp.queues.values()] == ["kustomize"]
    assert conf.task_default_queue == "kustomize"
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_send_task_events is True
    assert conf.task_send_sent_event is True
    assert conf.task_ignore_result is True
    assert conf.broker_connection_retry_on_startup is True
    options = conf.broker_transport_options
    assert options["visibility_timeout"] == settings.visibility_timeout
    assert options["unacked_restore_interval"] == settings.unacked_restore_interval
    assert options["unacked_restore_throttle"] == 1


def test_time_limits_stay_below_the_visibility_timeout(settings: Settings) -> None:
    soft, hard = task_limits(settings.with_overrides(visibility_timeout=5, task_time_limit=900))
    assert soft < hard < 5
    soft, hard = task_limits(settings.with_overrides(visibility_timeout=1800, task_time_limit=900))
    assert (soft, hard) == (810, 900)
    assert transport_options(settings)["socket_timeout"] > 1  # above kombu's BRPOP timeout


def test_tasks_are_routed_by_the_prefix_of_their_name() -> None:
    assert route_by_prefix("kustomize.reconcile", (), {}, {}) == {"queue": "kustomize"}
    assert route_by_prefix("celery.backend_cleanup", (), {}, {}) is None
    assert route_by_prefix("unprefixed", (), {}, {}) is None


def test_a_task_sent_by_name_waits_in_its_services_queue_as_json(
    settings: Settings, redis_client: redis.Redis
) -> None:
    sender = create_app("source", settings)
    sender.send_task("kustomize.reconcile", args=["Kustomization/flux-system/apps"])
    assert redis_client.llen("kustomize") == 1
    assert redis_client.llen("source") == 0
    message = json.loads(redis_client.lindex("kustomize", 0) or b"{}")
    assert message["content-type"] == "application/json"
    assert message["headers"]["task"] == "kustomize.reconcile"


def test_a_task_on_a_killed_worker_runs_to_completion_on_another(
    workers: Workers, worker_settings: Settings, redis_client: redis.Redis
) -> None:
    app = create_app("tester", worker_settings)
    run = uuid.uuid4().hex
    first = workers.start("first")
    app.send_task("sluicetest.slow", args=[run, 2.0])
    eventually(lambda: redis_client.llen(f"test:{run}:started") == 1)
    first.kill()
    assert redis_client.llen(f"test:{run}:finished") == 0

    workers.start("second")
    # Re-delivered once older than the 5 s visibility timeout, then runs 2 s.
    eventually(lambda: redis_client.llen(f"test:{run}:finished") == 1, timeout=20)
    assert worker_names(redis_client, f"test:{run}:started") == ["first", "second"]
    assert worker_names(redis_client, f"test:{run}:finished") == ["second"]


def test_a_task_longer_than_the_visibility_timeout_runs_twice(
    workers: Workers, worker_settings: Settings, redis_client: redis.Redis
) -> None:
    """The trade-off documented in shared.celeryapp: why task limits stay below the timeout."""
    app = create_app("tester", worker_settings)
    run = uuid.uuid4().hex
    workers.start("first")
    # Per-message limits lift the app's 4 s hard limit for this one task. It outlasts the
    # second worker's start-up, or "first" could take the re-delivered copy itself.
    app.send_task("sluicetest.slow", args=[run, 20.0], time_limit=30, soft_time_limit=29)
    eventually(lambda: redis_client.llen(f"test:{run}:started") == 1)
    workers.start("second")
    eventually(lambda: redis_client.llen(f"test:{run}:started") == 2, timeout=15)
    assert redis_client.llen(f"test:{run}:finished") == 0  # the first run is still going
    assert worker_names(redis_client, f"test:{run}:started") == ["first", "second"]


def test_a_task_whose_pool_process_dies_is_requeued_without_waiting_for_the_timeout(
    worker_settings: Settings, redis_client: redis.Redis, tmp_path: Path
) -> None:
    # A 60 s visibility timeout: a re-run within seconds can only come from
    # task_reject_on_worker_lost, not from kombu's restore sweep.
    patient = worker_settings.with_overrides(visibility_timeout=60, task_time_limit=30)
    app = create_app("tester", patient)
    run = uuid.uuid4().hex
    pool = Workers(patient, tmp_path / "workers")
    try:
        pool.start("only")
        app.send_task("sluicetest.die-once", args=[run])
        # billiard notices the dead child at once, or at its 5 s pool check.
        eventually(lambda: redis_client.llen(f"test:{run}:finished") == 1, timeout=30)
    finally:
        pool.close()
    assert int(redis_client.get(f"test:{run}:attempts") or 0) == 2


def test_a_worker_keeps_consuming_after_redis_restarts(
    workers: Workers,
    worker_settings: Settings,
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> None:
    app = create_app("tester", worker_settings)
    workers.start("steady")
    redis_server.restart()
    run = uuid.uuid4().hex
    app.send_task("sluicetest.slow", args=[run, 0.0])
    eventually(lambda: redis_client.llen(f"test:{run}:finished") == 1, timeout=30)
