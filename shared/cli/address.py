"""``HOST:PORT`` options of the commands that listen (``up``, ``metrics``, ``artifact-server``)."""

from __future__ import annotations

import typer

from shared.address import split_address

__all__ = ["parse_address"]


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; an empty host means all interfaces) as (host, port)."""
    try:
        return split_address(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
