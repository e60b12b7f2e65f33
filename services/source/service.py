"""sluice-source's declaration: what shared/ knows of it without importing it."""

from __future__ import annotations

from shared.plugins import KindFacts, Service, WorkerShape

__all__ = ["SERVICE"]

SERVICE = Service(
    name="source",
    kinds=(
        KindFacts(kind="GitRepository", command=("source", "git"), revision="artifact.revision"),
        # The generator keeps no artifact: its REVISION column stays empty.
        KindFacts(
            kind="ArtifactGenerator",
            command=("artifact", "generator"),
            revision="artifact.revision",
        ),
        # Its producer (an ArtifactGenerator) reconciles and suspends it.
        KindFacts(
            kind="ExternalArtifact",
            command=("source", "external"),
            revision="artifact.revision",
            suspendable=False,
        ),
        KindFacts(kind="HelmChart", command=("source", "chart"), revision="artifact.revision"),
        KindFacts(kind="Bucket", command=("source", "bucket"), revision="artifact.revision"),
        KindFacts(kind="HelmRepository", command=("source", "helm"), revision="artifact.revision"),
        KindFacts(kind="OCIRepository", command=("source", "oci"), revision="artifact.revision"),
    ),
    tasks=("services.source.tasks",),
    # A source built from others (a HelmChart from its GitRepository, an
    # ArtifactGenerator from its sources) is rebuilt when one has a new
    # artifact (tasks.on_event).
    subscriptions=("artifact-ready",),
    # Threads: a reconcile waits on git (a subprocess) and gzip (which drops
    # the GIL); see shared/celeryapp.py for the measurements.
    worker=WorkerShape(pool="threads", concurrency=2),
)
