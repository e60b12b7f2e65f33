"""Helm repository index documents read as Flux reads them (pure)."""

from __future__ import annotations

import json

import pytest

from services.source.helm.chartindex import InvalidIndex, parse_index

INDEX = b"""apiVersion: v1
entries:
  app:
  - name: app
    version: 1.2.0
    urls: [app-1.2.0.tgz]
    digest: abc
  - name: app
    version: 1.10.0
    urls: [app-1.10.0.tgz]
  - name: app
    version: 1.10.0-rc.1
    urls: [app-1.10.0-rc.1.tgz]
  - just a string
  - name: app
    urls: [no-version.tgz]
  other: []
generated: "2026-01-01T00:00:00Z"
"""


def test_versions_are_sorted_newest_first_and_invalid_ones_dropped() -> None:
    index = parse_index(INDEX)
    assert index.charts == ("app", "other")
    assert [v.version for v in index.versions("app")] == ["1.10.0", "1.10.0-rc.1", "1.2.0"]
    assert index.versions("app")[2].urls == ("app-1.2.0.tgz",)
    assert index.versions("app")[2].digest == "abc"
    assert index.versions("missing") == ()


def test_the_artifact_is_json_that_reads_back_the_same() -> None:
    index = parse_index(INDEX)
    again = parse_index(index.to_json())
    assert again.document == index.document
    assert json.loads(index.to_json())["generated"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty index.yaml file"),
        (b"   \n", "empty index.yaml file"),
        (b"entries: {}\n", "no API version specified"),
        (b"<html>Not found</html>\n", "expected a YAML mapping with apiVersion and entries"),
        (b"- a\n- b\n", "got a list"),
        (b"apiVersion: v1\nentries: [1, 2]\n", "entries: expected a mapping"),
        (b"apiVersion: v1\nentries: {\n", "line"),
        (b"apiVersion: v1\napiVersion: v2\n", "duplicate"),
    ],
)
def test_what_is_not_an_index_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidIndex) as info:
        parse_index(data)
    assert message in str(info.value)


def test_an_index_without_entries_is_an_empty_repository() -> None:
    # helm repo index of an empty folder writes this; Flux accepts it.
    assert parse_index(b"apiVersion: v1\nentries: {}\n").charts == ()
