"""``HOST:PORT`` options of the commands that listen (``up``, ``metrics``, ``artifact-server``)."""

from __future__ import annotations

import typer

__all__ = ["parse_address"]


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; an empty host means all interfaces) as (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:9090")
    return host.removeprefix("[").removesuffix("]"), int(port)
