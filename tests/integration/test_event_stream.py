"""GET /events: sluice's events as Server-Sent Events, under a real uvicorn on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from services.notify.eventstream import CLIENT_NAME, StreamOptions, routes
from services.notify.sse import StreamId
from shared.celeryapp import create_app
from shared.events import STREAM, Event, EventBus
from shared.keys import ObjectKey
from shared.redisconn import connect
from shared.redisserver import RedisServer
from shared.settings import Settings
from tests.fixtures.gitops import GitOps, configmap_yaml, source_yaml, unique
from tests.helpers import eventually
from tests.receivers import running_receiver
from tests.servers.git import BareRepo, GitDaemon
from tests.sse import serve, subscribe

SOURCE = ObjectKey("GitRepository", "flux-system", "fleet")
APPS = ObjectKey("Kustomization", "flux-system", "apps")
REVISION = "main@sha1:" + "c" * 40


@pytest.fixture
def bus(settings: Settings) -> EventBus:
    return EventBus(connect(settings), create_app("test", settings), max_len=1000)


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    with serve(routes(settings, options=StreamOptions(heartbeat=0.5, max_subscribers=4))) as url:
        yield url


def commit_events(revision: str = REVISION) -> list[Event]:
    """What one commit makes the services publish, in their order."""
    return [
        Event(
            type="revision-changed",
            object=SOURCE,
            revision=revision,
            reason="NewArtifact",
            message=f"stored artifact for commit {revision}",
        ),
        Event(type="artifact-ready", object=SOURCE, revision=revision, reason="Succeeded"),
        Event(
            type="applied",
            object=APPS,
            revision=revision,
            reason="ReconciliationSucceeded",
            message="Applied revision: " + revision,
            cluster="staging",
            metadata={"revision": revision},
        ),
        Event(
            type="health-changed",
            object=APPS,
            revision=revision,
            reason="Progressing",
            cluster="staging",
        ),
    ]


def marker(name: str) -> Event:
    return Event(type="applied", object=ObjectKey("Kustomization", "marker", name), reason="Marker")


def test_a_subscriber_sees_a_commits_events_in_order_and_resumes_without_loss_or_repeat(
    base: str, bus: EventBus
) -> None:
    first = commit_events()
    with subscribe(base) as reader:
        ids = [bus.publish(event) for event in first]
        frames = reader.events(len(first))
    assert [f.id for f in frames] == ids
    assert [f.event for f in frames] == [e.type for e in first]
    assert [f.json() for f in frames] == [e.to_dict() for e in first]

    # Published while the subscriber is away: it gets exactly these on its return.
    missed = commit_events("main@sha1:" + "d" * 40)
    missed_ids = [bus.publish(event) for event in missed]
    with subscribe(base, last_id=reader.last_id) as again:
        after = bus.publish(marker("after"))
        frames = again.events(len(missed) + 1)
    assert [f.id for f in frames] == [*missed_ids, after]
    assert [f.json() for f in frames[:-1]] == [e.to_dict() for e in missed]

    # ?since= does the same for clients that cannot set the header; since=0: all kept.
    with subscribe(base, params=[("since", ids[-1])]) as by_query:
        assert [f.id for f in by_query.events(len(missed) + 1)] == [*missed_ids, after]
    with subscribe(base, params=[("since", "0")]) as everything:
        assert [f.id for f in everything.events(9)] == [*ids, *missed_ids, after]


def test_a_real_commits_events_reach_a_subscriber_and_a_reconnect_loses_none(
    gitops: GitOps, git_repo: BareRepo, git_daemon: GitDaemon
) -> None:
    name = unique("stream")
    params = [("kind", "GitRepository"), ("name", name)]
    with serve(routes(gitops.settings, options=StreamOptions(heartbeat=0.5))) as url:
        with subscribe(url, params=params) as reader:
            first = git_repo.commit({"a.yaml": configmap_yaml("a", "default", x="1")})
            gitops.apply(source_yaml(name, git_daemon.url_for(git_repo)))
            frames = reader.events(2)
        revision = f"main@sha1:{first}"
        assert [(f.event, f.json()["revision"]) for f in frames] == [
            ("revision-changed", revision),
            ("artifact-ready", revision),
        ]
        assert frames[0].json()["object"] == {
            "kind": "GitRepository",
            "namespace": "flux-system",
            "name": name,
        }

        # The next commit lands while the subscriber is away.
        second = git_repo.commit({"b.yaml": configmap_yaml("b", "default", x="2")})
        gitops.pushed(name)
        gitops.wait_ready("GitRepository", name, revision=f"main@sha1:{second}")
        with subscribe(url, params=params, last_id=reader.last_id) as again:
            frames = again.events(2)
        assert [(f.event, f.json()["revision"]) for f in frames] == [
            ("revision-changed", f"main@sha1:{second}"),
            ("artifact-ready", f"main@sha1:{second}"),
        ]


def test_filters_select_exactly_the_matching_events_and_the_position_moves_past_the_others(
    base: str, bus: EventBus
) -> None:
    failing = Event(
        type="reconcile-failed",
        object=ObjectKey("Kustomization", "web", "frontend", "prod"),
        severity="error",
        reason="HealthCheckFailed",
        message="timeout waiting for Deployment/web/frontend",
    )
    params = [("kind", "ks"), ("severity", "error"), ("cluster", "prod,edge")]
    with subscribe(base, params=params) as reader:
        published = [
            *commit_events(),
            failing,
            Event(type="reconcile-failed", object=SOURCE, severity="error", reason="GitFailed"),
            Event(type="applied", object=APPS, severity="error", reason="Failed", cluster="stage"),
            Event(type="applied", object=APPS, severity="error", reason="Failed", cluster="edge"),
        ]
        ids = [bus.publish(event) for event in published]
        got = reader.events(2)
        assert [f.id for f in got] == [ids[4], ids[7]]
        assert got[0].json()["message"] == failing.message
        # Nothing more matches: the next heartbeat carries the position reached.
        position = bus.publish(marker("unmatched"))

        def heartbeat_at_position() -> bool:
            frame = reader.frame()
            assert frame.data is None, f"unexpected event {frame}"
            return frame.id == position

        eventually(heartbeat_at_position, 20, interval=0)
    with subscribe(base, params=[("reason", "Marker")], last_id=position) as resumed:
        last = bus.publish(marker("next"))
        assert resumed.event().id == last


def test_an_idle_stream_gets_heartbeat_comments_at_the_interval(base: str) -> None:
    with subscribe(base) as reader:
        started = time.monotonic()
        frames = [reader.frame() for _ in range(4)]
        elapsed = time.monotonic() - started
    assert all(f.comments == ["heartbeat"] and f.data is None for f in frames)
    # Every 0.5 s here: neither a flood nor a silence a proxy would cut.
    assert 1.5 <= elapsed < 15, elapsed


@pytest.mark.parametrize(
    ("params", "headers", "words"),
    [
        ([("severity", "loud")], {}, "query parameter severity: unknown severity 'loud'"),
        ([("kind", "Kustomisation")], {}, 'query parameter kind: unknown kind "Kustomisation"'),
        ([("kinds", "Kustomization")], {}, "query parameter kinds: not a filter"),
        ([("since", "yesterday")], {}, "since: 'yesterday' is not an event id"),
        ([], {"Last-Event-ID": "12-x"}, "Last-Event-ID: '12-x' is not an event id"),
    ],
)
def test_a_malformed_filter_or_id_is_refused_naming_it(
    base: str, params: list[tuple[str, str]], headers: dict[str, str], words: str
) -> None:
    answer = httpx.get(f"{base}/events", params=params, headers=headers, timeout=30)
    assert answer.status_code == 400
    assert words in answer.text


def test_events_trimmed_from_the_stream_are_reported_as_a_gap(
    base: str, bus: EventBus, redis_client: redis.Redis
) -> None:
    seen = bus.publish(marker("seen"))
    lost = [bus.publish(marker(f"lost-{i}")) for i in range(3)]
    kept = [bus.publish(marker(f"kept-{i}")) for i in range(2)]
    # The stream is bounded: what SLUICE_EVENTS_MAX_LEN would trim, trimmed exactly.
    redis_client.xtrim(STREAM, maxlen=2, approximate=False)
    with subscribe(base, last_id=seen) as reader:
        gap, *frames = reader.events(3)
    assert gap.event == "gap"
    # Up to just before the oldest entry kept: the last one lost, or an id between the two.
    after = StreamId.parse(kept[0]).previous()
    assert gap.json() == {"since": seen, "after": str(after), "reason": "trimmed"}
    assert gap.id == str(after)
    assert StreamId.parse(lost[-1]) <= after
    assert [f.id for f in frames] == kept

    # Resuming from the gap's id (as an EventSource would) reports nothing twice.
    with subscribe(base, last_id=gap.id) as again:
        assert [f.id for f in again.events(2)] == kept
    # An id from before a Redis that lost its data: the stream starts over, said so.
    with subscribe(base, last_id="99999999999999-0") as reset:
        gap = reset.event()
        assert gap.json()["reason"] == "reset"
        assert [f.id for f in reset.events(2)] == kept


def test_a_subscriber_that_reads_nothing_does_not_slow_another(
    base: str, settings: Settings
) -> None:
    # 24 MB of events: far past what the socket buffers of the idle subscriber hold.
    count, message = 1500, "x" * 16_000
    bus = EventBus(connect(settings), create_app("test", settings), max_len=10_000)
    with subscribe(base, params=[("since", "0")]) as idle, subscribe(base) as busy:
        ids = [
            bus.publish(Event(type="applied", object=APPS, reason="Big", message=message))
            for _ in range(count)
        ]
        assert [f.id for f in busy.events(count)] == ids
        # The idle one was held back, not dropped: it still gets every event, in order.
        assert [f.id for f in idle.events(count)] == ids


def test_a_stream_the_client_leaves_is_closed_and_its_seat_freed(
    settings: Settings, bus: EventBus, redis_client: redis.Redis
) -> None:

    def stream_connections() -> int:
        clients = redis_client.client_list()
        return sum(1 for c in clients if c.get("name") == CLIENT_NAME)

    options = StreamOptions(heartbeat=0.5, max_subscribers=1)
    with serve(routes(settings, options=options)) as url:
        with subscribe(url) as reader:
            reader.frame()
            eventually(lambda: stream_connections() == 1, 20)
            full = httpx.get(f"{url}/events", timeout=30)
            assert full.status_code == 503
            assert full.headers["retry-after"] == "3"
            # A HEAD answers at once and takes no seat.
            head = httpx.head(f"{url}/events", timeout=30)
            assert head.status_code == 200
            assert head.headers["content-type"].startswith("text/event-stream")
        eventually(lambda: stream_connections() == 0, 20)
        with subscribe(url) as again:
            event_id = bus.publish(marker("back"))
            assert again.event().id == event_id


def test_with_a_token_set_only_a_request_bearing_it_is_served(
    settings: Settings, bus: EventBus
) -> None:
    options = StreamOptions(heartbeat=0.5, token="s3cret-event-token")
    with serve(routes(settings, options=options)) as url:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "s3cret-event-token"},
        ):
            refused = httpx.get(f"{url}/events", headers=headers, timeout=30)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
        with subscribe(url, token="s3cret-event-token") as reader:
            event_id = bus.publish(marker("authorized"))
            assert reader.event().id == event_id


def test_a_stream_outlives_a_redis_restart_and_goes_on_where_it_was(
    base: str, bus: EventBus, redis_server: RedisServer
) -> None:
    with subscribe(base) as reader:
        before = bus.publish(marker("before"))
        assert reader.event().id == before
        redis_server.stop()
        # Heartbeats go on while Redis is down: the connection stays open.
        reader.frame()
        redis_server.start()

        def publish_after() -> str | None:
            try:
                return bus.publish(marker("after"))
            except redis.ConnectionError:
                return None

        after = eventually(publish_after, 20)
        assert reader.event().id == after


def test_sluice_receiver_serves_the_stream_behind_its_token(
    settings: Settings, bus: EventBus, tmp_path: Path
) -> None:
    token_file = tmp_path / "events-token"
    token_file.write_text("stream-token-5d1e\n")
    token_file.chmod(0o600)
    served = settings.with_overrides(events_token_file=token_file)
    with running_receiver(served, tmp_path / "logs") as receiver:
        refused = httpx.get(f"{receiver.url}/events", timeout=10)
        assert refused.status_code == 401
        with subscribe(
            receiver.url, params=[("kind", "Kustomization")], token="stream-token-5d1e"
        ) as reader:
            for event in commit_events():
                bus.publish(event)
            frame = reader.event()
            assert frame.event == "applied" and frame.json()["object"]["kind"] == "Kustomization"
        assert "stream-token-5d1e" not in receiver.output()
