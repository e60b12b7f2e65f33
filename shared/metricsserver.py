"""The Prometheus exporter of an installation: ``/metrics`` read from its Redis at each scrape.

It keeps no state of its own, so it runs wherever is convenient: a thread of
``sluice up`` (beside the artifact server), or ``sluice metrics`` on its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import CollectorRegistry, start_http_server

from shared.metrics import RedisCollector
from shared.plugins import load_services
from shared.redisconn import connect
from shared.settings import Settings

__all__ = ["MetricsServer", "serve_metrics"]


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
    # Every declared service's queue, with a worker or not: work queued for a
    # service that has none running is what an operator must see.
    registry.register(RedisCollector(client, [s.name for s in load_services()]))
    try:
        server, thread = start_http_server(port, host or "0.0.0.0", registry=registry)
    except OSError:
        client.close()
        raise
    return MetricsServer(server, thread, client)
