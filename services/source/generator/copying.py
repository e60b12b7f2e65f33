"""Carry out planned copy steps: from an extracted source tree into an artifact being staged.

Reads stay inside the source (a symlink resolving outside it is refused) and
writes inside the staging directory (an existing symlink at a destination is
replaced, never written through). ``Merge`` deep-merges YAML as Helm merges
values files: maps recursively, everything else (lists included) replaced by
the newer file; ``Extract`` unpacks with ``shared.archive``'s safe extraction.
:func:`content_hash` is source-watcher's name for the staged tree, used as the
artifact's file name.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from services.source.generator.copyplan import (
    CopyError,
    CopyFile,
    Extract,
    MakeDir,
    SourceTree,
    Step,
)
from shared import yaml
from shared.archive import UnsafeArchiveError, extract_tarball

__all__ = ["apply_steps", "content_hash", "merge_values", "scan_tree"]

_CHUNK = 1 << 16
# The tarballs one artifact extracts may not unpack to more than this, all
# together (gzip bombs, one per glob match): what a consumer accepts.
MAX_EXTRACT_BYTES = 1 << 30


def scan_tree(root: Path) -> SourceTree:
    """The files and directories under ``root``; a symlink to a file counts as that file.

    A symlink to a directory is left out (never followed, so no loop and no way out).
    A tree that cannot be read (gone from the cache) is a :class:`CopyError`, never
    an empty source.
    """
    files: list[str] = []
    dirs: list[str] = []

    def refuse(err: OSError) -> None:
        raise CopyError(f"cannot read source tree: {err.strerror or err}") from err

    for directory, dirnames, filenames in os.walk(root, onerror=refuse):
        rel = Path(directory).relative_to(root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        dirs.extend(prefix + d for d in dirnames if not os.path.islink(Path(directory) / d))
        files.extend(prefix + name for name in filenames)
    return SourceTree.of(files, dirs)


def _inside(root: Path, path: Path) -> Path:
    """``path`` resolved, refused when it leaves ``root`` (through a symlink)."""
    real = Path(os.path.realpath(path))
    if os.path.commonpath([str(root), str(real)]) != str(root):
        raise CopyError(f"'{os.path.relpath(path, root)}' links outside its tree: refused")
    return real


def _target(staging: Path, dest: str) -> Path:
    """The staged path for ``dest``; its directory must resolve inside the staging root."""
    if dest in ("", "."):
        return staging
    target = staging / dest
    _inside(staging, target.parent)
    if target.is_symlink():
        target.unlink()
    return target


def merge_values(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: nested maps merged, any other value of ``overlay`` wins."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def _load_values(path: Path, name: str) -> dict[str, Any]:
    """Every YAML document of a file merged into one map, as source-watcher reads them."""
    merged: dict[str, Any] = {}
    try:
        docs = yaml.load_all(path.read_text(encoding="utf-8"), source=name)
    except (yaml.DocumentError, UnicodeDecodeError) as err:
        raise CopyError(f"cannot merge '{name}': {err}") from err
    for doc in docs:
        if not isinstance(doc, dict):
            raise CopyError(f"cannot merge '{name}': a YAML document is not a mapping")
        merged = merge_values(merged, doc)
    return merged


def _copy_file(source_root: Path, staging: Path, step: CopyFile) -> None:
    source = _inside(source_root, source_root / step.source)
    if not source.is_file():
        raise CopyError(f"'{step.source}' is not a regular file")
    target = _target(staging, step.dest)
    if target.is_dir():
        raise CopyError(f"cannot copy '{step.source}' over the directory '{step.dest}'")
    target.parent.mkdir(parents=True, exist_ok=True)
    if step.merge and target.is_file():
        base = _load_values(target, step.dest)
        merged = merge_values(base, _load_values(source, step.source))
        target.write_text(yaml.dump(merged, sort_keys=True), encoding="utf-8")
        return
    shutil.copyfile(source, target)
    executable = os.stat(source).st_mode & 0o111
    os.chmod(target, 0o700 if executable else 0o600)


def _extract(source_root: Path, staging: Path, step: Extract, *, max_bytes: int, limit: int) -> int:
    """Unpack the tarball into the staged ``dest``; return the bytes of content it held.

    ``max_bytes`` is what is left of the artifact's ``limit`` after earlier tarballs.
    """
    source = _inside(source_root, source_root / step.source)
    target = _target(staging, step.dest)
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=staging.parent) as scratch:
        unpacked = Path(scratch) / "tree"
        try:
            extract_tarball(source, unpacked, max_bytes=max_bytes)
        except UnsafeArchiveError as err:
            shared = f" (the tarballs of one artifact may hold {limit} bytes in all)"
            note = shared if max_bytes < limit else ""
            raise CopyError(f"failed to extract tarball '{step.source}': {err}{note}") from err
        size = _content_bytes(unpacked)
        # Into what earlier steps staged: later files win, as with tar -x.
        shutil.copytree(unpacked, target, symlinks=True, dirs_exist_ok=True)
    return size


def _content_bytes(root: Path) -> int:
    return sum(
        os.lstat(Path(directory) / name).st_size
        for directory, _dirs, files in os.walk(root)
        for name in files
    )


def apply_steps(
    steps: Iterable[Step],
    *,
    source_root: Path,
    staging: Path,
    max_extract_bytes: int = MAX_EXTRACT_BYTES,
) -> None:
    """Carry out ``steps`` in order, reading ``source_root`` and writing ``staging``.

    The tarballs extracted may hold ``max_extract_bytes`` of content in all.
    """
    source_root = Path(os.path.realpath(source_root))
    staging = Path(os.path.realpath(staging))
    budget = max_extract_bytes
    for step in steps:
        if isinstance(step, MakeDir):
            target = _target(staging, step.dest)
            if target.exists() and not target.is_dir():
                raise CopyError(f"cannot create directory '{step.dest}': a file is there")
            target.mkdir(parents=True, exist_ok=True)
        elif isinstance(step, CopyFile):
            _copy_file(source_root, staging, step)
        else:
            budget -= _extract(
                source_root, staging, step, max_bytes=budget, limit=max_extract_bytes
            )


def _adler32(path: Path) -> int:
    value = 1
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            value = zlib.adler32(chunk, value)
    return value


def content_hash(root: Path, *, prefix: str) -> str:
    """source-watcher's hash of a staged tree (Adler-32 over each file and its name), decimal.

    Names are ``<prefix>/<path>``; every non-directory entry counts, symlinks by
    what they point at, as Go's dirhash reads them.
    """
    lines = []
    for directory, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(directory) / name
            rel = path.relative_to(root).as_posix()
            if "\n" in rel:
                raise CopyError(f"file names with newlines are not supported: {rel!r}")
            try:
                if not stat.S_ISREG(os.stat(path).st_mode):
                    continue
            except FileNotFoundError:
                continue  # a dangling symlink: no content
            lines.append((f"{prefix}/{rel}", _adler32(path)))
    summary = "".join(f"{value:x}  {name}\n" for name, value in sorted(lines))
    return str(zlib.adler32(summary.encode()))
