"""Picking a chart version from a Helm repository index, and where to download it (tables)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from services.source.helm.chart import ChartError, read_archive
from services.source.helm.chartbuild import ChartBuildError
from services.source.helm.chartindex import ChartVersion
from services.source.helm.chartremote import pick_version, resolve_chart_url
from shared.archive import MAX_ENTRIES


def entries(*versions: str) -> list[ChartVersion]:
    return [ChartVersion("app", v, (f"app-{v}.tgz",)) for v in versions]


@pytest.mark.parametrize(
    ("versions", "constraint", "picked"),
    [
        (["1.0.0", "1.2.0", "0.9.0"], "*", "1.2.0"),
        (["1.0.0", "1.2.0", "2.0.0-rc.1"], "*", "1.2.0"),
        (["1.0.0", "1.2.0", "2.0.0-rc.1"], ">=2.0.0-0", "2.0.0-rc.1"),
        (["1.0.0", "1.0.5", "1.1.0"], "1.0.x", "1.0.5"),
        (["1.0.0", "1.0.5", "1.1.0"], "~1.0.0", "1.0.5"),
        (["1.0.0", "2.1.0", "3.0.0"], ">=1.0.0 <3.0.0", "2.1.0"),
        # An exact version is taken as it is, even one that is no SemVer.
        (["1.0.0", "latest"], "latest", "latest"),
        (["1.0.0", "not-semver"], "*", "1.0.0"),
        (["1.0.0"], "", "1.0.0"),
    ],
)
def test_the_version_flux_would_pick(versions: list[str], constraint: str, picked: str) -> None:
    assert pick_version(entries(*versions), constraint, name="app").version == picked


def test_equal_versions_go_to_the_newest_created() -> None:
    older = ChartVersion("app", "1.0.0", ("old.tgz",), document={"created": "2024-01-01T00:00Z"})
    newer = ChartVersion("app", "1.0.0+b", ("new.tgz",), document={"created": "2025-01-01T00:00Z"})
    assert pick_version([newer, older], "*", name="app") is newer
    assert pick_version([older, newer], "*", name="app") is newer


def test_no_matching_version_names_the_chart_and_range() -> None:
    with pytest.raises(ChartBuildError) as caught:
        pick_version(entries("1.0.0"), "2.x", name="app")
    assert caught.value.reason == "InvalidChartReference"
    assert "no 'app' chart with version matching '2.x' found" in str(caught.value)


@pytest.mark.parametrize(
    ("repository", "reference", "url"),
    [
        ("https://charts.example.com", "app-1.0.0.tgz", "https://charts.example.com/app-1.0.0.tgz"),
        ("https://h/sub", "charts/app.tgz", "https://h/sub/charts/app.tgz"),
        ("https://h/sub/", "/abs/app.tgz", "https://h/abs/app.tgz"),
        ("https://h/sub/index.yaml?x=1", "app.tgz", "https://h/sub/index.yaml/app.tgz?x=1"),
        ("https://h/sub", "https://cdn.example.com/app.tgz", "https://cdn.example.com/app.tgz"),
    ],
)
def test_chart_urls_resolve_as_helm_does(repository: str, reference: str, url: str) -> None:
    assert resolve_chart_url(repository, reference) == url


def test_a_chart_archive_of_too_many_entries_is_refused(tmp_path: Path) -> None:
    # A 10 MiB chart of empty entries would be ~1.7 million members held in memory.
    archive = tmp_path / "app-1.0.0.tgz"
    with tarfile.open(archive, mode="w:gz") as tar:
        chart = b"apiVersion: v2\nname: app\nversion: 1.0.0\n"
        info = tarfile.TarInfo("app/Chart.yaml")
        info.size = len(chart)
        tar.addfile(info, io.BytesIO(chart))
        for index in range(MAX_ENTRIES + 1):
            tar.addfile(tarfile.TarInfo(f"app/f{index}"))
    with pytest.raises(ChartError, match=f"more than {MAX_ENTRIES} entries"):
        read_archive(archive)
