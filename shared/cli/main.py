"""The ``sluice`` command: one typer app; each command group lives in its own module.

Commands that need a service's code (``build``, ``diff``) live in that service
and plug in through the ``sluice.cli`` entry-point group, since ``shared``
never imports a service.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points

import redis
import typer

from shared.logs import redact
from shared.redisconn import RedisPasswordError

__all__ = ["ENTRY_POINT_GROUP", "app", "main"]

ENTRY_POINT_GROUP = "sluice.cli"

app = typer.Typer(
    name="sluice",
    help="sluice: a GitOps engine. Flux-compatible objects, Celery workers, many clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines register(app) and adds its commands; kept in the order
# `sluice --help` lists them.
_COMMAND_MODULES = [
    "shared.cli.check",
    "shared.cli.objects",
    "shared.cli.flux",
    "shared.cli.events",
    "shared.cli.sandbox",
    "shared.cli.run",
    "shared.cli.up",
    "shared.cli.metrics",
]

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise
        continue
    _module.register(app)

for _entry in entry_points(group=ENTRY_POINT_GROUP):
    try:
        _entry.load()(app)
    except Exception as exc:
        # One broken plug-in must not take the whole CLI down with it.
        print(f"warning: sluice.cli plug-in {_entry.name!r} not loaded: {exc}", file=sys.stderr)


def _redis_problem(exc: Exception) -> str:
    """What to tell the user about a failure to talk to Redis (never a password)."""
    text = redact(str(exc))
    if isinstance(exc, RedisPasswordError):
        return text
    if isinstance(exc, redis.exceptions.TimeoutError):
        return (
            f"Redis did not answer in time ({text}): it is overloaded or stuck; "
            "a write that was under way may or may not have been made: run the command again"
        )
    if isinstance(exc, redis.exceptions.AuthenticationError) or "NOAUTH" in str(exc):
        return (
            f"Redis refused the login ({text}): put the user and password in SLUICE_REDIS_URL "
            "(redis://USER:PASSWORD@HOST:PORT/0) or the password in SLUICE_REDIS_PASSWORD_FILE"
        )
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return f"the Redis user may not do this ({text}): it needs ~* &* +@all"
    if isinstance(exc, redis.exceptions.ConnectionError):
        # The most common first-run mistake: say what to do, not a traceback.
        return (
            f"cannot reach Redis: {text}; start sluice with `sluice up` "
            "or point --redis-url / SLUICE_REDIS_URL at its Redis"
        )
    return f"Redis failed: {text}"


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except (redis.exceptions.RedisError, RedisPasswordError) as exc:
        print(f"error: {_redis_problem(exc)}", file=sys.stderr)
        sys.exit(1)
