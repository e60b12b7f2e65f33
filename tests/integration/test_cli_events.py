"""sluice events, sluice worker and sluice scheduler as real processes on a real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from shared.celeryapp import create_app
from shared.events import Event, EventBus
from shared.keys import ObjectKey
from shared.redisconn import connect
from shared.redisserver import RedisServer
from shared.settings import Settings
from tests.helpers import eventually

SLUICE = str(Path(sys.executable).with_name("sluice"))
DATA = Path(__file__).parent.parent / "data"


def _env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SLUICE_REDIS_URL": redis_server.url,
        "SLUICE_SECRET_KEY_FILE": str(tmp_path / "key"),
    }


def _event(name: str) -> Event:
    return Event(
        type="applied",
        object=ObjectKey("Kustomization", "flux-system", name),
        revision="main@sha1:" + "a" * 40,
        severity="info",
        reason="ReconciliationSucceeded",
        message=f"applied {name}",
    )


def test_events_lists_recent_and_watch_follows_new_ones(
    redis_server: RedisServer, settings: Settings, tmp_path: Path
) -> None:
    bus = EventBus(connect(settings), create_app("test", settings))
    bus.publish(_event("first"))
    listing = subprocess.run(
        [SLUICE, "events"], env=_env(redis_server, tmp_path), capture_output=True, text=True
    )
    assert listing.returncode == 0, listing.stderr
    assert "Kustomization/flux-system/first" in listing.stdout
    assert "ReconciliationSucceeded" in listing.stdout

    watcher = subprocess.Popen(
        [SLUICE, "events", "--watch", "--for", "Kustomization/flux-system/second"],
        env=_env(redis_server, tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        bus.publish(_event("other"))
        bus.publish(_event("second"))
        assert watcher.stdout is not None
        line = watcher.stdout.readline()
        while "first" in line:  # the recent history comes first, filtered
            line = watcher.stdout.readline()
        assert "Kustomization/flux-system/second" in line
        assert "applied second" in line
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=10)
    assert watcher.returncode == 0


def _failure(name: str, *, namespace: str = "web", cluster: str = "prod") -> Event:
    return Event(
        type="reconcile-failed",
        object=ObjectKey("Kustomization", namespace, name),
        severity="error",
        reason="HealthCheckFailed",
        message=f"{name} is not healthy",
        cluster=cluster,
    )


def test_events_filters_select_the_same_events_as_the_event_stream(
    redis_server: RedisServer, settings: Settings, tmp_path: Path
) -> None:
    bus = EventBus(connect(settings), create_app("test", settings))
    for event in (
        _event("quiet"),
        _failure("frontend"),
        _failure("backend", cluster="staging"),
        _failure("worker", namespace="jobs"),
        Event(
            type="reconcile-failed", object=ObjectKey("HelmRelease", "web", "db"), severity="error"
        ),
    ):
        bus.publish(event)
    env = _env(redis_server, tmp_path)
    listing = subprocess.run(
        [SLUICE, "events", "--kind", "ks", "--severity", "error", "--cluster", "prod,edge"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stderr
    shown = [line for line in listing.stdout.splitlines() if "Kustomization/" in line]
    assert [line.split()[2] for line in shown] == [
        "Kustomization/web/frontend",
        "Kustomization/jobs/worker",
    ]

    refused = subprocess.run(
        [SLUICE, "events", "--severity", "loud"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert "--severity: unknown severity 'loud'" in refused.stderr

    watcher = subprocess.Popen(
        [SLUICE, "events", "--watch", "--reason", "HealthCheckFailed", "--namespace", "web"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        history = [watcher.stdout.readline() for _ in range(2)]  # frontend, backend
        assert ["frontend" in history[0], "backend" in history[1]] == [True, True]
        bus.publish(_event("ignored"))
        bus.publish(_failure("late", namespace="jobs"))
        bus.publish(_failure("followed"))
        line = watcher.stdout.readline()
        assert "Kustomization/web/followed" in line
        assert "HealthCheckFailed" in line
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=10)
    assert watcher.returncode == 0


def test_scheduler_command_requests_reconciles_for_stored_objects(
    redis_server: RedisServer, settings: Settings, tmp_path: Path
) -> None:
    env = _env(redis_server, tmp_path)
    applied = subprocess.run(
        [SLUICE, "apply", "-f", str(DATA / "flux-system.yaml")], env=env, capture_output=True
    )
    assert applied.returncode == 0
    scheduler = subprocess.Popen([SLUICE, "scheduler"], env=env)
    client = connect(settings)
    try:
        # Nothing consumes the queues here: the requests wait in each service's list.
        eventually(lambda: client.llen("source") == 1 and client.llen("kustomize") == 1, 20)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=10)
    assert scheduler.returncode == 0


def test_worker_command_refuses_unknown_service(redis_server: RedisServer, tmp_path: Path) -> None:
    result = subprocess.run(
        [SLUICE, "worker", "sourcery"],
        env=_env(redis_server, tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown service 'sourcery'" in result.stderr
