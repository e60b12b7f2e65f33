"""Deterministic tar.gz archives of a source tree, with Flux's ignore rules.

The same tree and the same ignore rules always give the same bytes: entries in
sorted order, mtime 0, uid/gid 0 with no names, modes normalized as Flux does
(directories 0750, files 0600, executables 0700), and a gzip header without a
name or time. Only directories, regular files and symlinks that stay inside
the tree are archived; a symlink that resolves outside it is skipped and
reported, never followed. The source service archives its artifacts with it,
and ``sluice push artifact`` its OCI layers.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shared.sourceignore import SOURCEIGNORE, IgnoreMatcher, build_matcher

__all__ = [
    "DIR_MODE",
    "EXEC_MODE",
    "FILE_MODE",
    "KEEP_ALL",
    "ArchiveError",
    "Tarball",
    "build_tarball",
    "collect_sourceignores",
    "file_digest",
]

DIR_MODE = 0o750
FILE_MODE = 0o600
EXEC_MODE = 0o700
_CHUNK = 1 << 16
# Archive every file: for a tree its producer already filtered.
KEEP_ALL = IgnoreMatcher(layers=())


class ArchiveError(RuntimeError):
    """The tree could not be archived (missing root, unreadable file)."""


@dataclass(frozen=True)
class Tarball:
    """An archive written to `path`: its `sha256:<hex>` digest, size and what it left out."""

    path: Path
    digest: str
    size: int
    entries: int
    skipped_links: tuple[str, ...] = ()


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def collect_sourceignores(root: Path) -> dict[str, str]:
    """Every `.sourceignore` under `root` by directory ("" = root); symlinks are not followed."""
    found: dict[str, str] = {}
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        if SOURCEIGNORE not in filenames:
            continue
        path = Path(directory) / SOURCEIGNORE
        if not path.is_symlink() and path.is_file():
            rel = Path(directory).relative_to(root).as_posix()
            found["" if rel == "." else rel] = path.read_text(errors="replace")
    return found


def build_tarball(
    root: Path,
    dest: Path,
    *,
    ignore: str | None = None,
    matcher: IgnoreMatcher | None = None,
) -> Tarball:
    """Archive `root` into `dest` (written atomically), leaving out ignored paths.

    `ignore` is `spec.ignore` (None when unset); `.sourceignore` files in the
    tree are honoured as Flux does. A tree that is not a user's checkout gives
    its own `matcher` instead: :data:`KEEP_ALL` for one the caller already
    filtered (a Bucket's index has its own rules), or a generated artifact's.
    """
    if not root.is_dir():
        raise ArchiveError(f"cannot archive {root}: not a directory")
    real_root = Path(os.path.realpath(root))
    if matcher is None:
        matcher = build_matcher(spec_ignore=ignore, sourceignores=collect_sourceignores(real_root))
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as raw:
            out = _HashingWriter(raw)
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                writer = _TreeWriter(real_root, matcher, tar)
                writer.walk(real_root, ())
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
    except OSError as err:
        raise ArchiveError(f"cannot archive {root}: {err.strerror or err}") from err
    finally:
        tmp.unlink(missing_ok=True)
    return Tarball(
        path=dest,
        digest=f"sha256:{out.digest.hexdigest()}",
        size=out.size,
        entries=writer.entries,
        skipped_links=tuple(writer.skipped),
    )


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class _TreeWriter:
    """Walks a tree in sorted order, writing normalized entries for what is not ignored."""

    def __init__(self, root: Path, matcher: IgnoreMatcher, tar: tarfile.TarFile) -> None:
        self.root = root
        self.matcher = matcher
        self.tar = tar
        self.entries = 0
        self.skipped: list[str] = []

    def walk(self, directory: Path, parts: tuple[str, ...]) -> None:
        with os.scandir(directory) as scan:
            children = sorted(scan, key=lambda entry: entry.name)
        for entry in children:
            rel = (*parts, entry.name)
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                ignored = self.matcher.ignored(rel, is_dir=True)
                if not ignored:
                    self._add(rel, tarfile.DIRTYPE, DIR_MODE)
                if not ignored or self.matcher.has_inclusions:
                    self.walk(Path(entry.path), rel)
            elif self.matcher.ignored(rel, is_dir=False):
                continue
            elif stat.S_ISREG(info.st_mode):
                mode = EXEC_MODE if info.st_mode & 0o111 else FILE_MODE
                self._add_file(Path(entry.path), rel, mode)
            elif stat.S_ISLNK(info.st_mode):
                self._add_link(Path(entry.path), rel)

    def _add(self, rel: tuple[str, ...], kind: bytes, mode: int, *, link: str = "") -> None:
        info = tarfile.TarInfo("/".join(rel))
        info.type, info.mode, info.linkname = kind, mode, link
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        self.tar.addfile(info)
        self.entries += 1

    def _add_file(self, path: Path, rel: tuple[str, ...], mode: int) -> None:
        # O_NOFOLLOW: a path swapped for a symlink after the scan is refused, not read.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            info = tarfile.TarInfo("/".join(rel))
            info.size = os.fstat(handle.fileno()).st_size
            info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = (
                mode, 0, 0, 0, "", "",
            )  # fmt: skip
            self.tar.addfile(info, handle)
        self.entries += 1

    def _add_link(self, path: Path, rel: tuple[str, ...]) -> None:
        target = os.readlink(path)
        resolved = os.path.realpath(path)
        lexical = os.path.normpath(os.path.join(os.path.dirname("/".join(rel)), target))
        inside = os.path.commonpath([str(self.root), resolved]) == str(self.root)
        if os.path.isabs(target) or lexical == ".." or lexical.startswith("../") or not inside:
            self.skipped.append("/".join(rel))
            return
        self._add(rel, tarfile.SYMTYPE, 0o777, link=target)
