"""The helm scenario's figures against Flux's published helm-controller run."""

from __future__ import annotations

import pytest

from bench.scenarios.helm import FLUX_RELEASES, FLUX_SECONDS, Releases, anchor_rows

MIB = 1 << 20


def releases(count: int, took: float, *, helm_cpu: float) -> Releases:
    cpu = {
        "helm worker": helm_cpu,
        "source worker": 2.0,
        "scheduler": 1.0,
        "redis": 1.0,
        "apiserver+etcd": 50.0,  # the clusters' own: never counted as sluice's
        "rest": 30.0,
        "available": 2 * took,
    }
    return Releases(
        count=count,
        seconds=took,
        cpu=cpu,
        helm_runs_cpu=helm_cpu * 0.8,
        rss_bytes=300 * MIB,
        pss_bytes=200 * MIB,
        helm_rss_bytes=100 * MIB,
        revisions=count,
    )


@pytest.mark.parametrize(
    ("count", "took", "cores", "expected"),
    [
        # Flux's own figure on Flux's 2 CPUs is Flux's figure.
        (FLUX_RELEASES, FLUX_SECONDS, 2, "1.79 rel/s per core (x1.00 Flux's)"),
        (100, 25.0, 2, "2.00 rel/s per core (x1.12 Flux's)"),
        (100, 25.0, 4, "1.00 rel/s per core (x0.56 Flux's)"),
    ],
)
def test_releases_per_core_are_set_against_flux_per_cpu(
    count: int, took: float, cores: int, expected: str
) -> None:
    rows = {
        row.metric: row for row in anchor_rows(releases(count, took, helm_cpu=40.0), cores=cores)
    }
    assert rows["releases/s per core"].value == expected


def test_cpu_per_release_counts_sluice_processes_not_the_clusters() -> None:
    rows = {row.metric: row for row in anchor_rows(releases(100, 30.0, helm_cpu=40.0), cores=2)}
    # 100 releases / 40 s of the helm worker; / (40 + 2 + 1 + 1) s of all sluice and Redis.
    assert rows["releases per CPU second"].value == "2.50 (helm worker), 2.27 (all sluice)"


def test_peak_memory_is_the_helm_workers_beside_flux_controllers() -> None:
    rows = {row.metric: row for row in anchor_rows(releases(100, 30.0, helm_cpu=40.0), cores=2)}
    assert rows["peak memory"].value == "100 MiB helm worker"
    assert "300 MiB RSS, 200 MiB PSS" in rows["peak memory"].note
    assert "361 MiB" in rows["peak memory"].note


def test_flux_figure_at_the_same_count_is_named_when_published() -> None:
    rows = {row.metric: row for row in anchor_rows(releases(100, 30.0, helm_cpu=40.0), cores=2)}
    assert "its 100: 26 s = 3.85 rel/s, 286 MiB" in rows["releases/s per core"].note
    rows = {row.metric: row for row in anchor_rows(releases(200, 30.0, helm_cpu=40.0), cores=2)}
    assert "its 200" not in rows["releases/s per core"].note
