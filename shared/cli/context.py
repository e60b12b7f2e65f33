"""What CLI commands share: the --redis-url option, opening the store, the selected scope.

``sluice -c staging get ks`` selects the Cluster scope ``staging`` for the
command (``shared.scopes``); without ``-c`` commands work in the fleet-wide
scope, as before scopes. ``--all-clusters`` makes listings cover every scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import typer

from shared.keys import FLEET, ObjectKey
from shared.settings import Settings, load_settings
from shared.store import Store

__all__ = [
    "RedisUrl",
    "ScopeChoice",
    "cli_scope",
    "cli_settings",
    "listed_scopes",
    "open_store",
    "scoped",
    "select_scope",
    "selected_scope",
]


@dataclass(frozen=True)
class ScopeChoice:
    """The scope the top-level ``-c/--cluster`` and ``--all-clusters`` options chose."""

    cluster: str = FLEET
    all_clusters: bool = False


_choice = [ScopeChoice()]  # set by the root command before each command runs


def select_scope(choice: ScopeChoice) -> None:
    """Record the scope the command line chose (the root callback calls this)."""
    _choice[0] = choice


def selected_scope() -> ScopeChoice:
    """What the command line chose."""
    return _choice[0]


def cli_scope() -> str:
    """The scope commands work in: ``-c NAME``, or the fleet-wide scope ("")."""
    return _choice[0].cluster


def scoped(key: ObjectKey) -> ObjectKey:
    """``key`` in the selected scope."""
    return key.in_scope(cli_scope())


def listed_scopes(store: Store) -> list[str]:
    """The scopes a listing covers: the selected one, or every one with --all-clusters."""
    if _choice[0].all_clusters:
        return [FLEET, *store.scopes()]
    return [cli_scope()]


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
