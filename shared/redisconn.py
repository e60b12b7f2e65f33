"""One way to get a Redis client (and Celery's broker URL) from settings.

Redis' password comes from the URL (``redis://user:pw@host/0``) or, when the
URL carries none, from ``settings.redis_password_file``. Either way it stays
in this process's memory: URLs that are printed go through
``shared.logs.redact``, and child processes get the file's path, not the
password (Flower alone needs the whole URL, which it gets in its environment).
TLS is the ``rediss://`` scheme, with redis-py's ``ssl_*`` query options.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import redis
import redis.asyncio

from shared.settings import Settings

__all__ = [
    "RedisPasswordError",
    "broker_url",
    "connect",
    "connect_async",
    "read_password_file",
    "redis_password",
]


class RedisPasswordError(ValueError):
    """The Redis password file cannot be read (the message names the file, never its content)."""


def redis_password(settings: Settings) -> str | None:
    """The password from ``settings.redis_password_file``, or None when none is set."""
    path = settings.redis_password_file
    if path is None:
        return None
    return read_password_file(path)


def read_password_file(path: Path) -> str:
    """The first line of ``path``, or RedisPasswordError saying what is wrong with the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise RedisPasswordError(
            f"SLUICE_REDIS_PASSWORD_FILE {path}: cannot read it ({reason})"
        ) from None
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise RedisPasswordError(f"SLUICE_REDIS_PASSWORD_FILE {path}: the file is empty")
    return password


def broker_url(settings: Settings) -> str:
    """``settings.redis_url`` with the password file's password in it, for Celery and Flower."""
    password = redis_password(settings)
    parts = urlsplit(settings.redis_url)
    if password is None or parts.password is not None:
        return settings.redis_url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def connect(settings: Settings) -> redis.Redis:
    """A client for ``settings.redis_url`` that retries briefly across a Redis restart."""
    return redis.Redis.from_url(
        settings.redis_url,
        # Used only when the URL has no password of its own.
        password=redis_password(settings),
        socket_connect_timeout=5,
        socket_timeout=settings.redis_timeout,
        socket_keepalive=True,
        health_check_interval=30,
        retry_on_timeout=True,
    )


def connect_async(
    settings: Settings, *, name: str | None = None, timeout: float | None = None
) -> redis.asyncio.Redis:
    """An asyncio client for ``settings.redis_url``, named ``name`` in CLIENT LIST.

    ``timeout`` replaces ``settings.redis_timeout`` as the socket timeout: it
    must exceed the longest blocking read the caller makes.
    """
    return redis.asyncio.Redis.from_url(
        settings.redis_url,
        password=redis_password(settings),
        client_name=name,
        socket_connect_timeout=5,
        socket_timeout=settings.redis_timeout if timeout is None else timeout,
        socket_keepalive=True,
        health_check_interval=30,
    )
