"""What one ArtifactGenerator copy operation does, planned without touching a file.

source-watcher's copy language, with its cp-like rules (FLUX-API §2.6):

- ``from`` without glob characters names one file or directory. A file goes to
  ``to`` (or into it when ``to`` ends with ``/`` or is a staged directory); a
  directory is copied as a subdirectory of ``to`` (``@repo/`` copies the root's
  contents).
- ``from`` with a glob copies every match; a ``dir/**`` pattern strips the
  ``dir/`` prefix, any other keeps the matched path. As source-watcher uses Go's
  ``fs.Glob`` here, ``*`` and ``**`` both stop at ``/``, and a matched directory
  is copied whole. With ``strategy: Extract`` the glob is doublestar's (``**``
  spans directories) and only ``.tar.gz`` / ``.tgz`` matches are extracted.
- ``exclude`` globs (doublestar) drop a path when they match it relative to the
  source root or to the literal prefix of ``from``; one without ``/`` also
  matches the file name at any depth.
- ``Merge`` deep-merges a YAML file into an existing destination file.

The plan is a list of :data:`Step` values; ``copying.py`` carries them out.
Every path here is relative and normalized, and ``..`` was refused by the
API model, so no step can name a path outside the source or the artifact.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from services.source.generator.globs import GlobError, glob_match, has_glob
from shared.api.artifactgenerator import CopyOperation, split_copy_path

__all__ = [
    "CopyError",
    "CopyFile",
    "Extract",
    "MakeDir",
    "SourceTree",
    "Step",
    "excluded",
    "is_tarball",
    "plan_copy",
]

_TARBALLS = (".tar.gz", ".tgz")


class CopyError(Exception):
    """A copy operation cannot be carried out: nothing matches, a bad glob, a wrong strategy."""


@dataclass(frozen=True)
class MakeDir:
    """Create ``dest`` (and its parents) in the artifact."""

    dest: str


@dataclass(frozen=True)
class CopyFile:
    """Copy source file ``source`` to ``dest``; ``merge``: YAML-merge into an existing ``dest``."""

    source: str
    dest: str
    merge: bool = False


@dataclass(frozen=True)
class Extract:
    """Unpack the tarball ``source`` into the directory ``dest``."""

    source: str
    dest: str


Step = MakeDir | CopyFile | Extract


@dataclass(frozen=True)
class SourceTree:
    """The relative paths of one source's files and directories (the root is not listed)."""

    files: frozenset[str]
    dirs: frozenset[str]

    @classmethod
    def of(cls, files: Iterable[str], dirs: Iterable[str] = ()) -> SourceTree:
        """A tree from file paths (their parent directories implied) and extra directories."""
        found = set(files)
        folders = set(dirs)
        for path in found | set(folders):
            parent = posixpath.dirname(path)
            while parent:
                folders.add(parent)
                parent = posixpath.dirname(parent)
        return cls(frozenset(found), frozenset(folders))

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory of the tree ("." is the root)."""
        return path == "." or path in self.dirs

    @cached_property
    def _sorted(self) -> list[str]:
        return sorted(self.files | self.dirs)

    def below(self, directory: str) -> list[str]:
        """Every path under ``directory`` ("." for all), sorted.

        A range of the sorted paths (those starting ``dir/`` sort before ``dir0``),
        so copying each of a thousand matched directories does not scan the tree
        a thousand times.
        """
        if directory == ".":
            return list(self._sorted)
        start = bisect.bisect_left(self._sorted, f"{directory}/")
        end = bisect.bisect_left(self._sorted, f"{directory}0")
        return self._sorted[start:end]


def _join(*parts: str) -> str:
    """Go's ``filepath.Join``: empty parts dropped, the result cleaned ("." for nothing)."""
    kept = [p for p in parts if p]
    return posixpath.normpath(posixpath.join(*kept)) if kept else "."


def is_tarball(path: str) -> bool:
    """Whether ``path`` names a gzipped tarball (``.tar.gz``, ``.tgz``, any case)."""
    return path.lower().endswith(_TARBALLS)


def excluded(path: str, *, base: str, patterns: Iterable[str]) -> bool:
    """Whether an ``exclude`` pattern drops ``path`` (relative to the source root or ``base``)."""
    patterns = list(patterns)
    if not patterns:
        return False
    candidates = [path]
    if base not in ("", "."):
        rel = posixpath.relpath(path, base)
        if rel != "." and not rel.startswith("..") and rel != path:
            candidates.append(rel)
    for candidate in candidates:
        name = posixpath.basename(candidate)
        for pattern in patterns:
            if glob_match(pattern, candidate, doublestar=True):
                return True
            if "/" not in pattern and glob_match(pattern, name, doublestar=True):
                return True
    return False


def _selection_root(pattern: str) -> str:
    """The literal directories of ``pattern`` before its first glob segment ("." for none)."""
    literal = []
    for part in posixpath.normpath(pattern).split("/"):
        if has_glob(part):
            break
        literal.append(part)
    return _join(*literal)


def _glob_destination(pattern: str, match: str, dest: str) -> str:
    """``dir/**`` strips ``dir/`` from the match; other patterns keep the whole path."""
    if pattern.endswith("/**"):
        prefix = pattern[: -len("/**")]
        if match.startswith(f"{prefix}/"):
            return _join(dest, match[len(prefix) + 1 :])
    return _join(dest, match)


def _copy_tree(
    tree: SourceTree, source: str, dest: str, *, exclude: list[str], base: str
) -> list[Step]:
    """A directory copied to ``dest`` recursively; excluded paths (and all below them) left out."""
    steps: list[Step] = [MakeDir(dest)]
    # Excluded directories, looked up by each path's parents: linear in the tree,
    # where scanning a list of every excluded path was quadratic (minutes for a
    # monorepo excluding tens of thousands of files).
    skipped: set[str] = set()
    for path in tree.below(source):
        if _under(path, skipped):
            continue
        if excluded(path, base=base, patterns=exclude):
            if tree.is_dir(path):
                skipped.add(path)
            continue
        target = _join(dest, path if source == "." else posixpath.relpath(path, source))
        steps.append(MakeDir(target) if tree.is_dir(path) else CopyFile(path, target))
    return steps


def _under(path: str, folders: set[str]) -> bool:
    """Whether a parent directory of ``path`` is one of ``folders``."""
    parent = posixpath.dirname(path)
    while parent:
        if parent in folders:
            return True
        parent = posixpath.dirname(parent)
    return False


def plan_copy(
    op: CopyOperation, tree: SourceTree, *, staged_dir: Callable[[str], bool]
) -> list[Step]:
    """The steps of one copy operation reading ``tree``.

    ``staged_dir(path)``: whether the artifact being built already holds a
    directory at ``path`` (a file copied to it then goes inside, as with cp).
    """
    alias, pattern = split_copy_path(op.from_)
    _, dest = split_copy_path(op.to)
    for exclude in op.exclude:
        try:
            glob_match(exclude, ".", doublestar=True)
        except GlobError as err:
            raise CopyError(f"invalid exclude pattern '{exclude}': {err}") from err
    into_dir = op.to.endswith("/")
    extract = op.strategy == "Extract"
    if not has_glob(pattern):
        return _plan_single(
            op, tree, _join(pattern), dest, into_dir=into_dir, staged_dir=staged_dir
        )
    try:
        matches = [p for p in tree.below(".") if glob_match(pattern, p, doublestar=extract)]
    except GlobError as err:
        raise CopyError(f"invalid glob pattern '{pattern}': {err}") from err
    if not matches:
        raise CopyError(f"no files match pattern '{pattern}' in source '{alias}'")
    base = _selection_root(pattern)
    kept = [m for m in matches if not excluded(m, base=base, patterns=op.exclude)]
    if not kept:
        raise CopyError(f"all files matching pattern '{pattern}' in source '{alias}' were excluded")
    steps: list[Step] = []
    for match in kept:
        if extract:
            if is_tarball(match) and not tree.is_dir(match):
                steps.append(Extract(match, _join(dest)))
            continue  # as source-watcher: other matches are skipped silently
        target = _glob_destination(pattern, match, dest)
        if tree.is_dir(match):
            steps += _copy_tree(tree, match, target, exclude=op.exclude, base=base)
        else:
            steps.append(CopyFile(match, target, merge=op.strategy == "Merge"))
    return steps


def _plan_single(
    op: CopyOperation,
    tree: SourceTree,
    source: str,
    dest: str,
    *,
    into_dir: bool,
    staged_dir: Callable[[str], bool],
) -> list[Step]:
    """A ``from`` without glob characters: one file or one directory, cp-like."""
    alias = op.source_alias
    if tree.is_dir(source):
        if op.strategy == "Extract":
            raise CopyError(f"extract strategy is not supported for directories, got '{source}'")
        target = _join(dest, "" if source == "." else posixpath.basename(source))
        return _copy_tree(tree, source, target, exclude=op.exclude, base=source)
    if source not in tree.files:
        raise CopyError(f"source '{source}' does not exist in '{alias}'")
    if excluded(source, base=".", patterns=op.exclude):
        return []
    if op.strategy == "Extract":
        if not is_tarball(source):
            raise CopyError(
                f"extract strategy requires tarball file (.tar.gz or .tgz), got '{source}'"
            )
        return [Extract(source, _join(dest))]
    name = posixpath.basename(source)
    target = _join(dest, name) if into_dir or staged_dir(_join(dest)) else _join(dest)
    return [CopyFile(source, target, merge=op.strategy == "Merge")]
