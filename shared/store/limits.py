"""How much one write may put into the store, so that no user can stall Redis for everyone.

Redis runs one command at a time: a single huge transaction (WATCH of every
key, then MULTI/EXEC of every object) holds up every worker, the scheduler
and every CLI until it is done. 64,797 ConfigMaps in one file held it for
13-15 s. So:

- one object is at most ``MAX_OBJECT_BYTES`` (1 MiB) as stored JSON: the
  limit Kubernetes documents for a ConfigMap's or a Secret's data (etcd's
  own request limit, 1.5 MiB, bounds the whole object there);
- one apply (one file of ``sluice apply -f``, one build's toolkit objects) is
  at most ``MAX_APPLY_OBJECTS`` objects and ``MAX_APPLY_BYTES`` bytes, stored
  all-or-nothing in one transaction;
- ``sluice apply -f`` reads files of at most ``MAX_FILE_BYTES``.

Pure functions, no Redis: the store and the API validation both call them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = [
    "MAX_APPLY_BYTES",
    "MAX_APPLY_OBJECTS",
    "MAX_FILE_BYTES",
    "MAX_OBJECT_BYTES",
    "apply_too_big",
    "file_too_big",
    "object_size",
    "object_too_big",
]

MAX_OBJECT_BYTES = 1024 * 1024
MAX_APPLY_OBJECTS = 1000
MAX_APPLY_BYTES = 8 * 1024 * 1024
MAX_FILE_BYTES = 8 * 1024 * 1024


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB ({size:,} bytes)"


def object_size(doc: Any) -> int:
    """Bytes of ``doc`` as compact UTF-8 JSON, the form the store keeps."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def object_too_big(size: int) -> str | None:
    """Why an object of ``size`` bytes cannot be stored, or None."""
    if size <= MAX_OBJECT_BYTES:
        return None
    return (
        f"the object is {_mib(size)} as JSON; an object may be at most 1 MiB "
        f"({MAX_OBJECT_BYTES:,} bytes), as Kubernetes allows for a ConfigMap or Secret: "
        "split its data over several objects"
    )


def apply_too_big(docs: Sequence[Any]) -> str | None:
    """Why one apply of ``docs`` (stored together) is refused, or None."""
    if len(docs) > MAX_APPLY_OBJECTS:
        return (
            f"{len(docs):,} objects in one apply; at most {MAX_APPLY_OBJECTS:,} are stored "
            "together (all or nothing), so that one apply never blocks Redis for "
            "everyone: split them over several files"
        )
    size = sum(object_size(doc) for doc in docs)
    if size > MAX_APPLY_BYTES:
        return (
            f"{_mib(size)} of objects in one apply; at most {_mib(MAX_APPLY_BYTES)} are "
            "stored together (all or nothing), so that one apply never blocks Redis for "
            "everyone: split them over several files"
        )
    return None


def file_too_big(size: int) -> str | None:
    """Why ``sluice apply -f`` will not read a file of ``size`` bytes, or None."""
    if size <= MAX_FILE_BYTES:
        return None
    return (
        f"the file is {_mib(size)}; sluice apply reads files of at most "
        f"{_mib(MAX_FILE_BYTES)} (and at most {MAX_APPLY_OBJECTS:,} objects each), "
        "each stored all or nothing: split it into several files"
    )
