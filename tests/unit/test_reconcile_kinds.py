"""Flux's three failure kinds: what each writes, how loud it is, and when a stall holds."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api.conditions import get_condition
from shared.reconcile import (
    ReconcileError,
    Stalled,
    Transient,
    Waiting,
    as_failure,
    record_failure,
    severity,
    stalled_at_generation,
)


@pytest.mark.parametrize(
    ("failure", "conditions", "loudness"),
    [
        (
            Stalled("InvalidPath", "no such path"),
            {"Ready": ("False", "InvalidPath"), "Stalled": ("True", "InvalidPath")},
            "error",
        ),
        (
            Waiting("DependencyNotReady", "dependency 'a' is not ready"),
            {
                "Ready": ("False", "DependencyNotReady"),
                "Reconciling": ("True", "ProgressingWithRetry"),
            },
            "info",
        ),
        (
            Transient("BuildFailed", "kustomize failed"),
            {"Ready": ("False", "BuildFailed"), "Reconciling": ("True", "ProgressingWithRetry")},
            "error",
        ),
        (
            as_failure(OSError(28, "No space left on device")),
            {
                "Ready": ("False", "ReconciliationFailed"),
                "Reconciling": ("True", "ProgressingWithRetry"),
            },
            "error",
        ),
    ],
)
def test_each_kind_writes_its_conditions_and_event_severity(
    failure: ReconcileError, conditions: dict[str, tuple[str, str]], loudness: str
) -> None:
    status: dict[str, Any] = {}
    record_failure(status, failure, generation=3)
    written = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert written == conditions
    assert severity(failure) == loudness


def test_an_unexpected_exception_is_transient_and_names_its_type() -> None:
    failure = as_failure(KeyError("spec"))
    assert isinstance(failure, Transient)
    assert (failure.reason, failure.message) == ("ReconciliationFailed", "KeyError: 'spec'")
    waiting = Waiting("ArtifactFailed", "no artifact yet", retry_after=30)
    assert as_failure(waiting) is waiting


def _doc(generation: int, **status: Any) -> dict[str, Any]:
    annotations = status.pop("annotations", {})
    meta = {"name": "a", "generation": generation, "annotations": annotations}
    return {"metadata": meta, "status": status}


def _stalled(observed: int) -> dict[str, Any]:
    status: dict[str, Any] = {}
    record_failure(status, Stalled("InvalidPath", "no such path"), generation=observed)
    return status


REQUEST = "reconcile.fluxcd.io/requestedAt"


@pytest.mark.parametrize(
    ("doc", "held"),
    [
        (_doc(1, **_stalled(1)), True),
        (_doc(2, **_stalled(1)), False),  # the spec changed since
        (_doc(1, **_stalled(1), annotations={REQUEST: "t1"}), False),  # sluice reconcile asked
        (_doc(1, **_stalled(1), annotations={REQUEST: "t1"}, lastHandledReconcileAt="t1"), True),
        (_doc(1), False),
    ],
)
def test_a_stall_holds_until_the_generation_changes_or_a_reconcile_is_asked_for(
    doc: dict[str, Any], held: bool
) -> None:
    assert stalled_at_generation(doc) is held
    assert get_condition(doc["status"], "Stalled") is not None or not held
