"""What a scan keeps of a tag list, as image-reflector-controller: exclusions, order, revision.

- ``exclusionList`` holds Go regexps; a tag any of them matches is not kept.
  Flux's default (``GetExclusionList``, unchanged in v1) is ``^.*\\.sig$``
  (cosign signature tags); an empty list means the default.
- The kept tags are sorted in descending byte order (Go's ``strings.Compare``,
  stable), which is also the order they are stored in.
- ``lastScanResult.latestTags`` is the first 10 of that order: the
  "latest" by name, not by push time (``sortTagsAndGetLatestTags``).
- ``lastScanResult.revision`` is Flux's default (Badger) store checksum: the
  Adler-32, in decimal, of the JSON array of the sorted tags as Go's
  ``json.Marshal`` writes it (no spaces; ``<``, ``>``, ``&``, U+2028/9 escaped).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.goregexp import InvalidRegexp, compile_go

__all__ = [
    "DEFAULT_EXCLUSION_LIST",
    "LATEST_TAGS_COUNT",
    "MAX_EXCLUSIONS",
    "ExclusionList",
    "InvalidExclusionError",
    "latest_tags",
    "sort_tags",
    "tags_revision",
]

DEFAULT_EXCLUSION_LIST = ("^.*\\.sig$",)
LATEST_TAGS_COUNT = 10
MAX_EXCLUSIONS = 25  # the CRD's MaxItems


class InvalidExclusionError(ValueError):
    """A pattern of ``exclusionList`` is not a Go regexp; the message names it."""


@dataclass(frozen=True)
class ExclusionList:
    """The compiled ``exclusionList`` (Flux's default when the spec gives none)."""

    patterns: tuple[str, ...]
    _compiled: tuple[Any, ...]

    @classmethod
    def compile(cls, patterns: Sequence[str] | None = None) -> ExclusionList:
        """Compile ``patterns`` (None or empty: the default); InvalidExclusionError on a bad one,
        with Flux's message ``failed to compile regex PATTERN: reason``."""
        chosen = tuple(patterns) if patterns else DEFAULT_EXCLUSION_LIST
        compiled = []
        for pattern in chosen:
            try:
                compiled.append(compile_go(pattern))
            except InvalidRegexp as err:
                raise InvalidExclusionError(f"failed to compile regex {pattern}: {err}") from None
        return cls(chosen, tuple(compiled))

    def excludes(self, tag: str) -> bool:
        """Whether some pattern matches ``tag`` (anywhere, as Go's ``MatchString``)."""
        return any(regex.search(tag) is not None for regex in self._compiled)

    def keep(self, tags: Iterable[str]) -> list[str]:
        """The tags no pattern matches, in their order."""
        return [tag for tag in tags if not self.excludes(tag)]


def sort_tags(tags: Iterable[str]) -> list[str]:
    """Descending byte order, as Flux stores and samples them (Go compares UTF-8 bytes)."""
    return sorted(tags, key=lambda tag: tag.encode("utf-8", "surrogatepass"), reverse=True)


def latest_tags(sorted_tags: Sequence[str]) -> list[str]:
    """``lastScanResult.latestTags``: the first 10 of the descending order."""
    return list(sorted_tags[:LATEST_TAGS_COUNT])


def tags_revision(sorted_tags: Sequence[str]) -> str:
    """``lastScanResult.revision``: Adler-32 (decimal) of Go's JSON of the sorted tags."""
    return str(zlib.adler32(_go_json(list(sorted_tags))))


def _go_json(tags: list[str]) -> bytes:
    text = json.dumps(tags, ensure_ascii=False, separators=(",", ":"))
    # Go's encoder escapes these for HTML safety and JavaScript; Python's does not.
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode("utf-8", "surrogatepass")
