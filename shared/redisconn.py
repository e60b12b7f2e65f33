"""One way to get a Redis client from settings."""

from __future__ import annotations

import redis

from shared.settings import Settings

__all__ = ["connect"]


def connect(settings: Settings) -> redis.Redis:
    """A client for ``settings.redis_url`` that retries briefly across a Redis restart."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
        retry_on_timeout=True,
    )
