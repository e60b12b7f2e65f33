"""``HOST:PORT`` as given to what listens: the CLI's options and the artifact_listen setting."""

from __future__ import annotations

__all__ = ["split_address"]


def split_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; an empty host means all interfaces) as (host, port).

    ValueError names the text and the expected form.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:9090")
    return host.removeprefix("[").removesuffix("]"), int(port)
