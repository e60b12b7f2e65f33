"""HelmChart artifact versions and revisions, and values merging (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from services.source.helm.chartversion import (
    InvalidChartVersion,
    build_summary,
    effective_values_files,
    version_metadata,
    with_metadata,
)
from shared.helmvalues import merge_maps

SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "f" * 12 + "0" * 52


@pytest.mark.parametrize(
    ("kind", "strategy", "revision", "files", "expected"),
    [
        ("GitRepository", "ChartVersion", f"main@sha1:{SHA}", [], ""),
        ("GitRepository", "Revision", f"main@sha1:{SHA}", [], SHA[:12]),
        ("GitRepository", "Revision", f"v1.0.0@sha1:{SHA}", [], SHA[:12]),
        ("GitRepository", "Revision", f"sha1:{SHA}", [], SHA[:12]),
        ("GitRepository", "Revision", f"main/{SHA}", [], SHA[:12]),
        ("Bucket", "Revision", DIGEST, [], "f" * 12),
        ("GitRepository", "ChartVersion", f"main@sha1:{SHA}", ["prod.yaml"], "7"),
        ("GitRepository", "Revision", f"main@sha1:{SHA}", ["a.yaml", "b.yaml"], f"{SHA[:12]}.7"),
        # A lone values.yaml is the chart's own: no packaging, no generation.
        ("GitRepository", "ChartVersion", f"main@sha1:{SHA}", ["values.yaml"], ""),
        ("GitRepository", "ChartVersion", f"main@sha1:{SHA}", ["./values.yaml"], ""),
        # A Helm repository's chart ignores the strategy; values files add the generation.
        ("HelmRepository", "Revision", "sha256:" + "a" * 64, [], ""),
        ("HelmRepository", "ChartVersion", "sha256:" + "a" * 64, ["v.yaml"], "7"),
    ],
)
def test_version_metadata_follows_flux(
    kind: str, strategy: str, revision: str, files: list[str], expected: str
) -> None:
    got = version_metadata(
        source_kind=kind,
        strategy=strategy,
        source_revision=revision,
        values_files=files,
        generation=7,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("version", "metadata", "expected"),
    [
        ("1.2.3", "", "1.2.3"),
        ("1.2.3", "abc123", "1.2.3+abc123"),
        ("1.2.3+old", "new.4", "1.2.3+new.4"),
        ("1.2.3-rc.1", "4", "1.2.3-rc.1+4"),
        ("v1.2.3", "4", "1.2.3+4"),
    ],
)
def test_metadata_replaces_the_chart_versions_own(
    version: str, metadata: str, expected: str
) -> None:
    assert with_metadata(version, metadata) == expected


@pytest.mark.parametrize(("version", "metadata"), [("latest", "4"), ("1.2.3", "a_b")])
def test_metadata_on_a_version_that_is_not_semver_is_an_error(version: str, metadata: str) -> None:
    with pytest.raises(InvalidChartVersion):
        with_metadata(version, metadata)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ([], []),
        (["values.yaml"], []),
        (["values.yaml", "prod.yaml"], ["values.yaml", "prod.yaml"]),
        (["charts/app/values.yaml"], ["charts/app/values.yaml"]),
    ],
)
def test_effective_values_files(files: list[str], expected: list[str]) -> None:
    assert effective_values_files(files) == expected


@pytest.mark.parametrize(
    ("base", "overlay", "expected"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": {"x": 1}}, {"a": None}, {"a": None}),
        ({"a": "text"}, {"a": {"x": 1}}, {"a": {"x": 1}}),
        ({"a": {"x": 1}}, {"a": "text"}, {"a": "text"}),
    ],
)
def test_values_merge_like_flux_merge_maps(
    base: dict[str, Any], overlay: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert merge_maps(base, overlay) == expected


def test_build_summary_lists_the_merged_values_files() -> None:
    assert build_summary("app", "1.0.0", packaged=False, values_files=()) == (
        "pulled 'app' chart with version '1.0.0'"
    )
    assert build_summary("app", "1.0.0+1", packaged=True, values_files=("a.yaml", "b.yaml")) == (
        "packaged 'app' chart with version '1.0.0+1' and merged values files [a.yaml b.yaml]"
    )
