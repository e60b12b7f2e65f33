"""A local copy of one bucket's objects, so a new revision downloads only what changed.

One mirror per endpoint + bucket + prefix under ``<cache_dir>/bucket/<digest>``:
``objects/<key>`` holds each downloaded object and ``manifest.json`` its etag
as the server sent it. :meth:`BucketMirror.sync` downloads a key only when the
etag in the listing differs from the manifest's (or the file is missing), and
forgets keys the bucket no longer lists; :meth:`BucketMirror.stage` links the
indexed objects into a folder to archive. One sync at a time per mirror,
across worker processes: :meth:`BucketMirror.lock` (flock).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as LockTimeout

from services.source.bucket.bucketindex import EtagIndex, key_parts

__all__ = ["BucketMirror", "Download", "MirrorLockTimeout", "Synced", "mirror_for"]

# Downloads run in parallel, bounded so one bucket keeps a small footprint.
_PARALLEL_DOWNLOADS = 8


class MirrorLockTimeout(TimeoutError):
    """Another reconcile held the mirror past this one's timeout."""


@dataclass(frozen=True)
class Synced:
    """After a sync: the index as downloaded (etags the GETs returned) and what was fetched."""

    index: EtagIndex
    downloaded: tuple[str, ...]


# A download: (key, destination file) -> the etag the server sent. Raises
# LookupError when the object is gone, which drops it from the index.
Download = Callable[[str, Path], str]


def mirror_for(cache_dir: Path, *, endpoint: str, bucket: str, prefix: str) -> BucketMirror:
    """The mirror of ``bucket`` on ``endpoint`` (under ``prefix``) in ``cache_dir``."""
    name = hashlib.sha256(f"{endpoint}\n{bucket}\n{prefix}".encode()).hexdigest()[:32]
    return BucketMirror(cache_dir / "bucket" / name)


class BucketMirror:
    """The objects and manifest of one mirror folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self._manifest_path = root / "manifest.json"

    @contextlib.contextmanager
    def lock(self, *, timeout: float) -> Iterator[None]:
        """Hold the mirror alone; :class:`MirrorLockTimeout` after ``timeout`` seconds."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(self.root / ".lock", timeout=timeout):
                yield
        except LockTimeout:
            raise MirrorLockTimeout(
                "timed out waiting for another reconcile of the same bucket"
            ) from None

    def manifest(self) -> dict[str, str]:
        """Key -> etag of every object held (empty for a new or unreadable mirror)."""
        try:
            doc = json.loads(self._manifest_path.read_text())
        except (OSError, ValueError):
            return {}
        objects = doc.get("objects") if isinstance(doc, dict) else None
        if not isinstance(objects, dict):
            return {}
        return {str(k): str(v) for k, v in objects.items()}

    def path_of(self, key: str) -> Path:
        """Where object ``key`` lives in the mirror (the key was checked by ``key_parts``)."""
        return self.objects.joinpath(*key_parts(key))

    def cached(self, key: str, etag: str) -> Path | None:
        """The mirrored file of ``key`` when it holds ``etag``, else None."""
        path = self.path_of(key)
        return path if self.manifest().get(key) == etag and path.is_file() else None

    def sync(self, index: EtagIndex, *, listed: Collection[str], download: Download) -> Synced:
        """Download the objects of ``index`` whose etag changed; forget keys not in ``listed``."""
        manifest = self.manifest()
        for key in [k for k in manifest if k not in listed]:
            self._remove(key)
            del manifest[key]
        stale = [
            key
            for key, etag in sorted(index.entries.items())
            if manifest.get(key) != etag or not self.path_of(key).is_file()
        ]
        # Forgotten before any file is replaced: a sync that fails or is killed
        # part-way leaves these keys unknown (downloaded again), never a new
        # body under the old etag that a reverted bucket would then match.
        for key in stale:
            manifest.pop(key, None)
        self._save(manifest)
        result = index
        try:
            with ThreadPoolExecutor(max_workers=_PARALLEL_DOWNLOADS) as pool:
                fetched = pool.map(lambda key: (key, self._fetch(key, download)), stale)
                for key, etag in fetched:
                    if etag is None:
                        manifest.pop(key, None)
                        result = result.without(key)
                        continue
                    manifest[key] = etag
                    if etag != index.entries[key]:
                        result = result.with_etag(key, etag)
        finally:
            # What was downloaded stays known even when a later download failed.
            self._save(manifest)
        return Synced(result, tuple(stale))

    def put(self, key: str, download: Download) -> str | None:
        """Download one object into the mirror and record it; None when it is gone."""
        manifest = self.manifest()
        manifest.pop(key, None)
        self._save(manifest)
        etag = self._fetch(key, download)
        if etag is None:
            manifest.pop(key, None)
        else:
            manifest[key] = etag
        self._save(manifest)
        return etag

    def stage(self, index: EtagIndex, dest: Path) -> None:
        """Fill ``dest`` with the objects of ``index`` (hard links, copies across devices)."""
        for key in sorted(index.entries):
            target = dest.joinpath(*key_parts(key))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.path_of(key), target)
            except OSError:
                shutil.copyfile(self.path_of(key), target)

    def _fetch(self, key: str, download: Download) -> str | None:
        path = self.path_of(key)
        self._clear_way(key)
        try:
            return download(key, path)
        except LookupError:
            self._remove(key)
            return None

    def _clear_way(self, key: str) -> None:
        """Remove what a stale object left where ``key`` goes: a file as a folder, or a folder."""
        parts = key_parts(key)
        for depth in range(1, len(parts)):
            folder = self.objects.joinpath(*parts[:depth])
            if folder.is_file() or folder.is_symlink():
                folder.unlink()
        path = self.objects.joinpath(*parts)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)

    def _remove(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self.path_of(key).unlink()

    def _save(self, manifest: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=self.root)
        with os.fdopen(fd, "w") as handle:
            json.dump({"objects": manifest}, handle, sort_keys=True)
        os.replace(tmp, self._manifest_path)
