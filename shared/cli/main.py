"""The ``sluice`` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

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
    "shared.cli.events",
    "shared.cli.sandbox",
    "shared.cli.run",
]

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise
        continue
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
