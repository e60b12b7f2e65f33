"""The next Helm action for a release state, and when the loop stops: Flux's atomic release.

Pure. A reconcile observes the release, classifies it
(:func:`services.helm.release_state.determine_state`), runs the one action
:func:`next_action` picks, and observes again, until no action is left, the
same kind of action comes round twice, or a remediation ran
(:func:`before_action`, :func:`after_action`). Flux's table
(``AtomicRelease.actionForState``):

=============  ==============================================================
state          next action
=============  ==============================================================
InSync         none (an unhandled ``forceAt`` token: upgrade)
Locked         unlock (mark the pending revision failed), then decide again
Absent         install; install retries exhausted: stall (``forceAt``: install)
Unmanaged      upgrade, after clearing the history
OutOfSync      upgrade; upgrade retries exhausted: stall (``forceAt``: upgrade)
Drifted        correct the drift (mode enabled); mode warn: none
Untested       test
Failed         RetryOnFailure, no active remediation, a zero failure counter
               (something changed since) or ``forceAt``: upgrade; retries
               exhausted without remediateLastFailure: stall; else remediate:
               rollback to the previous deployed revision (missing from the
               history: stall; gone or altered in storage: upgrade) or
               uninstall
Unknown        error: retried with backoff
=============  ==============================================================

A stall (``Stalled=True``, reason ``RetriesExceeded`` or
``MissingRollbackTarget``) is terminal: only a change of generation, chart
version or values (which resets the counters, see
:func:`services.helm.remediation.failures_reset_reason`), a ``resetAt`` or a
``forceAt`` token moves it again.

Flux sources: internal/reconcile/atomic_release.go (Reconcile,
actionForState, cleanReleaseStrategy), reconcile.go (ReconcilerType),
install.go, upgrade.go, test.go, unlock.go, rollback_remediation.go,
uninstall_remediation.go, correct_cluster_drift.go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.helm.release_state import (
    Assessment,
    Recorded,
    Release,
    ReleaseState,
    keep_newest,
    previous,
    truncate,
)
from services.helm.remediation import (
    Attempts,
    DriftMode,
    ReleasePolicy,
    RemediationStrategy,
    active_remediation,
    active_retry,
)

__all__ = [
    "MISSING_ROLLBACK_TARGET",
    "RETRIES_EXCEEDED",
    "Action",
    "ActionKind",
    "LoopStep",
    "NextAction",
    "after_action",
    "after_error",
    "before_action",
    "next_action",
]

RETRIES_EXCEEDED = "RetriesExceeded"
"""Stalled reason: no retry left for the failed action."""
MISSING_ROLLBACK_TARGET = "MissingRollbackTarget"
"""Stalled reason: rollback remediation, and no deployed revision to roll back to."""


class ActionKind(StrEnum):
    """What an action does to the release (Flux's ``ReconcilerType``); one of each per reconcile."""

    RELEASE = "release"
    REMEDIATE = "remediate"
    TEST = "test"
    UNLOCK = "unlock"
    DRIFT_CORRECTION = "drift correction"


class Action(StrEnum):
    """The next thing to do with the release."""

    INSTALL = "install"
    UPGRADE = "upgrade"
    TEST = "test"
    ROLLBACK = "rollback"
    """Rollback remediation: back to the previous deployed revision."""
    UNINSTALL = "uninstall"
    """Uninstall remediation: the next reconcile installs again."""
    UNLOCK = "unlock"
    CORRECT_DRIFT = "correct-drift"
    NONE = "none"
    """Nothing to do: the release is as wanted (or drift is only reported)."""
    STALL = "stall"
    """Nothing may be done until the spec changes: ``Stalled=True``."""
    ERROR = "error"
    """The state could not be determined: ``Ready=False`` ``StateError``, retried with backoff."""

    @property
    def kind(self) -> ActionKind | None:
        """The kind of a Helm action; None for the outcomes that run nothing."""
        return _KINDS.get(self)


_KINDS = {
    Action.INSTALL: ActionKind.RELEASE,
    Action.UPGRADE: ActionKind.RELEASE,
    Action.TEST: ActionKind.TEST,
    Action.ROLLBACK: ActionKind.REMEDIATE,
    Action.UNINSTALL: ActionKind.REMEDIATE,
    Action.UNLOCK: ActionKind.UNLOCK,
    Action.CORRECT_DRIFT: ActionKind.DRIFT_CORRECTION,
}


@dataclass(frozen=True)
class NextAction:
    """The chosen action and why (for STALL, the ``Stalled`` condition's message)."""

    action: Action
    reason: str = ""
    stalled_reason: str = ""
    """``RetriesExceeded`` or ``MissingRollbackTarget`` when ``action`` is STALL."""
    rollback_to: Release | None = None
    """The verified revision a ROLLBACK goes back to."""
    history: tuple[Release, ...] | None = None
    """The ``status.history`` to record before acting, None to keep it: ``()`` when it no
    longer describes the release (Unmanaged), else cut down to the rollback target."""


def next_action(
    assessment: Assessment,
    *,
    stored: Sequence[Release],
    recorded: Recorded,
    policy: ReleasePolicy,
    force_requested: bool = False,
) -> NextAction:
    """The action for ``assessment``, ``stored`` being every revision in Helm's storage.

    ``force_requested``: a ``reconcile.fluxcd.io/forceAt`` token equal to
    ``requestedAt`` and not yet handled; it upgrades (or installs) whatever the
    counters say.
    """
    state, why = assessment.state, assessment.reason
    attempts = recorded.attempts
    if state == ReleaseState.IN_SYNC:
        history = _in_sync_history(recorded, policy)
        if force_requested:
            return NextAction(
                Action.UPGRADE, "forcing upgrade for in-sync release", history=history
            )
        return NextAction(Action.NONE, "release in-sync with desired state", history=history)
    if state == ReleaseState.LOCKED:
        return NextAction(Action.UNLOCK, f"release locked: {why}")
    if state == ReleaseState.ABSENT:
        if policy.install.remediation.retries_exhausted(attempts) and not force_requested:
            return _stall(policy, attempts)
        return NextAction(Action.INSTALL, f"release not installed: {why}")
    if state == ReleaseState.UNMANAGED:
        return NextAction(Action.UPGRADE, f"release not managed by object: {why}", history=())
    if state == ReleaseState.OUT_OF_SYNC:
        if policy.upgrade.remediation.retries_exhausted(attempts) and not force_requested:
            return _stall(policy, attempts)
        return NextAction(Action.UPGRADE, f"release out-of-sync with desired state: {why}")
    if state == ReleaseState.DRIFTED:
        if policy.drift == DriftMode.ENABLED:
            return NextAction(Action.CORRECT_DRIFT, "cluster state drifted from the release")
        return NextAction(Action.NONE, "cluster state drifted from the release (warn only)")
    if state == ReleaseState.UNTESTED:
        return NextAction(Action.TEST, "release has not been tested")
    if state == ReleaseState.FAILED:
        return _for_failed(stored, recorded=recorded, policy=policy, force=force_requested)
    return NextAction(Action.ERROR, why or f"unknown release state {state}")


def _in_sync_history(recorded: Recorded, policy: ReleasePolicy) -> tuple[Release, ...]:
    # Keep the revision before the current one: with tests enabled, a later
    # test failure must still find something to roll back to.
    if active_retry(policy, recorded.attempts) is not None:
        return keep_newest(recorded.history)
    ignore = policy.test.ignore_failures
    remediation = active_remediation(policy, recorded.attempts)
    if remediation is not None:
        ignore = remediation.must_ignore_test_failures(ignore)
    return truncate(recorded.history, ignore_test_failures=ignore)


def _for_failed(
    stored: Sequence[Release], *, recorded: Recorded, policy: ReleasePolicy, force: bool
) -> NextAction:
    attempts = recorded.attempts
    if active_retry(policy, attempts) is not None:
        return NextAction(
            Action.UPGRADE,
            "retrying upgrade for failed release",
            history=keep_newest(recorded.history),
        )
    remediation = active_remediation(policy, attempts)
    if remediation is None:
        return NextAction(Action.UPGRADE, "no active remediation strategy")
    # A zero counter on a failed release means it was reset: the generation,
    # chart or values changed since the failure, so try again.
    if remediation.failure_count(attempts) <= 0:
        return NextAction(Action.UPGRADE, "release conditions have changed since last failure")
    if force:
        return NextAction(Action.UPGRADE, "forcing upgrade for failed release")
    if remediation.retries_exhausted(attempts) and not remediation.must_remediate_last_failure:
        return _stall(policy, attempts)

    # Drop the snapshots older than the rollback target, so that a run of
    # failures does not grow the status without bound.
    ignore_tests = remediation.must_ignore_test_failures(policy.test.ignore_failures)
    history = truncate(recorded.history, ignore_test_failures=ignore_tests)
    if remediation.effective_strategy == RemediationStrategy.UNINSTALL:
        return NextAction(
            Action.UNINSTALL, "remediating failed release by uninstall", history=history
        )
    target = previous(history, ignore_test_failures=ignore_tests)
    if target is None:
        return NextAction(
            Action.STALL,
            "Failed to perform remediation: missing target release for rollback: "
            "cannot remediate failed release",
            stalled_reason=MISSING_ROLLBACK_TARGET,
            history=history,
        )
    in_storage = next((r for r in stored if r.version == target.version), None)
    # A target gone from storage (maxHistory) or altered there cannot be
    # trusted: the most correct remediation is to attempt the upgrade again.
    if in_storage is None:
        return NextAction(
            Action.UPGRADE, "rollback target disappeared from storage", history=history
        )
    if in_storage.digest != target.digest:
        return NextAction(Action.UPGRADE, "rollback target changed in storage", history=history)
    return NextAction(
        Action.ROLLBACK,
        f"rolling back to {target.full_name}",
        rollback_to=target,
        history=history,
    )


def _stall(policy: ReleasePolicy, attempts: Attempts) -> NextAction:
    """Stalled ``RetriesExceeded``: ``Failed to <action> after <n> attempt(s)``, as Flux says."""
    remediation = active_remediation(policy, attempts)
    count = remediation.failure_count(attempts) if remediation else 0
    return NextAction(
        Action.STALL,
        f"Failed to {attempts.action or 'release'} after {count} attempt(s)",
        stalled_reason=RETRIES_EXCEEDED,
    )


class LoopStep(StrEnum):
    """What the reconcile loop does next, around one action."""

    RUN = "run"
    """Run the action (before it) or observe again (after it)."""
    DONE = "done"
    """Stop; requeue at the interval."""
    REQUEUE = "requeue"
    """Stop and reconcile again at once (``Reconciling`` ``ProgressingWithRetry``)."""
    RETRY_AFTER_INTERVAL = "retry-after-interval"
    """RetryOnFailure: stop and try again after ``retryInterval``."""
    STALL = "stall"
    """Retries exhausted right after a remediation: ``Stalled`` ``RetriesExceeded``."""
    ERROR = "error"
    """The action failed without writing a release: retried with backoff."""


def before_action(
    action: Action, *, done: Sequence[Action], policy: ReleasePolicy, attempts: Attempts
) -> LoopStep:
    """Whether ``action`` may run in this reconcile, ``done`` being those already run.

    An action of a kind already run stops the loop, so one reconcile never
    upgrades twice (Flux's ``cleanReleaseStrategy.MustContinue``).
    """
    if action.kind is None:
        raise ValueError(f"{action} is an outcome, not a Helm action to run")
    if action.kind not in {a.kind for a in done}:
        return LoopStep.RUN
    if active_retry(policy, attempts) is not None:
        return LoopStep.RETRY_AFTER_INTERVAL
    remediation = active_remediation(policy, attempts)
    if remediation is None or not remediation.retries_exhausted(attempts):
        return LoopStep.REQUEUE
    return LoopStep.DONE


def after_action(action: Action, *, policy: ReleasePolicy, attempts: Attempts) -> LoopStep:
    """What follows ``action`` having run without error; ``attempts`` as it left them.

    A remediation ends the reconcile (Flux's ``MustStop``): with retries left,
    or after an uninstall of an upgrade (installed again next), it requeues;
    with none left it stalls at once.
    """
    if action.kind != ActionKind.REMEDIATE:
        return LoopStep.RUN
    if active_retry(policy, attempts) is not None:
        return LoopStep.RETRY_AFTER_INTERVAL
    remediation = active_remediation(policy, attempts)
    if (
        remediation is None
        or not remediation.retries_exhausted(attempts)
        or remediation.uninstalls_after_upgrade
    ):
        return LoopStep.REQUEUE
    return LoopStep.STALL


def after_error(*, policy: ReleasePolicy, attempts: Attempts) -> LoopStep:
    """What follows an action that failed before writing a release (nothing to remediate)."""
    if active_retry(policy, attempts) is not None:
        return LoopStep.RETRY_AFTER_INTERVAL
    return LoopStep.ERROR
