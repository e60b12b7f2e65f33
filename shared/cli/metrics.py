"""``sluice metrics``: the one Prometheus exporter of an installation, reading its Redis."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import redis
import typer
from prometheus_client import CollectorRegistry, start_http_server

from shared.cli.context import RedisUrl, cli_settings
from shared.cli.output import output
from shared.cli.up import parse_address
from shared.metrics import RedisCollector
from shared.redisconn import connect
from shared.runtime import SERVICES
from shared.settings import Settings

__all__ = ["MetricsServer", "register", "serve_metrics"]


@dataclass
class MetricsServer:
    """A running exporter: ``url`` serves ``/metrics``; ``close()`` stops it."""

    server: WSGIServer
    thread: threading.Thread
    client: redis.Redis

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        host = str(host)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.client.close()


def serve_metrics(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 9091
) -> MetricsServer:
    """Serve the metrics of the installation on ``settings.redis_url`` in a background thread."""
    client = connect(settings)
    # A private registry: only sluice's numbers, none of this process's own.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(client, SERVICES))
    try:
        server, thread = start_http_server(port, host or "0.0.0.0", registry=registry)
    except OSError:
        client.close()
        raise
    return MetricsServer(server, thread, client)


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
