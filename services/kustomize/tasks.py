"""Celery entry points of sluice-kustomize: build once per Kustomization, apply per cluster.

``kustomize.reconcile`` builds and routes; ``kustomize.apply`` applies one
cluster (``shared.fleet.tasks`` says how the two share the work). A new
artifact of a source wakes the Kustomizations that use it.
"""

from __future__ import annotations

from services.kustomize.cluster import KUSTOMIZE
from services.kustomize.reconcile import KUSTOMIZATION
from shared.fleet.tasks import FanOutTasks

__all__ = ["app"]

tasks = FanOutTasks(fleet=KUSTOMIZE, kind=KUSTOMIZATION)
app = tasks.app
