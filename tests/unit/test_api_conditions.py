from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.api.conditions import (
    ARTIFACT_FAILED,
    FALSE,
    HEALTHY,
    MAX_MESSAGE_LENGTH,
    PROGRESSING,
    PROGRESSING_WITH_RETRY,
    READY,
    RECONCILIATION_SUCCEEDED,
    RECONCILING,
    STALLED,
    SUCCEEDED,
    TRUE,
    UNKNOWN,
    Outcome,
    get_condition,
    is_true,
    remove_condition,
    set_condition,
    summarize,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_set_condition_writes_a_flux_shaped_condition() -> None:
    status: dict[str, Any] = {}
    set_condition(
        status, READY, TRUE, RECONCILIATION_SUCCEEDED, "Applied revision: main@sha1:ab", 3, T0
    )
    assert status["conditions"] == [
        {
            "type": "Ready",
            "status": "True",
            "observedGeneration": 3,
            "lastTransitionTime": "2026-01-02T03:04:05Z",
            "reason": "ReconciliationSucceeded",
            "message": "Applied revision: main@sha1:ab",
        }
    ]


@pytest.mark.parametrize(
    ("first", "second", "transition"),
    [
        (TRUE, TRUE, "2026-01-02T03:04:05Z"),
        (FALSE, FALSE, "2026-01-02T03:04:05Z"),
        (TRUE, FALSE, "2026-01-02T03:09:05Z"),
        (UNKNOWN, TRUE, "2026-01-02T03:09:05Z"),
    ],
)
def test_last_transition_time_moves_only_when_status_changes(
    first: str, second: str, transition: str
) -> None:
    status: dict[str, Any] = {}
    set_condition(status, READY, first, "A", "first", 1, T0)
    set_condition(status, READY, second, "B", "second", 2, T1)
    condition = get_condition(status, READY)
    assert condition is not None
    assert condition["lastTransitionTime"] == transition
    assert (condition["reason"], condition["message"], condition["observedGeneration"]) == (
        "B",
        "second",
        2,
    )
    assert len(status["conditions"]) == 1


def test_ready_comes_first_and_the_rest_by_type() -> None:
    status: dict[str, Any] = {}
    for type_ in (STALLED, HEALTHY, READY, RECONCILING):
        set_condition(status, type_, TRUE, "R", "m", None, T0)
    assert [c["type"] for c in status["conditions"]] == [READY, HEALTHY, RECONCILING, STALLED]


def test_booleans_are_accepted_and_bad_statuses_refused() -> None:
    status: dict[str, Any] = {}
    set_condition(status, HEALTHY, False, "HealthCheckFailed", "timeout", now=T0)
    assert get_condition(status, HEALTHY) == {
        "type": "Healthy",
        "status": "False",
        "lastTransitionTime": "2026-01-02T03:04:05Z",
        "reason": "HealthCheckFailed",
        "message": "timeout",
    }
    with pytest.raises(ValueError, match="True, False or Unknown"):
        set_condition(status, READY, "true", "R", "m", now=T0)


def test_long_messages_are_capped_like_flux() -> None:
    status = set_condition({}, READY, FALSE, "BuildFailed", "x" * (MAX_MESSAGE_LENGTH + 10), now=T0)
    assert len(status["conditions"][0]["message"]) == MAX_MESSAGE_LENGTH


def test_get_and_remove_conditions() -> None:
    status: dict[str, Any] = {}
    assert get_condition(status, READY) is None
    assert get_condition(None, READY) is None
    set_condition(status, READY, TRUE, "R", "m", now=T0)
    set_condition(status, RECONCILING, TRUE, PROGRESSING, "m", now=T0)
    assert is_true(status, READY)
    remove_condition(status, RECONCILING)
    assert get_condition(status, RECONCILING) is None
    assert is_true(status, READY)
    remove_condition(status, STALLED)  # absent: no error
    assert [c["type"] for c in status["conditions"]] == [READY]


def _summary(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


@pytest.mark.parametrize(
    ("outcome", "reason", "expected", "observed"),
    [
        (
            Outcome.WORKING,
            None,
            {READY: (UNKNOWN, PROGRESSING), RECONCILING: (TRUE, PROGRESSING)},
            None,
        ),
        (
            Outcome.FAILED,
            ARTIFACT_FAILED,
            {READY: (FALSE, ARTIFACT_FAILED), RECONCILING: (TRUE, PROGRESSING_WITH_RETRY)},
            None,
        ),
        (
            Outcome.STALLED,
            "InvalidCELExpression",
            {
                READY: (FALSE, "InvalidCELExpression"),
                STALLED: (TRUE, "InvalidCELExpression"),
            },
            7,
        ),
        (
            Outcome.SUCCEEDED,
            RECONCILIATION_SUCCEEDED,
            {READY: (TRUE, RECONCILIATION_SUCCEEDED)},
            7,
        ),
        (Outcome.SUCCEEDED, None, {READY: (TRUE, SUCCEEDED)}, 7),
    ],
)
def test_summarize_follows_the_kstatus_rule(
    outcome: Outcome,
    reason: str | None,
    expected: dict[str, tuple[str, str]],
    observed: int | None,
) -> None:
    # Start from a status carrying every condition the summarizer owns.
    status: dict[str, Any] = {"observedGeneration": 6}
    set_condition(status, READY, TRUE, "Old", "old", 6, T0)
    set_condition(status, RECONCILING, TRUE, PROGRESSING, "old", 6, T0)
    set_condition(status, STALLED, TRUE, "Old", "old", 6, T0)
    set_condition(status, HEALTHY, TRUE, SUCCEEDED, "kept", 6, T0)
    summarize(status, outcome, reason=reason, message="msg", generation=7, now=T1)
    assert _summary(status) == {**expected, HEALTHY: (TRUE, SUCCEEDED)}
    assert status["observedGeneration"] == (observed or 6)


def test_a_new_attempt_after_a_failure_is_a_retry() -> None:
    status: dict[str, Any] = {}
    summarize(status, Outcome.FAILED, reason=ARTIFACT_FAILED, message="no artifact", now=T0)
    summarize(status, Outcome.WORKING, message="fetching", now=T1)
    assert _summary(status) == {
        READY: (UNKNOWN, PROGRESSING_WITH_RETRY),
        RECONCILING: (TRUE, PROGRESSING_WITH_RETRY),
    }
