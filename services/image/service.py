"""sluice-image's declaration: what shared/ knows of it without importing it."""

from __future__ import annotations

from shared.plugins import KindFacts, Service, WorkerShape

__all__ = ["SERVICE"]

SERVICE = Service(
    name="image",
    kinds=(
        # flux's words: `get images repository`, `reconcile image update NAME`.
        KindFacts(
            kind="ImageRepository",
            command=("image", "repository"),
            revision="lastScanResult.revision",
            reruns_on=("Secret",),
        ),
        KindFacts(kind="ImagePolicy", command=("image", "policy"), revision="latestRef"),
        KindFacts(
            kind="ImageUpdateAutomation",
            command=("image", "update"),
            revision="lastPushCommit",
        ),
    ),
    tasks=("services.image.tasks",),
    # A scan with new tags wakes its policies, a new choice its automations
    # (tasks.on_event); both are revision-changed events of this service.
    subscriptions=("revision-changed",),
    # Threads: a reconcile waits on a registry (HTTP) or on git (a subprocess).
    worker=WorkerShape(pool="threads", concurrency=4),
)
