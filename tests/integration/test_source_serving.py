"""A source worker with artifact_listen serves its artifacts itself, as source-controller does."""

from __future__ import annotations

from pathlib import Path

import httpx

from shared.redisserver import free_port
from shared.settings import Settings
from tests.fixtures.workers import Workers


def test_a_source_worker_serves_the_artifacts_it_writes_when_told_where(
    worker_settings: Settings, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    (artifacts / "gitrepository" / "default" / "app").mkdir(parents=True)
    tarball = artifacts / "gitrepository" / "default" / "app" / "abc.tar.gz"
    tarball.write_bytes(b"\x1f\x8b artifact bytes")
    port = free_port()
    settings = worker_settings.with_overrides(
        artifact_dir=artifacts, artifact_listen=f"127.0.0.1:{port}"
    )
    workers = Workers(settings, tmp_path / "logs")
    try:
        workers.start("source", app="services.source.tasks", queues=("source",), pool="threads")
        got = httpx.get(f"http://127.0.0.1:{port}/gitrepository/default/app/abc.tar.gz")
        assert got.status_code == 200 and got.content == tarball.read_bytes()
        # Read-only, and nothing outside the folder.
        assert httpx.put(f"http://127.0.0.1:{port}/x", content=b"y").status_code == 405
        assert httpx.get(f"http://127.0.0.1:{port}/../secret.key").status_code == 404
    finally:
        workers.close()


def test_an_address_that_is_not_host_port_stops_the_worker_with_the_setting_named(
    worker_settings: Settings, tmp_path: Path
) -> None:
    workers = Workers(worker_settings.with_overrides(artifact_listen="nowhere"), tmp_path / "l")
    try:
        worker = workers.start(
            "source", app="services.source.tasks", queues=("source",), pool="threads", wait=False
        )
        assert worker.process.wait(timeout=60) != 0
        assert "SLUICE_ARTIFACT_LISTEN: 'nowhere': expected HOST:PORT" in worker.output()
    finally:
        workers.close()
