"""The source worker serving its artifact folder itself, when ``artifact_listen`` is set.

Flux's source-controller serves the storage it writes; sluice's default is a
separate ``sluice artifact-server`` (source workers on several machines share
one folder). With ``SLUICE_ARTIFACT_LISTEN=HOST:PORT`` the worker starts the
same server as a thread of its own process when it is ready, and closes it at
shutdown: one process (and its ~35 MiB) less for a single-machine install.
A setting that can't be served stops the worker with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from shared.address import split_address
from shared.artifactserver import ArtifactServer, ArtifactServerError, serve_artifacts
from shared.settings import Settings

__all__ = ["serve_when_ready"]

log = logging.getLogger(__name__)


def serve_when_ready(settings: Settings) -> None:
    """Have this worker process serve ``artifact_dir`` at ``artifact_listen`` once it is up."""
    if not settings.artifact_listen:
        return
    try:
        host, port = split_address(settings.artifact_listen)
    except ValueError as exc:
        raise SystemExit(f"SLUICE_ARTIFACT_LISTEN: {exc}") from None
    running: list[ArtifactServer] = []

    def start(**_: Any) -> None:
        try:
            running.append(serve_artifacts(settings.artifact_dir, host=host, port=port))
        except ArtifactServerError as exc:
            raise SystemExit(f"SLUICE_ARTIFACT_LISTEN: {exc}") from None
        log.info("serving %s at %s", settings.artifact_dir, running[0].url)

    def stop(**_: Any) -> None:
        for server in running:
            server.close()

    signals.worker_init.connect(start, weak=False, dispatch_uid="sluice-artifacts-start")
    signals.worker_shutdown.connect(stop, weak=False, dispatch_uid="sluice-artifacts-stop")
