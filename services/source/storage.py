"""The artifact store on a directory (extraction, which consumers do, is in shared/archive.py).

Layout is Flux's: `<kind-lower>/<namespace>/<name>/<file>`. Files arrive by
write-to-temp-then-rename, so a reader never sees half an artifact; each
source keeps its newest `retention` files plus the ones it names, the rest is
collected. Every name is checked, so no path built here leaves the root.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from services.source.artifact import file_digest

__all__ = [
    "Storage",
    "StorageError",
    "StoredArtifact",
]

_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$")
_STALE_TEMP_SECONDS = 3600.0
_CHUNK = 1 << 16


class StorageError(RuntimeError):
    """A storage path was invalid or a storage operation failed."""


@dataclass(frozen=True)
class StoredArtifact:
    """One file in the store: `path` is relative to the root, as `status.artifact.path`."""

    path: str
    local_path: Path
    digest: str
    size: int


@dataclass(frozen=True)
class Storage:
    """Artifacts under `root`, keeping `retention` files per source."""

    root: Path
    retention: int = 2

    def artifact_path(self, *, kind: str, namespace: str, name: str, filename: str) -> str:
        """`<kind-lower>/<namespace>/<name>/<filename>`, with every part validated."""
        for label, value in (("kind", kind.lower()), ("namespace", namespace), ("name", name)):
            if not _SEGMENT.match(value):
                raise StorageError(f"invalid {label} {value!r} for an artifact path")
        if not _FILENAME.match(filename):
            raise StorageError(f"invalid artifact file name {filename!r}")
        return f"{kind.lower()}/{namespace}/{name}/{filename}"

    def local_path(self, path: str) -> Path:
        """The file behind a relative artifact path; refuses anything that leaves the root."""
        parts = PurePosixPath(path).parts
        if len(parts) != 4 or path.startswith("/"):
            raise StorageError(f"artifact path {path!r} is not <kind>/<namespace>/<name>/<file>")
        kind, namespace, name, filename = parts
        checked = self.artifact_path(kind=kind, namespace=namespace, name=name, filename=filename)
        if checked != path:
            raise StorageError(f"artifact path {path!r} is not in canonical form")
        return self.root / checked

    def prepare(self, *, kind: str, namespace: str, name: str, filename: str) -> Path:
        """The local file for a new artifact, its directory created, for an atomic writer."""
        rel = self.artifact_path(kind=kind, namespace=namespace, name=name, filename=filename)
        local = self.root / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        return local

    def exists(self, path: str) -> bool:
        """Whether the artifact is present as a regular file."""
        try:
            return stat.S_ISREG(os.lstat(self.local_path(path)).st_mode)
        except FileNotFoundError:
            return False

    def verify(self, path: str, digest: str) -> bool:
        """Whether the artifact is present and has `digest`."""
        return self.exists(path) and file_digest(self.local_path(path)) == digest

    def store(
        self, source: Path, *, kind: str, namespace: str, name: str, filename: str
    ) -> StoredArtifact:
        """Move `source` into the store atomically (copying when across filesystems)."""
        local = self.prepare(kind=kind, namespace=namespace, name=name, filename=filename)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".tmp", dir=local.parent)
        os.close(handle)
        tmp = Path(tmp_name)
        try:
            shutil.move(source, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, local)
        except OSError as err:
            raise StorageError(f"cannot store artifact {filename}: {err.strerror or err}") from err
        finally:
            tmp.unlink(missing_ok=True)
        rel = local.relative_to(self.root).as_posix()
        return StoredArtifact(
            path=rel, local_path=local, digest=file_digest(local), size=local.stat().st_size
        )

    def symlink(self, path: str, *, alias: str) -> str:
        """Point ``alias`` beside artifact ``path`` at it, as Flux's ``Storage.Symlink``.

        The link (``index.yaml``, ``latest.tar.gz``) is relative and replaced
        atomically; collection skips links. Returns the alias's relative path.
        """
        local = self.local_path(path)
        rel = self.artifact_path(
            kind=local.parent.parent.parent.name,
            namespace=local.parent.parent.name,
            name=local.parent.name,
            filename=alias,
        )
        tmp = local.parent / f".{alias}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        try:
            os.symlink(local.name, tmp)
            os.replace(tmp, self.root / rel)
        except OSError as err:
            raise StorageError(f"cannot link {alias}: {err.strerror or err}") from err
        finally:
            tmp.unlink(missing_ok=True)
        return rel

    def collect(
        self, *, kind: str, namespace: str, name: str, keep: Iterable[str] = ()
    ) -> list[str]:
        """Delete all but the newest `retention` artifacts of a source and those in `keep`."""
        directory = self.root / self.artifact_path(
            kind=kind, namespace=namespace, name=name, filename="x"
        )
        directory = directory.parent
        if not directory.is_dir():
            return []
        kept = {PurePosixPath(k).name for k in keep}
        now = time.time()
        files: list[tuple[float, str]] = []
        removed: list[str] = []
        for entry in os.scandir(directory):
            info = entry.stat(follow_symlinks=False)
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                # Left by a writer that died; a live one renames its file within seconds.
                if now - info.st_mtime > _STALE_TEMP_SECONDS:
                    os.unlink(entry.path)
                continue
            if stat.S_ISREG(info.st_mode) and entry.name not in kept:
                files.append((info.st_mtime, entry.name))
        files.sort(reverse=True)
        for _, filename in files[max(self.retention - len(kept), 0) :]:
            os.unlink(directory / filename)
            removed.append(f"{directory.relative_to(self.root).as_posix()}/{filename}")
        return removed

    def remove_all(self, *, kind: str, namespace: str, name: str) -> None:
        """Delete every artifact of a source (its object is gone)."""
        rel = self.artifact_path(kind=kind, namespace=namespace, name=name, filename="x")
        shutil.rmtree((self.root / rel).parent, ignore_errors=True)
