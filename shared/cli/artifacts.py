"""``sluice artifact-server``: the artifact folder served read-only, as source-controller does.

A module of its own so that the process imports only what serving files
needs (no Redis, no Celery, no HTTP client): ``sluice up`` runs the same
server as a thread of its own process instead.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from shared.artifactserver import ArtifactServerError, serve_artifacts
from shared.cli.address import parse_address
from shared.cli.output import output
from shared.settings import load_settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``artifact-server`` to the CLI."""

    @app.command("artifact-server")
    def artifact_server(
        directory: Path | None = typer.Option(
            None, "--dir", help="Folder to serve (default: SLUICE_ARTIFACT_DIR)."
        ),
        address: str = typer.Option("127.0.0.1:9090", help="HOST:PORT to listen on."),
    ) -> None:
        """Serve the artifact folder read-only over HTTP, as source-controller does."""
        out = output()
        host, port = parse_address(address)
        root = directory or load_settings().artifact_dir
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            server = serve_artifacts(root, host=host, port=port)
        except ArtifactServerError as exc:
            out.error(f"sluice artifact-server: {exc}")
            raise typer.Exit(1) from exc
        out.line(f"serving {root} at {server.url}; Ctrl-C stops")
        out.stream.flush()
        stop.wait()
        server.close()
