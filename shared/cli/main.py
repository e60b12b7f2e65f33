"""The ``sluice`` command: one typer app; each command group lives in its own module.

Commands that need a service's code (``build``, ``diff``) live in that service
and plug in through its declaration (``shared/plugins.py``), since ``shared``
never imports a service; a verb several services fill (``diff ks``, ``diff
hr``) loads each of them, after the module of ``shared`` that adds its group.
A service whose declaration or CLI fails to load stops the command with exit 1
and the reason, naming the service.

Only the module that adds the command being run is imported (``sluice get``
does not pay for Celery, the Kubernetes client or a service's code): each
module's top-level command names are listed here, and a test checks the list
against what the module's ``register`` adds. ``--help`` and unknown words load
everything, so help is complete and typer's own error says what exists.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

import redis
import typer

from shared.cli.context import ScopeChoice, select_scope
from shared.keys import ObjectKey
from shared.logs import redact
from shared.plugins import Service, ServiceLoadError, load_attribute, load_services
from shared.redisconn import RedisPasswordError
from shared.store.layout import check_key

__all__ = ["COMMAND_MODULES", "build_app", "main"]  # and `app`, built on first use

# Each module defines register(app) and adds these commands; kept in the order
# `sluice --help` lists them.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "shared.cli.check": ("check",),
    "shared.cli.objects": ("apply", "get", "delete"),
    "shared.cli.flux": ("reconcile", "suspend", "resume", "tree", "export"),
    "shared.cli.cluster": ("cluster",),
    "shared.cli.bootstrap": ("bootstrap",),
    "shared.cli.events": ("events",),
    "shared.cli.sandbox": ("sandbox",),
    "shared.cli.run": ("worker", "scheduler"),
    "shared.cli.up": ("up",),
    "shared.cli.artifacts": ("artifact-server",),
    "shared.cli.oci": ("push", "pull"),
    "shared.cli.metrics": ("metrics",),
}


def _new_app() -> typer.Typer:
    app = typer.Typer(
        name="sluice",
        help="sluice: a GitOps engine. Flux-compatible objects, Celery workers, many clusters.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    # A callback keeps `sluice` a group when only one command is loaded, so
    # `sluice check` still parses as a subcommand rather than as the root.
    app.callback()(_root)
    return app


def _root(
    cluster: str = typer.Option(
        "",
        "-c",
        "--cluster",
        help="Work in this Cluster's scope (as `flux --context`); default: the fleet-wide scope.",
    ),
    all_clusters: bool = typer.Option(
        False, "--all-clusters", help="Listings cover every scope, with a CLUSTER column."
    ),
) -> None:
    problem = check_key(ObjectKey("Cluster", "default", "x", cluster)) if cluster else None
    if problem:
        print(f"error: -c/--cluster: {problem}", file=sys.stderr)
        raise typer.Exit(2)
    select_scope(ScopeChoice(cluster, all_clusters))


_SCOPE_OPTIONS = ("-c", "--cluster")


def _wanted(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (after the program name), or None to load everything."""
    rest = list(argv[1:])
    while rest and (rest[0] in _SCOPE_OPTIONS or rest[0].startswith(("--cluster=", "--all-"))):
        rest = rest[2:] if rest[0] in _SCOPE_OPTIONS else rest[1:]
    words = [w for w in rest[:1] if not w.startswith("-")]
    return words[0] if words else None


def build_app(argv: Sequence[str] | None = None) -> typer.Typer:
    """The CLI with the commands ``argv`` needs (every command when ``argv`` is None or help).

    Raises ServiceLoadError when a service's declaration or CLI cannot be loaded.
    """
    services = load_services()
    command = None if argv is None else _wanted(argv)
    plugins: list[tuple[Service, tuple[str, ...]]] = [
        (s, (*s.commands, *s.verbs)) for s in services if s.cli is not None
    ]
    known = {c for names in COMMAND_MODULES.values() for c in names}
    known |= {c for _, names in plugins for c in names}
    load_all = command is None or command not in known
    new = _new_app()
    for module, names in COMMAND_MODULES.items():
        if load_all or command in names:
            importlib.import_module(module).register(new)
    for service, names in plugins:
        if (load_all or command in names) and service.cli is not None:
            register: Callable[[typer.Typer], None] = load_attribute(
                service.cli, service=service.name
            )
            try:
                register(new)
            except Exception as exc:
                raise ServiceLoadError(
                    f"service {service.name!r}: {service.cli} failed: {type(exc).__name__}: {exc}"
                ) from exc
    return new


def __getattr__(name: str) -> typer.Typer:
    # `from shared.cli.main import app`: the whole CLI, built on first use (typer's CliRunner).
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        cli = build_app(sys.argv)
    except ServiceLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    try:
        cli()
    except (redis.exceptions.RedisError, RedisPasswordError) as exc:
        print(f"error: {_redis_problem(exc)}", file=sys.stderr)
        sys.exit(1)
