"""sluice-kustomize's declaration: what shared/ knows of it without importing it."""

from __future__ import annotations

from shared.plugins import KindFacts, Service, WorkerShape

__all__ = ["SERVICE"]

SERVICE = Service(
    name="kustomize",
    kinds=(
        KindFacts(
            kind="Kustomization",
            command=("kustomization",),
            aliases=("ks",),
            revision="lastAppliedRevision",
            fans_out=True,
            inventory=True,
            # A new matching Cluster, a rotated kubeconfig or a changed
            # substitution variable re-runs the namespace's Kustomizations.
            reruns_on=("Cluster", "Secret", "ConfigMap"),
        ),
    ),
    tasks=("services.kustomize.tasks",),
    # Not "applied": the runs that apply a Kustomization wake its dependents
    # themselves (tasks.py), one queued task less per apply.
    subscriptions=("artifact-ready",),
    # Flux-style groups other services fill too (`diff hr`).
    verbs=("build", "diff"),
    cli="services.kustomize.cli:register",
    # Threads: a reconcile waits on kustomize builds (subprocesses) and
    # cluster API calls; see shared/celeryapp.py for the measurements. 16, so
    # one worker applies a revision to ten remote clusters at once: with 4, ten
    # clusters 20 ms away took 0.45 s against 0.29 s with 16 (bench fan-out-remote).
    worker=WorkerShape(pool="threads", concurrency=16),
)
