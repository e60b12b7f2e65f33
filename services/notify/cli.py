"""``sluice receiver``: serve Receiver webhooks (and the event stream) over HTTP.

Bound to loopback by default, as every sluice server; ``--address`` takes any
``HOST:PORT`` (``0.0.0.0:9292`` for a Git host on another machine: each
Receiver's token, or for ``generic`` its secret path, is what admits a call).
Flux's notification-controller listens on ``:9292`` (``--receiverAddr``).
"""

from __future__ import annotations

import typer

from shared.cli.address import parse_address
from shared.cli.context import RedisUrl, cli_settings
from shared.logs import setup_logging

__all__ = ["DEFAULT_ADDRESS", "register"]

DEFAULT_ADDRESS = "127.0.0.1:9292"


def register(app: typer.Typer) -> None:
    """Add ``receiver`` to the CLI."""

    @app.command()
    def receiver(
        address: str = typer.Option(
            DEFAULT_ADDRESS, "--address", help="HOST:PORT to listen on (loopback by default)."
        ),
        loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Serve Receiver webhooks (POST /hook/<digest>) and events (GET /events) until stopped."""
        from services.notify.server import serve  # Starlette and uvicorn only for this command

        host, port = parse_address(address)
        settings = cli_settings(redis_url)
        setup_logging(loglevel)
        serve(settings, host=host, port=port)
