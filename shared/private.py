"""Owner-only files for credentials that a tool or library reads only from a path.

Kubeconfigs, TLS keys, registry logins and values files reach helm, git, ssh
and Python's ssl as files. Each lives in a fresh directory of mode 0700, is
created 0600 with ``O_EXCL`` (never through a file or link already there),
and goes with its directory when the block ends. What a tool echoes back is
masked before it leaves sluice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["mask", "private_dir", "sweep_private", "write_private"]

MASK = "***"


@contextmanager
def private_dir(prefix: str, *, parent: Path | None = None) -> Iterator[Path]:
    """A fresh owner-only directory, removed with everything in it when the block ends."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as path:
        # mkdtemp makes it 0700; chmod says so and survives an odd umask.
        os.chmod(path, 0o700)
        yield Path(path)


def sweep_private(parent: Path, prefix: str, *, older_than: float) -> list[Path]:
    """Remove the ``prefix*`` directories under ``parent`` untouched for ``older_than`` seconds.

    A process killed inside ``private_dir`` leaves its directory (and the
    credentials in it) behind; a run never lasts longer than its task's time
    limit, so one older than that is nobody's. Returns what was removed.
    """
    removed = []
    cutoff = time.time() - older_than
    for path in parent.glob(f"{prefix}*"):
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        except FileNotFoundError:
            continue  # another worker swept it first
    return removed


def write_private(path: Path, data: bytes) -> Path:
    """Create ``path`` owner-only (0600) holding ``data``; an existing path is an error."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def mask(text: str, secrets: Iterable[str], *, limit: int = 2000) -> str:
    """``text`` with every secret replaced by ``***``, stripped and cut to ``limit`` characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"
