"""Celery entry points of sluice-source: decode arguments, take the lease, call the reconcile.

A source kind that reads other sources (a HelmChart, an ArtifactGenerator) is
woken by their ``artifact-ready`` events, through the dependents index its reconcile
keeps. An ExternalArtifact is not reconciled by itself: a request for one
(its store write, ``sluice reconcile source external``) goes to its producer.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from services.source.generator.artifactgenerator import index_generators
from services.source.generator.externalartifacts import EXTERNAL_ARTIFACT, producers_of
from services.source.helm.helmchart import index_charts
from services.source.kinds import SOURCE_KINDS
from services.source.reconcile import reconcile_source
from services.source.serving import serve_when_ready
from shared.celeryapp import create_app, task_name
from shared.dependents import DependentsIndex
from shared.events import Event, event_handler
from shared.keys import ObjectKey
from shared.lease import clear_pending, request_reconcile
from shared.metrics import timed_reconcile
from shared.runtime import subscribe_services
from shared.settings import load_settings
from shared.worker import WorkerContext

__all__ = ["app"]

SERVICE = "source"
RECONCILE = task_name(SERVICE, "reconcile")

settings = load_settings()
app = create_app(SERVICE, settings)
serve_when_ready(settings)


@cache
def _context() -> WorkerContext:
    ctx = WorkerContext.create(settings, app)
    subscribe_services(ctx.events)
    index_generators(ctx)
    index_charts(ctx)
    return ctx


def _request(ctx: WorkerContext, key: ObjectKey) -> None:
    request_reconcile(
        ctx.client, app, key, task_name=RECONCILE, stale_after=settings.pending_stale_after
    )


@app.task(name=RECONCILE, bind=True)
def reconcile(self: Any, key_text: str) -> None:
    """Reconcile one source object (Kind/namespace/name), one worker at a time."""
    key = ObjectKey.parse(key_text)
    ctx = _context()
    if key.kind == EXTERNAL_ARTIFACT:
        clear_pending(ctx.client, key, task_name=RECONCILE)
        for producer in producers_of(ctx.store, key):
            _request(ctx, producer)
        return
    source = SOURCE_KINDS.get(key.kind)
    if source is None:
        raise ValueError(f"{key}: sluice-source does not reconcile {key.kind}")
    with ctx.exclusive(app, key, task_name=RECONCILE, holder=self.request.hostname) as lease:
        if lease is not None:
            with timed_reconcile(ctx.client, key.kind, lambda: ctx.store.get(key)):
                reconcile_source(ctx, key, source)


@event_handler(app, SERVICE)
def on_event(event: Event) -> None:
    """Reconcile the source objects built from the one that has a new artifact.

    A HelmChart or an ArtifactGenerator records its sources as it runs
    (``shared.dependents``), so a new commit of its GitRepository rebuilds it
    at once, as Flux's watch on the source's artifact revision does.
    """
    if event.type != "artifact-ready":
        return
    ctx = _context()
    index = DependentsIndex(ctx.client)
    for key in index.dependents(event.object):
        if key.kind not in SOURCE_KINDS:
            continue
        if ctx.store.get(key) is None:
            index.drop(key)  # a deleted chart or generator: its edges go with it
            continue
        _request(ctx, key)
