"""sluice-notify's declaration: what shared/ knows of it without importing it."""

from __future__ import annotations

from shared.plugins import KindFacts, Service, WorkerShape

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
    ),
    tasks=("services.notify.tasks",),
    # Every event: an Alert may forward any of them.
    subscriptions=("*",),
    # Threads: a delivery waits on an endpoint, up to the Provider's timeout;
    # each Provider holds at most one thread at a time (delivery.py).
    worker=WorkerShape(pool="threads", concurrency=8),
)
