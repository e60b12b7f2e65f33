"""What CLI commands share: the --redis-url option and opening the store from it."""

from __future__ import annotations

import typer

from shared.settings import Settings, load_settings
from shared.store import Store

__all__ = ["RedisUrl", "cli_settings", "open_store"]

RedisUrl = typer.Option(
    None,
    "--redis-url",
    envvar="SLUICE_REDIS_URL",
    help=(
        "Redis holding sluice's store and queues (default redis://127.0.0.1:6379/0); "
        "its password from SLUICE_REDIS_PASSWORD_FILE, or in the URL."
    ),
    show_envvar=True,
)


def cli_settings(redis_url: str | None) -> Settings:
    """Settings from the environment, with --redis-url winning."""
    settings = load_settings()
    return settings.with_overrides(redis_url=redis_url) if redis_url else settings


def open_store(redis_url: str | None) -> Store:
    """The store on the Redis the command was pointed at."""
    return Store.from_settings(cli_settings(redis_url))
