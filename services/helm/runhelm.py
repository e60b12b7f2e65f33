"""What a cluster's run needs of its Helm: the adapter as the run's identity, and the last record.

The adapter gets the cluster's kubeconfig from the run's access (with ``as:`` for
``serviceAccountName``, which helm honours as kubectl does), the run's time left
as its cap, and a private home under the cache: a worker killed mid-run leaves
its home behind, and it is swept once older than any run can be.
"""

from __future__ import annotations

from services.helm.helm import HOME_PREFIX, Helm
from services.helm.history import ClusterRecord
from shared.celeryapp import task_limits
from shared.fleet.run import ClusterRun
from shared.private import sweep_private
from shared.toolrun import ToolLimits
from shared.yaml import dump, load

__all__ = ["helm_for", "record_of"]


def helm_for(run: ClusterRun) -> Helm:
    """The Helm adapter for the run's cluster, as the run's identity."""
    assert run.access is not None
    kubeconfig = run.access.kubeconfig
    if run.access.impersonate is not None:
        kubeconfig = _impersonating(kubeconfig, run.access.impersonate.username)
    soft, hard = task_limits(run.ctx.settings)
    limits = ToolLimits.from_settings(run.ctx.settings, timeout=run.time_left(soft))
    # Private homes under the cache, where a worker killed mid-run left its own:
    # swept once older than any run can be.
    scratch = run.ctx.settings.cache_dir / "helm-homes"
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    sweep_private(scratch, HOME_PREFIX, older_than=2 * hard)
    return Helm(kubeconfig.encode(), client=run.client, limits=limits, scratch=scratch)


def _impersonating(kubeconfig: str, username: str) -> str:
    """The kubeconfig with every user acting as ``username`` (kubectl's ``as``)."""
    doc = load(kubeconfig.encode(), source="kubeconfig") or {}
    for entry in doc.get("users") or []:
        (entry.setdefault("user", {}) or {})["as"] = username
    return dump(doc)


def record_of(run: ClusterRun) -> ClusterRecord:
    """What the cluster's last run recorded of its release."""
    if run.previous is None:
        return ClusterRecord()
    return ClusterRecord.from_extra(
        run.previous.extra, revision=run.previous.last_attempted_revision
    )
