"""``sluice worker`` and ``sluice scheduler``: the long-running processes, one per command."""

from __future__ import annotations

import os
import signal
import socket
import threading

import typer

from shared.celeryapp import create_app
from shared.cli.context import RedisUrl, cli_settings
from shared.events import EventBus
from shared.logs import setup_logging
from shared.plugins import POOLS, ServiceLoadError, service_named, working_services
from shared.redisconn import connect
from shared.runtime import scheduler_for, service_app, subscribe_services, watcher_for

__all__ = ["register", "worker_options"]


def worker_options(
    service: str, *, concurrency: int | None = None, pool: str | None = None
) -> list[str]:
    """Celery worker options for ``service``: its declared pool and concurrency, or these."""
    shape = service_named(service).worker
    chosen = pool or shape.pool
    if chosen not in POOLS:
        raise ValueError(f"--pool {chosen}: expected one of {', '.join(POOLS)}")
    options = [f"--pool={chosen}", f"--concurrency={concurrency or shape.concurrency}"]
    if chosen == "prefork" and shape.max_tasks_per_child is not None:
        options.append(f"--max-tasks-per-child={shape.max_tasks_per_child}")
    return options


def register(app: typer.Typer) -> None:
    """Add worker and scheduler to the CLI."""

    @app.command()
    def worker(
        service: str = typer.Argument(
            ..., help=f"One of: {', '.join(s.name for s in working_services())}."
        ),
        concurrency: int | None = typer.Option(
            None, "--concurrency", "-c", min=1, help="Default: the service's own."
        ),
        pool: str | None = typer.Option(
            None, "--pool", "-P", help=f"{', '.join(POOLS)}; default: the service's own."
        ),
        loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Start one more worker of a service, here or on any machine that reaches Redis."""
        settings = cli_settings(redis_url)
        # The service's tasks module reads its settings from the environment.
        os.environ["SLUICE_REDIS_URL"] = settings.redis_url
        try:
            options = worker_options(service, concurrency=concurrency, pool=pool)
            celery_app = service_app(service, settings)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        except ServiceLoadError as exc:  # its tasks module is broken: say so, no traceback
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        # Several workers of one service on one host need distinct node names.
        node = f"{service}-{os.getpid()}@{socket.gethostname()}"
        celery_app.worker_main(
            [
                "worker",
                f"--hostname={node}",
                f"--queues={service}",
                *options,
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
            ]
        )

    @app.command()
    def scheduler(
        loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Requeue each object at its interval and on every change; several may run at once."""
        settings = cli_settings(redis_url)
        setup_logging(loglevel)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        client = connect(settings)
        subscribe_services(EventBus(client, create_app("scheduler", settings)))
        watcher = threading.Thread(
            target=watcher_for(settings, client).run, args=(stop,), name="watch", daemon=True
        )
        watcher.start()
        scheduler_for(settings, client).run(stop)
        watcher.join(timeout=5)
