"""Everything sluice keeps at rest, as bytes to search for a value that must not be there."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import redis

__all__ = ["file_bytes", "redis_bytes"]


def redis_bytes(client: redis.Redis) -> bytes:
    """Every value in Redis (store, events, builds gunzipped), as one blob to search."""
    parts: list[bytes] = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        values: list[bytes] = []
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "hash":
            values = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [
                v for _, fields in client.xrange(key) for pair in fields.items() for v in pair
            ]
        for value in values:
            parts.append(key + b"=" + value)
            if value[:2] == b"\x1f\x8b":
                parts.append(gzip.decompress(value))
    return b"\n".join(parts)


def file_bytes(root: Path) -> bytes:
    """Every regular file under ``root`` (tarballs gunzipped), never following a link."""
    parts: list[bytes] = []
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            parts.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return b"\n".join(parts)
