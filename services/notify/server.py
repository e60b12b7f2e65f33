"""The notify service's HTTP server: Receiver webhooks in, and the event stream out.

One Starlette app on uvicorn, started by ``sluice receiver`` (and so by
``sluice up``): the receiver's routes (``receiver/routes.py``) and the event
subscription routes (``eventstream.py``). uvicorn's access log is off: a
request line holds the webhook path, which is as good as a generic
Receiver's token.
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from services.notify import eventstream
from services.notify.eventstream import StreamOptions
from services.notify.receiver.calls import ReceiverDesk
from services.notify.receiver.routes import receiver_routes
from shared.celeryapp import create_app
from shared.events import EventBus
from shared.redisconn import connect
from shared.settings import Settings
from shared.store import Store

__all__ = ["build_app", "desk_for", "serve"]


def desk_for(settings: Settings) -> ReceiverDesk:
    """The receiver's connections: the store, Redis, a task sender and the event bus."""
    client = connect(settings)
    sender = create_app("notify", settings)
    return ReceiverDesk(
        store=Store.from_settings(settings),
        client=client,
        sender=sender,
        events=EventBus(client, sender, max_len=settings.events_max_len),
        no_cross_namespace_refs=settings.no_cross_namespace_refs,
    )


def build_app(settings: Settings, *, desk: ReceiverDesk | None = None) -> Starlette:
    """The ASGI app: every route the notify server serves."""
    routes: list[BaseRoute] = [*receiver_routes(desk or desk_for(settings))]
    token = None
    if settings.events_token_file is not None:
        token = settings.events_token_file.read_text().strip() or None
    routes += eventstream.routes(settings, options=StreamOptions(token=token))
    return Starlette(routes=routes)


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn's own handlers stop it gracefully)."""
    config = uvicorn.Config(
        build_app(settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,  # the process's logging (shared.logs: redacting) is kept
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
