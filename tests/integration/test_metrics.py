"""The Prometheus exporter scraped over HTTP while a real sluice reconciles."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.cli.metrics import MetricsServer, serve_metrics
from shared.keys import ObjectKey
from shared.lease import Lease, request_reconcile
from shared.plugins import load_services
from shared.redisserver import free_port
from shared.sandbox import ClusterInfo
from tests.fixtures.gitops import (
    GitOps,
    configmap_yaml,
    kustomization_yaml,
    namespace_yaml,
    source_yaml,
    unique,
)
from tests.fixtures.workers import ROOT
from tests.helpers import eventually
from tests.servers.git import BareRepo

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of one scrape, by (sample name, labels)."""
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _try_scrape(url: str) -> Samples:
    try:
        return scrape(url)
    except httpx.TransportError:
        return {}


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def exporter(gitops: GitOps) -> Iterator[MetricsServer]:
    """``serve_metrics`` on a free loopback port, in this process."""
    server = serve_metrics(gitops.settings, port=free_port())
    yield server
    server.close()


def test_a_reconcile_moves_every_counter_and_queue_depths_are_served(
    gitops: GitOps, exporter: MetricsServer, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    ns = unique("metrics")
    git_repo.commit({"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("c", ns)})
    before = scrape(exporter.url)
    assert value(before, "sluice_metrics_redis_up") == 1
    assert ("sluice_lease_waits_total", frozenset()) in before
    for service in (s.name for s in load_services()):
        assert ("sluice_queue_depth", frozenset({("service", service)})) in before

    # helm takes artifact-ready events too, image revision-changed and notify every
    # event: their workers serve them, so their queues drain.
    gitops.start_worker("helm")
    gitops.start_worker("image")
    gitops.start_worker("notify")
    gitops.register_cluster(sandbox_cluster, "default")
    gitops.apply(
        source_yaml("app", git_repo.url) + kustomization_yaml("app", source="app", path="./app")
    )
    gitops.wait_ready("Kustomization", "app")

    def moved() -> Samples:
        after = scrape(exporter.url)
        for name, labels in [
            ("sluice_reconcile_total", {"kind": "GitRepository", "result": "success"}),
            ("sluice_reconcile_total", {"kind": "Kustomization", "result": "success"}),
            ("sluice_reconcile_duration_seconds_count", {"kind": "GitRepository"}),
            ("sluice_reconcile_duration_seconds_count", {"kind": "Kustomization"}),
            ("sluice_apply_total", {"result": "success"}),
            ("sluice_build_cache_total", {"result": "miss"}),
            ("sluice_events_published_total", {"type": "artifact-ready"}),
            ("sluice_events_published_total", {"type": "applied"}),
        ]:
            assert value(after, name, **labels) > value(before, name, **labels), (name, labels)
        # The namespace and the ConfigMap.
        created = value(after, "sluice_objects_applied_total", action="created")
        assert created >= value(before, "sluice_objects_applied_total", action="created") + 2
        return after

    after = eventually(moved, timeout=30, interval=0.5)
    for kind in ("GitRepository", "Kustomization"):
        count = value(after, "sluice_reconcile_duration_seconds_count", kind=kind)
        assert value(after, "sluice_reconcile_duration_seconds_bucket", kind=kind, le="+Inf") == (
            count
        )
        assert value(after, "sluice_reconcile_duration_seconds_sum", kind=kind) > 0
    assert value(after, "sluice_reconcile_total", kind="GitRepository", result="failure") == 0

    services = [s.name for s in load_services()]

    def drained() -> bool:
        # Every service's queue is served, and with the reconciles done none holds a message.
        samples = scrape(exporter.url)
        depths = {
            s: samples.get(("sluice_queue_depth", frozenset({("service", s)}))) for s in services
        }
        assert depths == dict.fromkeys(services, 0.0)
        return True

    eventually(drained, timeout=30, interval=0.5)


def test_a_task_that_finds_the_lease_busy_is_counted_as_a_lease_wait(
    gitops: GitOps, exporter: MetricsServer
) -> None:
    client = gitops.store_client
    key = ObjectKey("GitRepository", "flux-system", "busy")
    before = value(scrape(exporter.url), "sluice_lease_waits_total")
    with Lease(client, key, "test-holder", ttl=30):
        request_reconcile(client, gitops.workers_app, key, task_name="source.reconcile")
        eventually(
            lambda: value(scrape(exporter.url), "sluice_lease_waits_total") > before,
            timeout=20,
            interval=0.3,
        )


def test_queue_depth_is_the_length_of_the_service_queue(
    gitops: GitOps, exporter: MetricsServer
) -> None:
    # helm has no worker in this installation, so what is sent to it waits.
    app = gitops.workers_app
    for _ in range(3):
        app.send_task("helm.reconcile", args=["HelmRelease/flux-system/waiting"])
    samples = scrape(exporter.url)
    assert value(samples, "sluice_queue_depth", service="helm") == 3
    assert value(samples, "sluice_queue_depth", service="source") == 0


def test_sluice_metrics_serves_until_interrupted(gitops: GitOps) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from shared.cli.main import main; main()", "metrics"]
    process = subprocess.Popen(
        [*command, "--address", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=gitops.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        samples = eventually(lambda: _try_scrape(url), timeout=30, interval=0.2)
        assert value(samples, "sluice_metrics_redis_up") == 1
        process.terminate()
        out, err = process.communicate(timeout=15)
        assert process.returncode == 0, err
        assert f"serving metrics at {url}" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
