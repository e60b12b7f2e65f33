"""Safe extraction of artifact tarballs: what every consumer of a source artifact uses.

An artifact comes from Git or a registry, so its names are untrusted: entries
that are absolute, climb out with ``..``, are devices, or are links pointing
outside the destination are refused, and the destination is left empty.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path, PurePosixPath

__all__ = ["MAX_ENTRIES", "UnsafeArchiveError", "extract_tarball"]

_CHUNK = 1 << 16
# Entries one archive may hold. An empty entry compresses to ~6 bytes but
# costs ~420 bytes of memory once read (measured: 200,000 take 83 MiB), so
# without a count a 1 GiB layer could ask for ~70 GiB; 250,000 files is far
# more than a GitOps tree or a chart has, and about 100 MiB.
MAX_ENTRIES = 250_000


class UnsafeArchiveError(RuntimeError):
    """A tarball holds an entry that would land outside the destination, or a device."""


def extract_tarball(path: Path, dest: Path, *, max_bytes: int | None = None) -> int:
    """Extract a (gzipped) tarball into an empty `dest`; return the number of entries.

    Refuses, with UnsafeArchiveError and an emptied `dest`, absolute names, `..`
    components, symlinks or hard links that resolve outside `dest`, writing
    through a symlink, devices and FIFOs, and more than `max_bytes` of content.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise UnsafeArchiveError(f"cannot extract into {dest}: directory is not empty")
    root = Path(os.path.realpath(dest))
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members: list[tarfile.TarInfo] = []
            for member in tar:
                if len(members) == MAX_ENTRIES:
                    raise UnsafeArchiveError(f"{path.name} holds more than {MAX_ENTRIES} entries")
                members.append(member)
            for member in members:
                _check_member(member)
            _Extractor(tar, root, max_bytes).run(members)
        _check_links(root)
    except UnsafeArchiveError:
        _empty(root)
        raise
    except (OSError, tarfile.TarError) as err:
        _empty(root)
        raise UnsafeArchiveError(f"cannot extract {path.name}: {err}") from err
    return len(members)


def _clean_name(name: str) -> str:
    if "\x00" in name or name.startswith("/"):
        raise UnsafeArchiveError(f"tar entry {name!r} has an absolute or invalid name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeArchiveError(f"tar entry {name!r} leaves the destination")
    return "/".join(parts)


def _check_member(member: tarfile.TarInfo) -> None:
    name = _clean_name(member.name)
    if member.issym():
        target = member.linkname
        lexical = os.path.normpath(os.path.join(os.path.dirname(name), target))
        if os.path.isabs(target) or lexical == ".." or lexical.startswith("../"):
            raise UnsafeArchiveError(f"tar entry {name!r} links outside the destination")
    elif member.islnk():
        _clean_name(member.linkname)
    elif not (member.isreg() or member.isdir()):
        raise UnsafeArchiveError(f"tar entry {name!r} is a device, FIFO or unsupported type")


class _Extractor:
    """Writes members without ever following a symlink that is already on disk."""

    def __init__(self, tar: tarfile.TarFile, root: Path, max_bytes: int | None) -> None:
        self.tar, self.root, self.max_bytes = tar, root, max_bytes
        self.written = 0
        self.files: set[str] = set()

    def run(self, members: list[tarfile.TarInfo]) -> None:
        for member in members:
            name = _clean_name(member.name)
            target = self._parent_dir(name) / PurePosixPath(name).name
            if member.isdir():
                self._mkdir(target, name)
            elif member.issym():
                os.symlink(member.linkname, target)
            elif member.islnk():
                self._copy_link(member, target, name)
            else:
                self._write(member, target, name)

    def _parent_dir(self, name: str) -> Path:
        current = self.root
        for part in PurePosixPath(name).parts[:-1]:
            current = current / part
            self._mkdir(current, name)
        return current

    def _mkdir(self, path: Path, name: str) -> None:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            path.mkdir(mode=0o755)
            return
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafeArchiveError(f"tar entry {name!r} goes through a link or file on disk")

    def _write(self, member: tarfile.TarInfo, target: Path, name: str) -> None:
        source = self.tar.extractfile(member)
        if source is None:
            raise UnsafeArchiveError(f"tar entry {name!r} has no readable content")
        mode = 0o755 if member.mode & 0o111 else 0o644
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        try:
            fd = os.open(target, flags, mode)
        except OSError as err:
            raise UnsafeArchiveError(f"tar entry {name!r} overwrites a link on disk") from err
        with source, os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                self.written += len(chunk)
                if self.max_bytes is not None and self.written > self.max_bytes:
                    raise UnsafeArchiveError(f"tarball content exceeds {self.max_bytes} bytes")
                out.write(chunk)
        os.chmod(target, mode)
        self.files.add(name)

    def _copy_link(self, member: tarfile.TarInfo, target: Path, name: str) -> None:
        source = _clean_name(member.linkname)
        if source not in self.files:
            raise UnsafeArchiveError(f"tar entry {name!r} hard-links to {source!r}, not a file")
        original = self.root / source
        with original.open("rb") as data, open(target, "xb") as out:
            shutil.copyfileobj(data, out)
        self.files.add(name)


def _check_links(root: Path) -> None:
    """Refuse symlinks whose full resolution leaves `root` (chains can escape a lexical check)."""
    for directory, dirnames, filenames in os.walk(root):
        for entry in (*dirnames, *filenames):
            path = Path(directory) / entry
            if path.is_symlink():
                resolved = os.path.realpath(path)
                if os.path.commonpath([str(root), resolved]) != str(root):
                    rel = path.relative_to(root).as_posix()
                    raise UnsafeArchiveError(f"tar entry {rel!r} links outside the destination")


def _empty(root: Path) -> None:
    for entry in os.scandir(root):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)
