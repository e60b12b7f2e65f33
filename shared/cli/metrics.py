"""``sluice metrics``: the one Prometheus exporter of an installation, reading its Redis."""

from __future__ import annotations

import signal
import threading

import typer

from shared.cli.address import parse_address
from shared.cli.context import RedisUrl, cli_settings
from shared.cli.output import output
from shared.metricsserver import MetricsServer, serve_metrics

__all__ = ["MetricsServer", "register", "serve_metrics"]


def register(app: typer.Typer) -> None:
    """Add ``metrics`` to the CLI."""

    @app.command()
    def metrics(
        address: str = typer.Option("127.0.0.1:9091", help="HOST:PORT to serve /metrics on."),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Serve Prometheus metrics: reconciles, applies, queue depths, events, cache, leases."""
        out = output()
        host, port = parse_address(address)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            server = serve_metrics(cli_settings(redis_url), host=host, port=port)
        except OSError as exc:
            out.error(f"sluice metrics: cannot serve on {address}: {exc}")
            raise typer.Exit(1) from exc
        out.line(f"serving metrics at {server.url}; Ctrl-C stops")
        out.stream.flush()
        stop.wait()
        server.close()
