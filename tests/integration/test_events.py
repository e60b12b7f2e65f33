"""Event bus: durable delivery to subscribed service queues and the bounded event stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from shared.celeryapp import create_app
from shared.events import STREAM, Event, EventBus, mark_handled
from shared.keys import ObjectKey
from shared.redisserver import RedisServer
from shared.settings import Settings
from tests.fixtures.workers import Workers
from tests.helpers import eventually

APPS = ObjectKey("Kustomization", "flux-system", "apps")


@pytest.fixture
def app(worker_settings: Settings) -> Celery:
    return create_app("publisher", worker_settings)


@pytest.fixture
def bus(redis_client: redis.Redis, app: Celery) -> Iterator[EventBus]:
    yield EventBus(redis_client, app, max_len=1000)


def applied(revision: str = "main@sha1:1f2e3d") -> Event:
    return Event(
        type="applied",
        object=APPS,
        revision=revision,
        reason="ReconciliationSucceeded",
        message="Applied revision",
        cluster="staging",
        metadata={"revision": revision},
    )


def test_an_event_survives_a_round_trip_through_its_dict() -> None:
    event = applied()
    assert Event.from_dict(event.to_dict()) == event
    assert event.to_dict()["object"] == {
        "kind": "Kustomization",
        "namespace": "flux-system",
        "name": "apps",
    }
    assert event.timestamp.endswith("Z")


def test_a_malformed_event_dict_is_refused_with_the_field() -> None:
    data = applied().to_dict()
    del data["object"]
    with pytest.raises(ValueError, match="object"):
        Event.from_dict(data)
    with pytest.raises(ValueError, match="severity"):
        Event(type="applied", object=APPS, severity="loud")  # type: ignore[arg-type]


def test_publish_queues_one_message_per_subscribed_service(
    bus: EventBus, redis_client: redis.Redis
) -> None:
    bus.subscribe("sluicetest", ["applied"])
    bus.subscribe("notify", "*")
    bus.publish(applied())
    bus.publish(Event(type="health-changed", object=APPS))
    assert redis_client.llen("sluicetest") == 1
    assert redis_client.llen("notify") == 2
    assert bus.subscribers("applied") == ["notify", "sluicetest"]
    assert bus.subscribers("health-changed") == ["notify"]
    bus.unsubscribe("notify")
    assert bus.subscribers("health-changed") == []


def test_an_event_published_while_the_subscriber_is_down_is_handled_when_it_starts(
    bus: EventBus, workers: Workers, redis_client: redis.Redis
) -> None:
    bus.subscribe("sluicetest", ["applied"])
    event = applied()
    bus.publish(event)
    assert redis_client.llen("sluicetest") == 1  # waiting in Redis, no worker yet

    workers.start("subscriber")
    eventually(lambda: redis_client.lrange("test:events:handled", 0, -1) == [event.id.encode()])


def test_subscriptions_and_queued_events_survive_a_redis_restart(
    bus: EventBus, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    bus.subscribe("sluicetest", ["applied"])
    bus.publish(applied("main@sha1:aaa"))
    redis_server.restart()
    bus.publish(applied("main@sha1:bbb"))  # the publisher reconnects by itself
    assert redis_client.llen("sluicetest") == 2
    assert [e.revision for _, e in bus.read()] == ["main@sha1:aaa", "main@sha1:bbb"]


def test_read_returns_events_after_a_stream_id_in_order(bus: EventBus) -> None:
    ids = [bus.publish(applied(f"main@sha1:{n}")) for n in range(3)]
    assert [entry_id for entry_id, _ in bus.read()] == ids
    assert [e.revision for _, e in bus.read(since=ids[0])] == ["main@sha1:1", "main@sha1:2"]
    assert bus.read(since=ids[0], count=1)[0][0] == ids[1]


def test_tail_yields_events_published_after_it_starts(bus: EventBus) -> None:
    bus.publish(applied("main@sha1:old"))
    stop = threading.Event()
    seen: list[str] = []
    tail = bus.tail(block_ms=100, stop=stop)

    def watch() -> None:
        for _, event in tail:
            seen.append(event.revision)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        eventually(lambda: bus.publish(applied("main@sha1:new")) and seen, timeout=5)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert not watcher.is_alive()
    assert "main@sha1:old" not in seen
    assert set(seen) == {"main@sha1:new"}


def test_the_event_stream_is_bounded(redis_client: redis.Redis, app: Celery) -> None:
    bus = EventBus(redis_client, app, max_len=50)
    for n in range(500):
        bus.publish(applied(f"main@sha1:{n}"))
    # MAXLEN ~ trims whole stream nodes (100 entries each), never below max_len.
    assert 50 <= redis_client.xlen(STREAM) <= 200
    assert bus.read(since="0", count=1)[0][1].revision != "main@sha1:0"


def test_a_handler_can_dedupe_on_the_event_id(redis_client: redis.Redis) -> None:
    event = applied()
    assert mark_handled(redis_client, "notify", event.id)
    assert not mark_handled(redis_client, "notify", event.id)
    assert mark_handled(redis_client, "helm", event.id)
