"""A cluster's Released, TestSuccess, Remediated and Stalled conditions, and what Ready shows.

Pure. The release loop moves them as its actions succeed or fail; Ready then
mirrors one of them as Flux's ``summarize`` chooses: Remediated, else
TestSuccess when tests are enabled and their failures not ignored, else
Released.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.helm.remediation import TestPolicy
from shared.api.conditions import STALLED

__all__ = ["RELEASED", "REMEDIATED", "TEST_SUCCESS", "ReleaseConditions"]

RELEASED = "Released"
TEST_SUCCESS = "TestSuccess"
REMEDIATED = "Remediated"


@dataclass
class ReleaseConditions:
    """The cluster's Released, TestSuccess and Remediated conditions, as the run moves them."""

    by_type: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, previous: Sequence[Mapping[str, Any]]) -> ReleaseConditions:
        """The conditions the cluster's last run left (``ClusterResult.conditions``)."""
        kept = (RELEASED, TEST_SUCCESS, REMEDIATED)
        return cls({str(c["type"]): dict(c) for c in previous if c.get("type") in kept})

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        self.by_type[type_] = {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
        }

    def drop(self, type_: str) -> None:
        self.by_type.pop(type_, None)

    def get(self, type_: str) -> dict[str, Any] | None:
        return self.by_type.get(type_)

    def listed(self) -> tuple[dict[str, Any], ...]:
        """Every condition set, in Flux's order."""
        order = (RELEASED, TEST_SUCCESS, REMEDIATED, STALLED)
        return tuple(self.by_type[t] for t in order if t in self.by_type)

    def summary(self, test: TestPolicy) -> dict[str, Any] | None:
        """The condition Ready mirrors (Flux's ``summarize``)."""
        tested = test.enable and not test.ignore_failures
        order = (REMEDIATED, TEST_SUCCESS, RELEASED) if tested else (REMEDIATED, RELEASED)
        return next((c for t in order if (c := self.by_type.get(t)) is not None), None)
