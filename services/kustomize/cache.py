"""Rendered builds on disk, keyed by ``build_key``, sealed at rest, shared between processes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from shared.secrets import SecretCipher, SecretKeyError

__all__ = ["BuildCache"]

_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
# Puts since the last eviction check, per cache directory, in this process: listing
# the whole cache at every put took 1.2% of a kustomize worker's CPU in the
# throughput bench. The cache may overshoot max_entries by max_entries // 16.
_puts: Counter[Path] = Counter()
_puts_lock = threading.Lock()


class BuildCache:
    """Rendered builds on disk, one JSON file per key; shared safely between processes."""

    def __init__(self, directory: Path, cipher: SecretCipher, *, max_entries: int = 512) -> None:
        self.directory = Path(directory)
        self.max_entries = max_entries
        # Rendered output may hold substituted secret values: sealed, in a private directory.
        self._cipher = cipher
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _file(self, key: str, suffix: str = ".json") -> Path:
        if not _KEY_RE.match(key):
            raise ValueError(f"build cache key {key!r} is not a sha256 hex digest")
        return self.directory / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The objects stored under ``key``, or None."""
        file = self._file(key)
        try:
            data = json.loads(file.read_text())
            os.utime(file)  # recently used entries survive eviction
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            file.unlink(missing_ok=True)  # a damaged entry is a miss, rebuilt once
            return None
        objects = data.get("objects") if isinstance(data, dict) else None
        if not isinstance(objects, list):
            return None
        try:
            return [self._cipher.unseal(obj, copy_other=False) for obj in objects]
        except SecretKeyError:
            return None  # sealed with a key since retired: rebuilt once

    def put(self, key: str, objects: Sequence[Mapping[str, Any]]) -> None:
        """Store ``objects`` under ``key`` atomically: readers see all of it or nothing."""
        file = self._file(key)
        file.parent.mkdir(mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=file.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                sealed = [self._cipher.seal(dict(obj), copy_other=False) for obj in objects]
                json.dump({"key": key, "objects": sealed}, handle, separators=(",", ":"))
            # No fsync: an entry torn by a crash reads as damaged, a miss rebuilt once.
            os.replace(temp, file)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        if self._check_due():
            self._evict()

    def _check_due(self) -> bool:
        with _puts_lock:
            _puts[self.directory] += 1
            if _puts[self.directory] < max(1, self.max_entries // 16):
                return False
            _puts[self.directory] = 0
            return True

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold ``key``'s build lock, so concurrent builders of one key wait for the first."""
        file = self._file(key, ".lock")
        file.parent.mkdir(mode=0o700, exist_ok=True)
        with FileLock(file):
            yield

    def _evict(self) -> None:
        entries = list(self.directory.glob("??/*.json"))
        if len(entries) <= self.max_entries:
            return

        def age(entry: Path) -> float:
            with contextlib.suppress(OSError):  # another process may evict it first
                return entry.stat().st_mtime
            return 0.0

        for entry in sorted(entries, key=age)[: len(entries) - self.max_entries]:
            entry.unlink(missing_ok=True)
            entry.with_suffix(".lock").unlink(missing_ok=True)
