"""sluice-helm's declaration: what shared/ knows of it without importing it."""

from __future__ import annotations

from shared.plugins import KindFacts, Service, WorkerShape

__all__ = ["SERVICE"]

SERVICE = Service(
    name="helm",
    kinds=(
        KindFacts(
            kind="HelmRelease",
            command=("helmrelease",),
            aliases=("hr",),
            revision="lastAttemptedRevision",
            fans_out=True,
            # A new matching Cluster, a rotated kubeconfig or a changed values
            # ConfigMap or Secret re-runs the namespace's HelmReleases.
            reruns_on=("Cluster", "Secret", "ConfigMap"),
            # `reconcile hr` has flux's --force and --reset (services/helm/cli.py).
            own_verbs=("reconcile",),
        ),
    ),
    tasks=("services.helm.tasks",),
    # Flux-style groups it adds a HelmRelease command to; `history` is its own.
    verbs=("reconcile", "tree", "history", "diff"),
    cli="services.helm.cli:register",
    # A HelmChart's or OCIRepository's new chart; "applied" of a dependency is
    # sent by this service's own runs (shared.fleet.tasks).
    subscriptions=("artifact-ready",),
    # Threads: a run mostly waits on helm (a subprocess) and the cluster's API.
    worker=WorkerShape(pool="threads", concurrency=8),
)
