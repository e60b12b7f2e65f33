"""A Helm repository index document: read, checked and ordered as Helm and Flux do. Pure.

Flux loads a fetched ``index.yaml`` with Helm's rules before storing it: an
empty file or one without ``apiVersion`` is refused, chart versions that are
not valid entries are dropped, and each chart's versions are sorted newest
first. The artifact is that index written as JSON (which is YAML too), as
Flux's ``ChartRepository.ToJSON``: a consumer (HelmChart) parses it with
``json.loads``, far faster than YAML for the large indexes public
repositories serve.
"""

from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from shared.jsondoc import load_json
from shared.semver import parse_version
from shared.yaml import DocumentError, load

__all__ = ["ChartIndex", "ChartVersion", "InvalidIndex", "parse_index"]


class InvalidIndex(ValueError):
    """The document is not a Helm repository index; the message says why, never quoting it."""


@dataclass(frozen=True)
class ChartVersion:
    """One ``entries.<chart>[]`` item: what a HelmChart needs to pick and pull a version."""

    name: str
    version: str
    urls: tuple[str, ...]
    digest: str = ""
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ChartIndex:
    """A checked index; ``document`` keeps every field, versions sorted newest first."""

    document: dict[str, Any] = field(repr=False)

    @property
    def charts(self) -> tuple[str, ...]:
        """The chart names, sorted."""
        return tuple(sorted(self.document.get("entries") or {}))

    def versions(self, chart: str) -> tuple[ChartVersion, ...]:
        """The versions of ``chart``, newest first; empty when the index has no such chart."""
        return tuple(
            ChartVersion(
                name=str(item.get("name") or chart),
                version=str(item["version"]),
                urls=tuple(str(u) for u in item.get("urls") or () if isinstance(u, str)),
                digest=str(item.get("digest") or ""),
                document=item,
            )
            for item in (self.document.get("entries") or {}).get(chart, ())
        )

    def to_json(self) -> bytes:
        """The artifact's bytes: indented JSON, as Flux writes ``index-<hex>.yaml``."""
        return json.dumps(self.document, indent=2).encode()


def parse_index(data: bytes, *, source: str = "index.yaml") -> ChartIndex:
    """Read an index as Flux's ``IndexFromBytes`` does; InvalidIndex when it is not one."""
    if not data.strip():
        raise InvalidIndex("empty index.yaml file")
    try:
        document = _load(data, source)
    except DocumentError as err:
        raise InvalidIndex(err.message) from None
    if not isinstance(document, dict):
        got = "nothing" if document is None else f"a {type(document).__name__}"
        raise InvalidIndex(f"expected a YAML mapping with apiVersion and entries, got {got}")
    if not document.get("apiVersion"):
        raise InvalidIndex("no API version specified")
    entries = document.get("entries") or {}
    if not isinstance(entries, dict):
        raise InvalidIndex("entries: expected a mapping of chart names to lists of versions")
    document["entries"] = {
        str(chart): _sorted_valid(versions) for chart, versions in entries.items()
    }
    return ChartIndex(document)


def _load(data: bytes, source: str) -> Any:
    # JSON first: Flux's artifacts and some servers' indexes are JSON, and a
    # JSON parser is far faster than a YAML one on a large index.
    if data.lstrip()[:1] == b"{":
        with contextlib.suppress(DocumentError):
            return load_json(data, source=source)
    return load(data, source=source)


def _sorted_valid(versions: Any) -> list[dict[str, Any]]:
    """Versions with a name and a version, newest first (Helm's SortEntries)."""
    if not isinstance(versions, list):
        return []
    valid = [
        v
        for v in versions
        if isinstance(v, dict)
        and isinstance(v.get("version"), str)
        and v["version"]
        and isinstance(v.get("name", ""), str)
    ]
    return sorted(valid, key=functools.cmp_to_key(_newer_first))


def _newer_first(a: dict[str, Any], b: dict[str, Any]) -> int:
    first, second = str(a["version"]), str(b["version"])
    left, right = parse_version(first), parse_version(second)
    if left is None or right is None:
        # Helm compares the strings when either is not a version.
        return (first < second) - (first > second)
    return -left.compare(right)
