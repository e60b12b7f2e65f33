"""sluice-notify's declaration: what shared/ knows of it without importing it."""

from __future__ import annotations

from shared.plugins import KindFacts, Server, Service, WorkerShape

__all__ = ["SERVICE"]

SERVICE = Service(
    name="notify",
    kinds=(
        # No revision: these say where events go, `sluice get` shows none.
        KindFacts(
            kind="Provider",
            command=("alert-provider",),
            revision=None,
            reruns_on=("Secret",),
        ),
        KindFacts(
            kind="Alert",
            command=("alert",),
            revision=None,
            reruns_on=("Provider",),
        ),
        # A rotated token Secret moves the webhook path (and a new one readies it).
        KindFacts(
            kind="Receiver",
            command=("receiver",),
            revision=None,
            reruns_on=("Secret",),
        ),
    ),
    tasks=("services.notify.tasks",),
    # Every event: an Alert may forward any of them.
    subscriptions=("*",),
    # Threads: a delivery waits on an endpoint, up to the Provider's timeout;
    # each Provider holds at most one thread at a time (delivery.py).
    worker=WorkerShape(pool="threads", concurrency=8),
    commands=("receiver",),
    cli="services.notify.cli:register",
    # Receiver webhooks (and the event stream) over HTTP, on loopback as Flux's :9292.
    servers=(Server(name="receiver", command=("receiver",), address="127.0.0.1:9292"),),
)
