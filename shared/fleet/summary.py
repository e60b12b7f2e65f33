"""Sum per-cluster results into a fanned-out object's own Flux conditions (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.api.conditions import (
    FALSE,
    PROGRESSING,
    READY,
    RECONCILIATION_SUCCEEDED,
    TRUE,
    UNKNOWN,
)

__all__ = ["ClusterResult", "Summary", "summarize_clusters"]


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

    def to_status(self) -> dict[str, Any]:
        """The entry in ``status.clusters[]``."""
        return {
            "name": self.cluster,
            "conditions": [
                {
                    "type": READY,
                    "status": self.ready,
                    "reason": self.reason,
                    "message": self.message,
                    "lastTransitionTime": self.time,
                }
            ],
            "lastAttemptedRevision": self.last_attempted_revision,
            "lastAppliedRevision": self.last_applied_revision,
            "inventory": {"entries": list(self.inventory)},
        }

    @classmethod
    def from_status(cls, entry: dict[str, Any]) -> ClusterResult:
        """Read back an entry of ``status.clusters[]``."""
        cond = (entry.get("conditions") or [{}])[0]
        return cls(
            cluster=str(entry["name"]),
            ready=str(cond.get("status", UNKNOWN)),
            reason=str(cond.get("reason", "")),
            message=str(cond.get("message", "")),
            last_attempted_revision=str(entry.get("lastAttemptedRevision", "")),
            last_applied_revision=str(entry.get("lastAppliedRevision", "")),
            inventory=tuple((entry.get("inventory") or {}).get("entries") or ()),
            time=str(cond.get("lastTransitionTime", "")),
        )


@dataclass(frozen=True)
class Summary:
    """The object-level Ready condition and revision derived from all clusters."""

    ready: str
    reason: str
    message: str
    last_applied_revision: str | None  # None: keep the previous value


def summarize_clusters(
    revision: str, targets: Sequence[str], results: Sequence[ClusterResult]
) -> Summary:
    """Ready when every target applied ``revision``; False naming each failing cluster."""
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
        detail = "; ".join(f"{r.cluster}: {r.message}" for r in failing)
        return Summary(FALSE, failing[0].reason, f"{count} ready; {detail}", None)
    if targets and len(done) == len(targets):
        where = "" if len(targets) == 1 else f" to {len(targets)} clusters"
        return Summary(
            TRUE, RECONCILIATION_SUCCEEDED, f"Applied revision: {revision}{where}", revision
        )
    pending = [t for t in targets if t not in done]
    return Summary(
        UNKNOWN,
        PROGRESSING,
        f"{count} ready; applying {revision} to {', '.join(pending)}",
        None,
    )
