"""A Bucket's etag index: which objects its artifact holds, and Flux's revision of them.

Pure logic, no I/O. As source-controller: the index maps each object key to
its etag; keys ending in ``/`` (directory markers) and the root
``.sourceignore`` are left out, and so is every key the ignore rules match
(the bucket's root ``.sourceignore``, then ``spec.ignore``, which wins; no
default exclusions for a Bucket). The revision is ``sha256:`` of the sorted
lines ``"<key> <etag>\\n"``, so it changes exactly when an object is added,
changed or deleted.

A key becomes a file path in the artifact, so a key that is not a plain
relative path (absolute, with ``..``, ``.`` or empty segments) or that is
both a file and a folder (``a`` and ``a/b``) is refused: :class:`UnsafeKey`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.sourceignore import SOURCEIGNORE, IgnoreMatcher, Layer

__all__ = [
    "EtagIndex",
    "UnsafeKey",
    "bucket_matcher",
    "build_index",
    "key_parts",
]


class UnsafeKey(ValueError):
    """An object key that cannot be a path inside the artifact."""


def key_parts(key: str) -> tuple[str, ...]:
    """The path segments of ``key``; :class:`UnsafeKey` when it would leave the root."""
    if not key or key.startswith("/") or "\\" in key or "\0" in key:
        raise UnsafeKey(f"object key '{key}' is not a relative path: refused")
    parts = tuple(key.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeKey(
            f"object key '{key}' has an empty, '.' or '..' segment and would not stay "
            "inside the artifact: refused"
        )
    return parts


def bucket_matcher(*, sourceignore: str | None, spec_ignore: str | None) -> IgnoreMatcher:
    """The rules of one Bucket: its root ``.sourceignore``, then ``spec.ignore``."""
    layers = [Layer.parse(text.splitlines()) for text in (sourceignore, spec_ignore) if text]
    return IgnoreMatcher(layers=tuple(layers))


@dataclass(frozen=True)
class EtagIndex:
    """Object key -> etag of what a Bucket's artifact holds."""

    entries: Mapping[str, str] = field(default_factory=dict)

    @property
    def revision(self) -> str:
        """Flux's revision: ``sha256:`` of the sorted ``"<key> <etag>\\n"`` lines."""
        digest = hashlib.sha256()
        for key in sorted(self.entries):
            digest.update(f"{key} {self.entries[key]}\n".encode())
        return f"sha256:{digest.hexdigest()}"

    def with_etag(self, key: str, etag: str) -> EtagIndex:
        """The index with ``key`` at ``etag`` (an object that changed during its download)."""
        return EtagIndex({**self.entries, key: etag})

    def without(self, key: str) -> EtagIndex:
        """The index without ``key`` (an object deleted before its download)."""
        return EtagIndex({k: v for k, v in self.entries.items() if k != key})


def build_index(listing: Iterable[tuple[str, str]], *, matcher: IgnoreMatcher) -> EtagIndex:
    """The index of ``(key, etag)`` pairs from a listing, after the ignore rules."""
    entries: dict[str, str] = {}
    for key, etag in listing:
        if key.endswith("/") or key == SOURCEIGNORE:
            continue
        parts = key_parts(key)
        if matcher.ignored(parts, is_dir=False):
            continue
        entries[key] = etag
    _refuse_file_and_folder(entries)
    return EtagIndex(entries)


def _refuse_file_and_folder(entries: Mapping[str, str]) -> None:
    folders = {"/".join(key.split("/")[:depth]) for key in entries for depth in _depths(key)}
    clash = sorted(folders & entries.keys())
    if clash:
        raise UnsafeKey(
            f"object key '{clash[0]}' is also a folder of other keys ('{clash[0]}/...'): "
            "a path cannot be both; rename one of them or ignore it"
        )


def _depths(key: str) -> range:
    return range(1, key.count("/") + 1)
