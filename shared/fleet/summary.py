"""Sum per-cluster results into a fanned-out object's own Flux conditions (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared.api.conditions import (
    FALSE,
    HEALTH_CHECK_FAILED,
    HEALTHY,
    PROGRESSING,
    READY,
    RECONCILIATION_SUCCEEDED,
    SUCCEEDED,
    TRUE,
    UNKNOWN,
)

__all__ = ["ENTRY_FIELDS", "ClusterResult", "Condition", "Summary", "summarize_clusters"]

HEALTH_PASSED = "Health check passed"
# The fields of a status.clusters[] entry that every service writes.
ENTRY_FIELDS = frozenset(
    (
        "name",
        "conditions",
        "lastAttemptedRevision",
        "lastAppliedRevision",
        "inventory",
        "lastHandledReconcileAt",
    )
)


@dataclass(frozen=True)
class ClusterResult:
    """The outcome of the last run of an object on one cluster."""

    cluster: str
    ready: str  # "True", "False" or "Unknown", as a condition status
    reason: str
    message: str
    last_attempted_revision: str = ""
    last_applied_revision: str = ""
    inventory: tuple[dict[str, str], ...] = field(default=())
    time: str = ""
    # The health check's verdict ("True"/"False"), "" when none ran on this cluster.
    healthy: str = ""
    health_message: str = ""
    # A service's own fields of the entry (helm: history, failure counters) and its
    # conditions past Ready and Healthy (helm: Released, TestSuccess, Remediated).
    extra: Mapping[str, Any] = field(default_factory=dict)
    conditions: tuple[Mapping[str, Any], ...] = ()
    # The object's requestedAt token this run saw: `sluice reconcile` waits for every
    # cluster to have handled its request, not for a result from before it.
    handled: str = ""

    def to_status(self) -> dict[str, Any]:
        """The entry in ``status.clusters[]``."""
        conditions = [
            {
                "type": READY,
                "status": self.ready,
                "reason": self.reason,
                "message": self.message,
                "lastTransitionTime": self.time,
            }
        ]
        if self.healthy:
            reason = SUCCEEDED if self.healthy == TRUE else HEALTH_CHECK_FAILED
            conditions.append(
                {
                    "type": HEALTHY,
                    "status": self.healthy,
                    "reason": reason,
                    "message": self.health_message,
                    "lastTransitionTime": self.time,
                }
            )
        conditions += [dict(c) for c in self.conditions]
        return {
            **self.extra,
            "name": self.cluster,
            "conditions": conditions,
            "lastAttemptedRevision": self.last_attempted_revision,
            "lastAppliedRevision": self.last_applied_revision,
            "inventory": {"entries": list(self.inventory)},
            **({"lastHandledReconcileAt": self.handled} if self.handled else {}),
        }

    @classmethod
    def from_status(cls, entry: dict[str, Any]) -> ClusterResult:
        """Read back an entry of ``status.clusters[]``."""
        conditions = entry.get("conditions") or [{}]
        cond = conditions[0]
        health: dict[str, Any] = next((c for c in conditions[1:] if c.get("type") == HEALTHY), {})
        more = tuple(c for c in conditions[1:] if c.get("type") != HEALTHY)
        return cls(
            cluster=str(entry["name"]),
            ready=str(cond.get("status", UNKNOWN)),
            reason=str(cond.get("reason", "")),
            message=str(cond.get("message", "")),
            last_attempted_revision=str(entry.get("lastAttemptedRevision", "")),
            last_applied_revision=str(entry.get("lastAppliedRevision", "")),
            inventory=tuple((entry.get("inventory") or {}).get("entries") or ()),
            time=str(cond.get("lastTransitionTime", "")),
            healthy=str(health.get("status", "")),
            health_message=str(health.get("message", "")),
            extra={k: v for k, v in entry.items() if k not in ENTRY_FIELDS},
            conditions=more,
            handled=str(entry.get("lastHandledReconcileAt", "")),
        )


@dataclass(frozen=True)
class Condition:
    """One summed-up condition."""

    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Summary:
    """The object-level Ready condition and revision derived from all clusters."""

    ready: str
    reason: str
    message: str
    last_applied_revision: str | None  # None: keep the previous value
    healthy: Condition | None = None  # None: no health checks, no Healthy condition


def _healthy(revision: str, targets: Sequence[str], by_name: dict[str, ClusterResult]) -> Condition:
    """Flux's Healthy: False when a cluster's check failed, True when all passed at revision."""
    failed = [by_name[t] for t in targets if t in by_name and by_name[t].healthy == FALSE]
    if failed:
        detail = "; ".join(f"{r.cluster}: {r.health_message}" for r in failed)
        return Condition(FALSE, HEALTH_CHECK_FAILED, detail)
    passed = [
        t
        for t in targets
        if t in by_name
        and by_name[t].healthy == TRUE
        and by_name[t].last_applied_revision == revision
    ]
    if targets and len(passed) == len(targets):
        return Condition(TRUE, SUCCEEDED, HEALTH_PASSED)
    return Condition(UNKNOWN, PROGRESSING, f"running health checks for revision {revision}")


def summarize_clusters(
    revision: str,
    targets: Sequence[str],
    results: Sequence[ClusterResult],
    *,
    health: bool = False,
) -> Summary:
    """Ready when every target applied ``revision``; False naming each failing cluster.

    With ``health`` (``wait`` or ``healthChecks``) the Healthy condition is summed too.
    """
    summary = _ready(revision, targets, results)
    if not health:
        return summary
    by_name = {r.cluster: r for r in results}
    return replace(summary, healthy=_healthy(revision, targets, by_name))


def _ready(revision: str, targets: Sequence[str], results: Sequence[ClusterResult]) -> Summary:
    by_name = {r.cluster: r for r in results}
    failing = [by_name[t] for t in targets if t in by_name and by_name[t].ready == FALSE]
    done = [
        t
        for t in targets
        if t in by_name
        and by_name[t].ready == TRUE
        and by_name[t].last_applied_revision == revision
    ]
    count = f"{len(done)}/{len(targets)} clusters"
    if failing:
        if len(targets) == 1:
            return Summary(FALSE, failing[0].reason, failing[0].message, None)
        detail = "; ".join(f"{r.cluster}: {r.message}" for r in failing)
        return Summary(FALSE, failing[0].reason, f"{count} ready; {detail}", None)
    if targets and len(done) == len(targets):
        if len(targets) == 1:
            # One cluster: its own words (helm's "Helm install succeeded for release ...").
            only = by_name[targets[0]]
            return Summary(TRUE, only.reason, only.message, revision)
        message = f"Applied revision: {revision} to {len(targets)} clusters"
        return Summary(TRUE, RECONCILIATION_SUCCEEDED, message, revision)
    pending = [t for t in targets if t not in done]
    return Summary(
        UNKNOWN,
        PROGRESSING,
        f"{count} ready; applying {revision} to {', '.join(pending)}",
        None,
    )
