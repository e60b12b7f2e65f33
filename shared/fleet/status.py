"""Writing a fanned-out object's status: per-cluster results summed into Flux's conditions."""

from __future__ import annotations

from typing import Any

from shared.api.conditions import (
    FALSE,
    HEALTHY,
    READY,
    TRUE,
    Outcome,
    remove_condition,
    set_condition,
    summarize,
)
from shared.fleet.state import FleetState
from shared.fleet.summary import ENTRY_FIELDS, ClusterResult, summarize_clusters
from shared.keys import ObjectKey
from shared.plugins import kind_facts
from shared.reconcile import update_status
from shared.store import Store

__all__ = ["summarize_into", "update_status", "write_summary"]


def summarize_into(
    doc: dict[str, Any], status: dict[str, Any], *, state: FleetState, key: ObjectKey
) -> None:
    """Set Ready (and Healthy when checked), ``status.clusters`` and the revision on ``status``.

    The results are read here, after the document: a write retried after a
    conflict must not write back results another cluster's task has since replaced.
    """
    desired, results = state.desired_and_results(key)
    if desired is None:
        return
    summary = summarize_clusters(
        desired.revision, desired.targets, list(results.values()), health=desired.health
    )
    generation = int(doc["metadata"].get("generation", 1))
    outcome = {TRUE: Outcome.SUCCEEDED, FALSE: Outcome.FAILED}.get(summary.ready, Outcome.WORKING)
    summarize(
        status, outcome, message=summary.message, reason=summary.reason, generation=generation
    )
    if summary.healthy is not None:
        healthy = summary.healthy
        set_condition(
            status,
            HEALTHY,
            healthy.status,
            healthy.reason,
            healthy.message,
            generation,
        )
    else:
        remove_condition(status, HEALTHY)
    # Only a kind whose status has them (a Kustomization, not a HelmRelease).
    facts = kind_facts(key.kind)
    applies = facts is None or facts.revision == "lastAppliedRevision"
    if summary.last_applied_revision is not None and applies:
        status["lastAppliedRevision"] = summary.last_applied_revision
        # Flux's lastAppliedOriginRevision: the commit behind an OCI or generated artifact.
        if desired.origin_revision:
            status["lastAppliedOriginRevision"] = desired.origin_revision
        else:
            status.pop("lastAppliedOriginRevision", None)
    ordered = [results[t] for t in desired.targets if t in results]
    before = {str(c.get("name")): c for c in status.get("clusters") or []}
    status["clusters"] = [r.to_status() for r in ordered]
    # Flux's single inventory, for tools that read it: the one cluster's, when one;
    # so are a service's own fields and conditions (helm's history, Released).
    if len(ordered) == 1 and len(desired.targets) == 1:
        only = ordered[0]
        _drop_stale(status, before.get(only.cluster), only)
        if facts is None or facts.inventory:
            status["inventory"] = only.to_status()["inventory"]
        status.update(only.extra)
        for cond in only.conditions:
            set_condition(
                status,
                str(cond["type"]),
                str(cond["status"]),
                str(cond.get("reason", "")),
                str(cond.get("message", "")),
                generation,
            )
    else:
        # Per cluster only: a one-cluster value left at the top would be stale.
        for result in ordered:
            for name in result.extra:
                status.pop(name, None)
            for cond in result.conditions:
                remove_condition(status, str(cond["type"]))


def _drop_stale(status: dict[str, Any], old: dict[str, Any] | None, new: ClusterResult) -> None:
    """Remove what the one cluster's last entry copied to the top and its new one dropped
    (helm: a Remediated or Stalled condition gone after a success, a counter back at zero)."""
    if old is None:
        return
    kept = {str(c["type"]) for c in new.conditions}
    for cond in old.get("conditions") or []:
        type_ = str(cond.get("type"))
        if type_ not in (READY, HEALTHY) and type_ not in kept:
            remove_condition(status, type_)
    for name in set(old) - ENTRY_FIELDS - set(new.extra):
        status.pop(name, None)


def write_summary(store: Store, state: FleetState, key: ObjectKey) -> dict[str, Any] | None:
    """Recompute Ready and ``status.clusters`` from every cluster's last result.

    Nothing is written while the object has no desired state (never built).
    """
    return update_status(
        store, key, lambda doc, status: summarize_into(doc, status, state=state, key=key)
    )
