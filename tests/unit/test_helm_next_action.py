"""The next Helm action for a release state, and when the loop stops, as Flux's atomic release."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.helm.next_action import (
    MISSING_ROLLBACK_TARGET,
    RETRIES_EXCEEDED,
    Action,
    ActionKind,
    LoopStep,
    NextAction,
    after_action,
    after_error,
    before_action,
    next_action,
)
from services.helm.release_state import (
    Assessment,
    Desired,
    HelmStatus,
    HookPhase,
    Recorded,
    Release,
    ReleaseState,
    TestHook,
    determine_state,
)
from services.helm.remediation import (
    ActionPolicy,
    Attempts,
    DriftMode,
    ReleaseAction,
    ReleasePolicy,
    Remediation,
    RemediationStrategy,
    TestPolicy,
    failures_reset_reason,
)

DEPLOYED, FAILED, SUPERSEDED = HelmStatus.DEPLOYED, HelmStatus.FAILED, HelmStatus.SUPERSEDED
INSTALL, UPGRADE = ReleaseAction.INSTALL, ReleaseAction.UPGRADE


def rel(
    version: int,
    status: HelmStatus = DEPLOYED,
    *,
    chart_version: str = "6.5.0",
    config: str = "sha256:v1",
    hooks: dict[str, HookPhase] | None = None,
    digest: str = "",
) -> Release:
    """A revision; its digest follows its content, as the stored object's would."""
    return Release(
        name="podinfo",
        namespace="apps",
        version=version,
        status=status,
        chart_name="podinfo",
        chart_version=chart_version,
        config_digest=config,
        digest=digest or f"sha256:{version}-{status}-{chart_version}-{config}",
        test_hooks=None if hooks is None else tuple(TestHook(n, p) for n, p in hooks.items()),
    )


def policy(
    *,
    install_retries: int = 0,
    upgrade_retries: int = 0,
    strategy: RemediationStrategy | None = None,
    install_last: bool | None = None,
    upgrade_last: bool | None = None,
    retry_install: bool = False,
    retry_upgrade: bool = False,
    tests: bool = False,
    ignore_tests: bool = False,
    drift: DriftMode = DriftMode.DISABLED,
) -> ReleasePolicy:
    install = Remediation(INSTALL, retries=install_retries, remediate_last_failure=install_last)
    upgrade = Remediation(
        UPGRADE, retries=upgrade_retries, remediate_last_failure=upgrade_last, strategy=strategy
    )
    return ReleasePolicy(
        install=ActionPolicy(install, retry_on_failure=retry_install),
        upgrade=ActionPolicy(upgrade, retry_on_failure=retry_upgrade),
        test=TestPolicy(enable=tests, ignore_failures=ignore_tests),
        drift=drift,
    )


def tried(action: ReleaseAction | None, failures: int = 0) -> Attempts:
    """The attempts after ``failures`` failures of ``action`` at generation 2."""
    return Attempts(
        action,
        generation=2,
        revision="6.5.0",
        config_digest="sha256:v1",
        install_failures=failures if action == INSTALL else 0,
        upgrade_failures=failures if action == UPGRADE else 0,
    )


# A failed upgrade v2 over a deployed v1: what the rollback rows share.
FAILED_UPGRADE = (rel(2, FAILED), rel(1, SUPERSEDED))


def recorded(attempts: Attempts, *history: Release) -> Recorded:
    return Recorded(history=history or FAILED_UPGRADE, attempts=attempts, observed_generation=2)


ROWS: list[tuple[str, ReleaseState, Recorded, ReleasePolicy, bool, Action, str]] = [
    # InSync: nothing changed, nothing to do (a forceAt token upgrades)
    ("in sync", ReleaseState.IN_SYNC, recorded(tried(UPGRADE)), policy(), False, Action.NONE, ""),
    ("in sync, forced", ReleaseState.IN_SYNC, recorded(tried(UPGRADE)), policy(), True,
     Action.UPGRADE, ""),
    ("locked", ReleaseState.LOCKED, recorded(tried(UPGRADE)), policy(), False, Action.UNLOCK, ""),
    # Absent: install while install retries remain
    ("absent", ReleaseState.ABSENT, Recorded(), policy(), False, Action.INSTALL, ""),
    ("absent after 1 failed install, retries 1", ReleaseState.ABSENT,
     recorded(tried(INSTALL, 1)), policy(install_retries=1), False, Action.INSTALL, ""),
    ("absent after 1 failed install, retries 0", ReleaseState.ABSENT,
     recorded(tried(INSTALL, 1)), policy(), False, Action.STALL, RETRIES_EXCEEDED),
    ("absent, install retries exhausted, forced", ReleaseState.ABSENT,
     recorded(tried(INSTALL, 1)), policy(), True, Action.INSTALL, ""),
    ("absent, unlimited retries", ReleaseState.ABSENT, recorded(tried(INSTALL, 50)),
     policy(install_retries=-1), False, Action.INSTALL, ""),
    # Unmanaged: take it over with an upgrade
    ("unmanaged", ReleaseState.UNMANAGED, Recorded(), policy(), False, Action.UPGRADE, ""),
    # OutOfSync: chart or values changed
    ("out of sync", ReleaseState.OUT_OF_SYNC, recorded(tried(UPGRADE)), policy(), False,
     Action.UPGRADE, ""),
    ("out of sync, 1 failure, retries 1", ReleaseState.OUT_OF_SYNC, recorded(tried(UPGRADE, 1)),
     policy(upgrade_retries=1), False, Action.UPGRADE, ""),
    ("out of sync, upgrade retries exhausted", ReleaseState.OUT_OF_SYNC,
     recorded(tried(UPGRADE, 1)), policy(), False, Action.STALL, RETRIES_EXCEEDED),
    ("out of sync, upgrade retries exhausted, forced", ReleaseState.OUT_OF_SYNC,
     recorded(tried(UPGRADE, 1)), policy(), True, Action.UPGRADE, ""),
    ("out of sync, install failures do not count", ReleaseState.OUT_OF_SYNC,
     recorded(tried(INSTALL, 3)), policy(), False, Action.UPGRADE, ""),
    # Drifted
    ("drifted, mode enabled", ReleaseState.DRIFTED, recorded(tried(UPGRADE)),
     policy(drift=DriftMode.ENABLED), False, Action.CORRECT_DRIFT, ""),
    ("drifted, mode warn", ReleaseState.DRIFTED, recorded(tried(UPGRADE)),
     policy(drift=DriftMode.WARN), False, Action.NONE, ""),
    ("untested", ReleaseState.UNTESTED, recorded(tried(UPGRADE)), policy(tests=True), False,
     Action.TEST, ""),
    ("unknown", ReleaseState.UNKNOWN, recorded(tried(UPGRADE)), policy(), False, Action.ERROR, ""),
    # Failed: retry, upgrade, stall, or remediate
    ("failed, RetryOnFailure", ReleaseState.FAILED, recorded(tried(UPGRADE, 3)),
     policy(retry_upgrade=True), False, Action.UPGRADE, ""),
    ("failed install, RetryOnFailure: retried as an upgrade", ReleaseState.FAILED,
     recorded(tried(INSTALL, 3)), policy(retry_install=True), False, Action.UPGRADE, ""),
    ("failed, no release action attempted", ReleaseState.FAILED, recorded(tried(None)), policy(),
     False, Action.UPGRADE, ""),
    ("failed, counter reset since (spec changed)", ReleaseState.FAILED,
     recorded(tried(UPGRADE, 0)), policy(), False, Action.UPGRADE, ""),
    ("failed, forced", ReleaseState.FAILED, recorded(tried(UPGRADE, 1)), policy(), True,
     Action.UPGRADE, ""),
    ("failed upgrade, retries 0", ReleaseState.FAILED, recorded(tried(UPGRADE, 1)), policy(),
     False, Action.STALL, RETRIES_EXCEEDED),
    ("failed upgrade, retries 0, remediateLastFailure", ReleaseState.FAILED,
     recorded(tried(UPGRADE, 1)), policy(upgrade_last=True), False, Action.ROLLBACK, ""),
    ("failed upgrade, retries 1", ReleaseState.FAILED, recorded(tried(UPGRADE, 1)),
     policy(upgrade_retries=1), False, Action.ROLLBACK, ""),
    ("failed upgrade, retries 1 used: last failure remediated by default", ReleaseState.FAILED,
     recorded(tried(UPGRADE, 2)), policy(upgrade_retries=1), False, Action.ROLLBACK, ""),
    ("failed upgrade, retries 1 used, remediateLastFailure false", ReleaseState.FAILED,
     recorded(tried(UPGRADE, 2)), policy(upgrade_retries=1, upgrade_last=False), False,
     Action.STALL, RETRIES_EXCEEDED),
    ("failed upgrade, unlimited retries", ReleaseState.FAILED, recorded(tried(UPGRADE, 99)),
     policy(upgrade_retries=-1), False, Action.ROLLBACK, ""),
    ("failed upgrade, strategy uninstall", ReleaseState.FAILED, recorded(tried(UPGRADE, 1)),
     policy(upgrade_retries=1, strategy=RemediationStrategy.UNINSTALL), False, Action.UNINSTALL,
     ""),
    ("failed install, retries 1: uninstalled", ReleaseState.FAILED,
     recorded(tried(INSTALL, 1), rel(1, FAILED)), policy(install_retries=1), False,
     Action.UNINSTALL, ""),
    ("failed install, retries 1 used", ReleaseState.FAILED,
     recorded(tried(INSTALL, 2), rel(1, FAILED)), policy(install_retries=1), False,
     Action.STALL, RETRIES_EXCEEDED),
    ("failed install, retries 1 used, remediateLastFailure", ReleaseState.FAILED,
     recorded(tried(INSTALL, 2), rel(1, FAILED)), policy(install_retries=1, install_last=True),
     False, Action.UNINSTALL, ""),
    ("failed install, upgrade strategy rollback does not apply", ReleaseState.FAILED,
     recorded(tried(INSTALL, 1), rel(1, FAILED)),
     policy(install_retries=1, strategy=RemediationStrategy.ROLLBACK), False, Action.UNINSTALL,
     ""),
    ("failed upgrade, no deployed revision to roll back to", ReleaseState.FAILED,
     recorded(tried(UPGRADE, 1), rel(2, FAILED), rel(1, FAILED)), policy(upgrade_retries=1),
     False, Action.STALL, MISSING_ROLLBACK_TARGET),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "status", "spec", "force", "action", "stalled"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_the_next_action_is_flux_s_for_the_state(
    state: ReleaseState,
    status: Recorded,
    spec: ReleasePolicy,
    force: bool,
    action: Action,
    stalled: str,
) -> None:
    stored = status.history or (rel(1),)
    got = next_action(
        Assessment(state), stored=stored, recorded=status, policy=spec, force_requested=force
    )
    assert (got.action, got.stalled_reason) == (action, stalled)


def test_an_unmanaged_release_drops_the_history_it_no_longer_matches() -> None:
    got = next_action(
        Assessment(ReleaseState.UNMANAGED), stored=(rel(1),), recorded=Recorded(), policy=policy()
    )
    assert got.history == ()


def test_a_rollback_goes_to_the_previous_deployed_revision_as_stored() -> None:
    got = next_action(
        Assessment(ReleaseState.FAILED),
        stored=(rel(1, SUPERSEDED), rel(2, FAILED)),
        recorded=recorded(tried(UPGRADE, 1)),
        policy=policy(upgrade_retries=1),
    )
    assert got == NextAction(
        Action.ROLLBACK,
        "rolling back to apps/podinfo.v1",
        rollback_to=rel(1, SUPERSEDED),
        history=FAILED_UPGRADE,
    )
    assert got.action.kind == ActionKind.REMEDIATE


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ((rel(2, FAILED),), "rollback target disappeared from storage"),  # maxHistory pruned it
        (
            (rel(1, SUPERSEDED, digest="sha256:edited"), rel(2, FAILED)),
            "rollback target changed in storage",
        ),
    ],
)
def test_a_rollback_target_gone_or_altered_in_storage_means_upgrade_again(
    stored: tuple[Release, ...], reason: str
) -> None:
    got = next_action(
        Assessment(ReleaseState.FAILED),
        stored=stored,
        recorded=recorded(tried(UPGRADE, 1)),
        policy=policy(upgrade_retries=1),
    )
    assert (got.action, got.reason) == (Action.UPGRADE, reason)


def test_the_rollback_target_skips_a_revision_whose_tests_failed_unless_ignored() -> None:
    history = (
        rel(3, FAILED),
        rel(2, SUPERSEDED, hooks={"t": HookPhase.FAILED}),
        rel(1, SUPERSEDED),
    )
    stored = tuple(replace(r, test_hooks=None) for r in history)
    for ignore, target in ((False, 1), (True, 2)):
        got = next_action(
            Assessment(ReleaseState.FAILED),
            stored=stored,
            recorded=recorded(tried(UPGRADE, 1), *history),
            policy=policy(upgrade_retries=1, tests=True, ignore_tests=ignore),
        )
        assert got.rollback_to is not None and got.rollback_to.version == target


def test_a_stall_says_which_action_failed_how_often() -> None:
    got = next_action(
        Assessment(ReleaseState.OUT_OF_SYNC),
        stored=(rel(3),),
        recorded=recorded(tried(UPGRADE, 2)),
        policy=policy(upgrade_retries=1),
    )
    assert got == NextAction(
        Action.STALL,
        "Failed to upgrade after 2 attempt(s)",
        stalled_reason=RETRIES_EXCEEDED,
    )


# --- The loop: one action of each kind per reconcile, stop after a remediation.


@pytest.mark.parametrize(
    ("action", "done", "spec", "attempts", "step"),
    [
        (Action.INSTALL, (), policy(), tried(None), LoopStep.RUN),
        (Action.UPGRADE, (Action.UNLOCK,), policy(), tried(UPGRADE), LoopStep.RUN),
        (Action.TEST, (Action.UPGRADE,), policy(), tried(UPGRADE), LoopStep.RUN),
        (Action.ROLLBACK, (Action.UPGRADE, Action.TEST), policy(), tried(UPGRADE, 1), LoopStep.RUN),
        # A second release action (install then upgrade) waits for the next reconcile.
        (
            Action.UPGRADE,
            (Action.INSTALL,),
            policy(install_retries=1),
            tried(INSTALL, 1),
            LoopStep.REQUEUE,
        ),
        (
            Action.UPGRADE,
            (Action.INSTALL,),
            policy(retry_install=True),
            tried(INSTALL, 1),
            LoopStep.RETRY_AFTER_INTERVAL,
        ),
        (Action.UPGRADE, (Action.UPGRADE,), policy(), tried(UPGRADE, 1), LoopStep.DONE),
        (Action.UNLOCK, (Action.UNLOCK,), policy(), tried(None), LoopStep.REQUEUE),
    ],
)
def test_the_loop_runs_one_action_of_each_kind(
    action: Action,
    done: tuple[Action, ...],
    spec: ReleasePolicy,
    attempts: Attempts,
    step: LoopStep,
) -> None:
    assert before_action(action, done=done, policy=spec, attempts=attempts) == step


@pytest.mark.parametrize(
    ("action", "spec", "attempts", "step"),
    [
        (Action.UPGRADE, policy(), tried(UPGRADE, 1), LoopStep.RUN),
        (Action.UNLOCK, policy(), tried(UPGRADE), LoopStep.RUN),
        (Action.TEST, policy(), tried(UPGRADE, 1), LoopStep.RUN),
        (Action.ROLLBACK, policy(upgrade_retries=1), tried(UPGRADE, 1), LoopStep.REQUEUE),
        (Action.ROLLBACK, policy(upgrade_retries=1), tried(UPGRADE, 2), LoopStep.STALL),
        (Action.UNINSTALL, policy(install_retries=1), tried(INSTALL, 1), LoopStep.REQUEUE),
        (
            Action.UNINSTALL,
            policy(install_retries=1, install_last=True),
            tried(INSTALL, 2),
            LoopStep.STALL,
        ),
        # An uninstalled upgrade is installed again next: never an early stall.
        (
            Action.UNINSTALL,
            policy(upgrade_retries=1, strategy=RemediationStrategy.UNINSTALL),
            tried(UPGRADE, 2),
            LoopStep.REQUEUE,
        ),
        (
            Action.ROLLBACK,
            policy(retry_upgrade=True),
            tried(UPGRADE, 2),
            LoopStep.RETRY_AFTER_INTERVAL,
        ),
    ],
)
def test_a_remediation_ends_the_reconcile(
    action: Action, spec: ReleasePolicy, attempts: Attempts, step: LoopStep
) -> None:
    assert after_action(action, policy=spec, attempts=attempts) == step


def test_only_helm_actions_go_through_the_loop() -> None:
    with pytest.raises(ValueError, match="stall is an outcome"):
        before_action(Action.STALL, done=(), policy=policy(), attempts=tried(None))


def test_an_action_that_wrote_no_release_is_retried_with_backoff_or_after_the_retry_interval() -> (
    None
):
    assert after_error(policy=policy(), attempts=tried(UPGRADE)) == LoopStep.ERROR
    spec = policy(retry_upgrade=True)
    assert after_error(policy=spec, attempts=tried(UPGRADE)) == LoopStep.RETRY_AFTER_INTERVAL


# --- Whole stories, one observation at a time.

WANTED = Desired("podinfo", "6.5.0", "sha256:v1", generation=2)


def decide(
    stored: tuple[Release, ...], status: Recorded, spec: ReleasePolicy, desired: Desired = WANTED
) -> NextAction:
    state = determine_state(stored, desired=desired, recorded=status, policy=spec)
    return next_action(state, stored=stored, recorded=status, policy=spec)


def test_a_release_left_pending_upgrade_by_a_killed_worker_is_unlocked_then_upgraded() -> None:
    spec = policy(upgrade_retries=1)
    # The worker died during the upgrade to 6.5.0, before it wrote any status.
    v1 = rel(1, chart_version="6.4.0")
    status = Recorded(history=(v1,), attempts=tried(UPGRADE), observed_generation=1)
    stored = (replace(v1, status=SUPERSEDED), rel(2, HelmStatus.PENDING_UPGRADE))
    first = decide(stored, status, spec)
    assert first.action == Action.UNLOCK
    assert (
        before_action(first.action, done=(), policy=spec, attempts=status.attempts) == LoopStep.RUN
    )
    assert after_action(first.action, policy=spec, attempts=status.attempts) == LoopStep.RUN

    # Unlocked: v2 is failed now; it is not in our history, so it is taken over.
    stored = (replace(v1, status=SUPERSEDED), rel(2, FAILED))
    second = decide(stored, status, spec)
    assert (second.action, second.history) == (Action.UPGRADE, ())
    done = (first.action,)
    assert (
        before_action(second.action, done=done, policy=spec, attempts=status.attempts)
        == LoopStep.RUN
    )


def test_a_pending_release_whose_snapshot_was_recorded_is_unlocked_then_upgraded() -> None:
    spec = policy(upgrade_retries=1)
    # The status write of the pending-upgrade snapshot happened; the failure count did not.
    status = Recorded(history=(rel(2, FAILED), rel(1, SUPERSEDED)), attempts=tried(UPGRADE))
    locked = decide(
        (rel(1, SUPERSEDED), rel(2, HelmStatus.PENDING_UPGRADE)),
        replace(status, history=(rel(2, HelmStatus.PENDING_UPGRADE), rel(1, SUPERSEDED))),
        spec,
    )
    assert locked.action == Action.UNLOCK
    # The unlock's observation rewrote the snapshot: Failed, counter at zero: try again.
    after = decide((rel(1, SUPERSEDED), rel(2, FAILED)), status, spec)
    assert (after.action, after.reason) == (
        Action.UPGRADE,
        "release conditions have changed since last failure",
    )


def old(version: int, status: HelmStatus = DEPLOYED) -> Release:
    """A revision of the chart version before 6.5.0."""
    return rel(version, status, chart_version="6.4.0")


def test_a_failed_upgrade_is_rolled_back_retried_and_stalls_until_the_spec_changes() -> None:
    spec = policy(upgrade_retries=1)
    v1 = old(1)
    status = Recorded(history=(v1,), attempts=tried(None), observed_generation=1)

    # A new chart version: upgrade.
    assert decide((v1,), status, spec).action == Action.UPGRADE

    # The upgrade fails (its Deployment never gets ready): v2 failed, one failure.
    v2 = rel(2, FAILED)
    stored = (replace(v1, status=SUPERSEDED), v2)
    status = Recorded(history=(v2, stored[0]), attempts=tried(UPGRADE, 1), observed_generation=1)
    remedy = decide(stored, status, spec)
    assert remedy.action == Action.ROLLBACK and remedy.rollback_to == stored[0]
    assert after_action(remedy.action, policy=spec, attempts=status.attempts) == LoopStep.REQUEUE

    # Rolled back: v3 is 6.4.0 again (Remediated); still out of sync, one retry left.
    v3 = old(3)
    stored = (old(1, SUPERSEDED), rel(2, SUPERSEDED), v3)
    status = replace(status, history=(v3, *stored[:2]))
    assert decide(stored, status, spec).action == Action.UPGRADE

    # The retry fails too: the last failure is rolled back, then the loop stalls.
    v4 = rel(4, FAILED)
    stored = (*stored[:2], replace(v3, status=SUPERSEDED), v4)
    status = replace(status, history=(v4, stored[2]), attempts=tried(UPGRADE, 2))
    last = decide(stored, status, spec)
    assert last.action == Action.ROLLBACK and last.rollback_to == stored[2]
    assert after_action(last.action, policy=spec, attempts=status.attempts) == LoopStep.STALL

    # Every later reconcile at this generation stalls: no upgrade, whatever the interval.
    v5 = old(5)
    stored = (*stored[:3], v5)
    status = replace(status, history=(v5, stored[2]))
    stalled = decide(stored, status, spec)
    assert (stalled.action, stalled.stalled_reason) == (Action.STALL, RETRIES_EXCEEDED)
    same = failures_reset_reason(
        status.attempts, generation=2, revision="6.5.0", config_digest="sha256:v1"
    )
    assert same is None

    # A new generation resets the counters: upgrade again.
    reason = failures_reset_reason(
        status.attempts, generation=3, revision="6.5.0", config_digest="sha256:v2"
    )
    assert reason == "generation differs from last attempt"
    status = replace(status, attempts=Attempts(UPGRADE, generation=3, revision="6.5.0"))
    wanted = replace(WANTED, generation=3, config_digest="sha256:v2")
    assert decide(stored, status, spec, wanted).action == Action.UPGRADE


@pytest.mark.parametrize(
    ("spec", "failures", "action"),
    [
        # Not ignored: the test action counted the failure; retries 0 -> stalled.
        (policy(tests=True), 1, Action.STALL),
        # Not ignored, a retry left: rolled back.
        (policy(tests=True, upgrade_retries=1), 1, Action.ROLLBACK),
        # Ignored: the test action counted nothing and the release stays.
        (policy(tests=True, ignore_tests=True), 0, Action.NONE),
        (ReleasePolicy(upgrade=ActionPolicy(Remediation(UPGRADE, ignore_test_failures=True)),
                       test=TestPolicy(enable=True)), 0, Action.NONE),
    ],
)  # fmt: skip
def test_a_failed_test_hook_is_remediated_unless_test_failures_are_ignored(
    spec: ReleasePolicy, failures: int, action: Action
) -> None:
    v2 = rel(2, hooks={"smoke": HookPhase.FAILED})
    stored = (rel(1, SUPERSEDED), replace(v2, test_hooks=None))
    status = Recorded(
        history=(v2, rel(1, SUPERSEDED)), attempts=tried(UPGRADE, failures), observed_generation=2
    )
    assert decide(stored, status, spec).action == action


def test_an_upgraded_release_with_tests_is_tested_then_done() -> None:
    spec = policy(tests=True)
    status = Recorded(history=(rel(2),), attempts=tried(UPGRADE), observed_generation=2)
    assert decide((rel(2),), status, spec).action == Action.TEST
    status = replace(status, history=(rel(2, hooks={"smoke": HookPhase.SUCCEEDED}),))
    assert decide((rel(2),), status, spec).action == Action.NONE


@pytest.mark.parametrize(
    ("stored", "action"),
    [
        ((rel(1, chart_version="6.4.0"),), Action.UPGRADE),  # new chart version
        ((rel(1, config="sha256:v0"),), Action.UPGRADE),  # new values
        ((rel(1),), Action.NONE),  # nothing changed
    ],
)
def test_a_chart_or_values_change_upgrades_and_nothing_else_does(
    stored: tuple[Release, ...], action: Action
) -> None:
    status = Recorded(history=stored, attempts=tried(UPGRADE), observed_generation=2)
    assert decide(stored, status, policy()).action == action


def test_history_is_cut_down_to_the_rollback_target_when_remediating_or_in_sync() -> None:
    history = (rel(5, FAILED), rel(4, FAILED), rel(3, SUPERSEDED), rel(2, SUPERSEDED))
    failing = recorded(tried(UPGRADE, 2), *history)
    remedy = next_action(
        Assessment(ReleaseState.FAILED),
        stored=history,
        recorded=failing,
        policy=policy(upgrade_retries=3),
    )
    assert remedy.history == history[:3]
    in_sync = (rel(6), *history)
    done = next_action(
        Assessment(ReleaseState.IN_SYNC),
        stored=in_sync,
        recorded=recorded(tried(UPGRADE), *in_sync),
        policy=policy(),
    )
    assert done.history == (rel(6), rel(5, FAILED), rel(4, FAILED), rel(3, SUPERSEDED))


def test_with_retry_on_failure_history_keeps_the_five_newest() -> None:
    history = tuple(rel(v, FAILED) for v in range(1, 9))
    got = next_action(
        Assessment(ReleaseState.FAILED),
        stored=history,
        recorded=recorded(tried(UPGRADE, 8), *history),
        policy=policy(retry_upgrade=True),
    )
    assert [r.version for r in got.history or ()] == [8, 7, 6, 5, 4]
