"""Celery entry points of sluice-helm: plan once per HelmRelease, release per cluster.

``helm.reconcile`` resolves the chart and values; ``helm.apply`` runs the
release loop on one cluster (``shared.fleet.tasks`` says how the two share the
work). A new chart artifact (a HelmChart's, an OCIRepository's) wakes the
HelmReleases that use it.
"""

from __future__ import annotations

from services.helm.cluster import HELM
from services.helm.reconcile import HELM_RELEASE
from shared.fleet.tasks import FanOutTasks

__all__ = ["app"]

tasks = FanOutTasks(fleet=HELM, kind=HELM_RELEASE)
app = tasks.app
