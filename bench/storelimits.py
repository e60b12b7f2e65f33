"""How long one store write holds Redis up, by size: the figures behind shared/store/limits.py.

    .venv/bin/python -m bench.storelimits [--watch 1000,5000,10000,20000]

Starts a private redis-server, turns SLOWLOG on for every command, and prints
the longest single command of (1) one WATCH of N keys, as an apply of N
objects makes, and (2) one ``Store.apply_all`` at the limits. Redis runs one
command at a time, so that duration is how long every other client waits.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import redis

from shared.redisserver import RedisServer
from shared.settings import load_settings
from shared.store import Store

__all__ = ["main"]


def _longest_ms(client: redis.Redis) -> float:
    entries: list[dict[str, Any]] = client.slowlog_get(100_000)
    return max(float(e["duration"]) for e in entries) / 1000


def _configmaps(count: int, size: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{prefix}-{i}", "namespace": "default"},
            "data": {"v": "x" * size},
        }
        for i in range(count)
    ]


def main() -> None:
    """Print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watch", default="1000,5000,10000,20000", help="key counts to WATCH")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        server = RedisServer(data_dir=Path(work) / "redis")
        server.start()
        try:
            client = redis.Redis.from_url(server.url, socket_timeout=600)
            client.config_set("slowlog-log-slower-than", 0)
            client.config_set("slowlog-max-len", 100_000)
            for count in (int(n) for n in args.watch.split(",")):
                client.slowlog_reset()
                keys = [f"sluice:object:ConfigMap/default/cm-{i}" for i in range(count)]
                with client.pipeline(transaction=True) as pipe:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                print(f"WATCH of {count:,} keys: {_longest_ms(client):.1f} ms")
            env = {"SLUICE_REDIS_URL": server.url, "SLUICE_SECRET_KEY_FILE": f"{work}/key"}
            store = Store.from_settings(load_settings(env))
            for label, docs in (
                ("1,000 ConfigMaps of 2 KB", _configmaps(1000, 2000, "a")),
                ("1,000 ConfigMaps of 8 KB", _configmaps(1000, 8000, "b")),
                ("8 ConfigMaps of 1 MiB", _configmaps(8, 2**20 - 300, "c")),
            ):
                client.slowlog_reset()
                store.apply_all(docs)
                print(f"apply_all of {label}: longest command {_longest_ms(client):.1f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
