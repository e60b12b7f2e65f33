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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except redis.exceptions.ConnectionError as exc:
        # The most common first-run mistake: say what to do, not a traceback.
        print(
            f"error: cannot reach Redis: {redact(str(exc))}; start sluice with `sluice up` "
            "or point --redis-url / SLUICE_REDIS_URL at its Redis",
            file=sys.stderr,
        )
        sys.exit(1)
