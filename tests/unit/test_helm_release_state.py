"""A HelmRelease's release state, from Helm's storage, as Flux's DetermineReleaseState sees it."""

from __future__ import annotations

import pytest

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
    keep_newest,
    latest,
    previous,
    truncate,
)
from services.helm.remediation import (
    ActionPolicy,
    Attempts,
    DriftMode,
    ReleaseAction,
    ReleasePolicy,
    Remediation,
    TestPolicy,
)

DEPLOYED, FAILED, SUPERSEDED = HelmStatus.DEPLOYED, HelmStatus.FAILED, HelmStatus.SUPERSEDED
OK, BAD, RUNNING = HookPhase.SUCCEEDED, HookPhase.FAILED, HookPhase.RUNNING


def rel(
    version: int,
    status: HelmStatus = DEPLOYED,
    *,
    chart: str = "podinfo",
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
        chart_name=chart,
        chart_version=chart_version,
        config_digest=config,
        digest=digest or f"sha256:{version}-{status}-{chart}-{chart_version}-{config}",
        test_hooks=None if hooks is None else tuple(TestHook(n, p) for n, p in hooks.items()),
    )


WANTED = Desired("podinfo", "6.5.0", "sha256:v1", generation=2)
UPGRADED = Attempts(
    ReleaseAction.UPGRADE, generation=2, revision="6.5.0", config_digest="sha256:v1"
)
INSTALLED = Attempts(
    ReleaseAction.INSTALL, generation=2, revision="6.5.0", config_digest="sha256:v1"
)
TESTS = ReleasePolicy(test=TestPolicy(enable=True))


def made(*history: Release, attempts: Attempts = UPGRADED, generation: int = 2) -> Recorded:
    """The status of a HelmRelease that made ``history``, last reconciled at ``generation``."""
    return Recorded(history=history, attempts=attempts, observed_generation=generation)


def upgrade_policy(*, ignore_test_failures: bool) -> ReleasePolicy:
    remediation = Remediation(ReleaseAction.UPGRADE, ignore_test_failures=ignore_test_failures)
    return ReleasePolicy(upgrade=ActionPolicy(remediation), test=TestPolicy(enable=True))


ROWS = [
    # Absent
    ("empty storage", (), Recorded(), ReleasePolicy(), ReleaseState.ABSENT),
    (
        "uninstalled, never ours",
        (rel(1, HelmStatus.UNINSTALLED),),
        Recorded(),
        ReleasePolicy(),
        ReleaseState.ABSENT,
    ),
    (
        "uninstalled by remediation with keepHistory",
        (rel(2, HelmStatus.UNINSTALLED),),
        made(rel(2, HelmStatus.UNINSTALLED)),
        ReleasePolicy(),
        ReleaseState.ABSENT,
    ),
    # Locked: a worker killed mid-action leaves pending-*, whatever the history says
    (
        "pending-install, nothing recorded",
        (rel(1, HelmStatus.PENDING_INSTALL),),
        Recorded(),
        ReleasePolicy(),
        ReleaseState.LOCKED,
    ),
    (
        "pending-upgrade over our deployed v1",
        (rel(1, SUPERSEDED), rel(2, HelmStatus.PENDING_UPGRADE)),
        made(rel(1)),
        ReleasePolicy(),
        ReleaseState.LOCKED,
    ),
    (
        "pending-rollback",
        (rel(3, HelmStatus.PENDING_ROLLBACK), rel(2, FAILED)),
        made(rel(2, FAILED)),
        ReleasePolicy(),
        ReleaseState.LOCKED,
    ),
    # Unmanaged
    ("deployed, never ours", (rel(1),), Recorded(), ReleasePolicy(), ReleaseState.UNMANAGED),
    (
        "a newer revision made by hand",
        (rel(1, SUPERSEDED), rel(2)),
        made(rel(1)),
        ReleasePolicy(),
        ReleaseState.UNMANAGED,
    ),
    (
        "our revision altered in storage",
        (rel(1, digest="sha256:edited"),),
        made(rel(1)),
        ReleasePolicy(),
        ReleaseState.UNMANAGED,
    ),
    # Failed / Unknown
    (
        "our failed upgrade",
        (rel(1, SUPERSEDED), rel(2, FAILED)),
        made(rel(2, FAILED), rel(1)),
        ReleasePolicy(),
        ReleaseState.FAILED,
    ),
    (
        "uninstalling",
        (rel(1, HelmStatus.UNINSTALLING),),
        made(rel(1, HelmStatus.UNINSTALLING)),
        ReleasePolicy(),
        ReleaseState.UNKNOWN,
    ),
    (
        "superseded as the newest",
        (rel(1, SUPERSEDED),),
        made(rel(1, SUPERSEDED)),
        ReleasePolicy(),
        ReleaseState.UNKNOWN,
    ),
    # OutOfSync: chart, values, post-renderers, common metadata
    (
        "new chart version",
        (rel(1, chart_version="6.4.0"),),
        made(rel(1, chart_version="6.4.0")),
        ReleasePolicy(),
        ReleaseState.OUT_OF_SYNC,
    ),
    (
        "new chart name",
        (rel(1, chart="podinfo-old"),),
        made(rel(1, chart="podinfo-old")),
        ReleasePolicy(),
        ReleaseState.OUT_OF_SYNC,
    ),
    (
        "new values",
        (rel(1, config="sha256:v0"),),
        made(rel(1, config="sha256:v0")),
        ReleasePolicy(),
        ReleaseState.OUT_OF_SYNC,
    ),
    # In sync
    ("nothing changed", (rel(1),), made(rel(1)), ReleasePolicy(), ReleaseState.IN_SYNC),
    (
        "newest of several revisions, listed in any order",
        (rel(3), rel(1, SUPERSEDED), rel(2, SUPERSEDED)),
        made(rel(2, SUPERSEDED), rel(3)),
        ReleasePolicy(),
        ReleaseState.IN_SYNC,
    ),
    # Tests
    ("tests enabled, not run", (rel(1),), made(rel(1)), TESTS, ReleaseState.UNTESTED),
    (
        "tests enabled, a hook still running",
        (rel(1),),
        made(rel(1, hooks={"a": OK, "b": RUNNING})),
        TESTS,
        ReleaseState.UNTESTED,
    ),
    (
        "tests passed",
        (rel(1),),
        made(rel(1, hooks={"a": OK, "b": OK})),
        TESTS,
        ReleaseState.IN_SYNC,
    ),
    ("chart without tests", (rel(1),), made(rel(1, hooks={})), TESTS, ReleaseState.IN_SYNC),
    (
        "test failed after upgrade",
        (rel(1),),
        made(rel(1, hooks={"a": OK, "b": BAD})),
        TESTS,
        ReleaseState.FAILED,
    ),
    (
        "test failed after install",
        (rel(1),),
        made(rel(1, hooks={"a": BAD}), attempts=INSTALLED),
        TESTS,
        ReleaseState.FAILED,
    ),
    (
        "test failed, test.ignoreFailures",
        (rel(1),),
        made(rel(1, hooks={"a": BAD})),
        ReleasePolicy(test=TestPolicy(enable=True, ignore_failures=True)),
        ReleaseState.IN_SYNC,
    ),
    (
        "test failed, upgrade.remediation.ignoreTestFailures",
        (rel(1),),
        made(rel(1, hooks={"a": BAD})),
        upgrade_policy(ignore_test_failures=True),
        ReleaseState.IN_SYNC,
    ),
    (
        "test failed, remediation overrides test.ignoreFailures with false",
        (rel(1),),
        made(rel(1, hooks={"a": BAD})),
        ReleasePolicy(
            upgrade=ActionPolicy(Remediation(ReleaseAction.UPGRADE, ignore_test_failures=False)),
            test=TestPolicy(enable=True, ignore_failures=True),
        ),
        ReleaseState.FAILED,
    ),
    (
        "test failed, no release action attempted yet (no active remediation)",
        (rel(1),),
        made(rel(1, hooks={"a": BAD}), attempts=Attempts()),
        TESTS,
        ReleaseState.IN_SYNC,
    ),
    (
        "test failed, tests since disabled",
        (rel(1),),
        made(rel(1, hooks={"a": BAD})),
        ReleasePolicy(),
        ReleaseState.IN_SYNC,
    ),
]


@pytest.mark.parametrize(
    ("stored", "recorded", "policy", "state"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_the_newest_revision_in_storage_is_classified_as_flux_does(
    stored: tuple[Release, ...], recorded: Recorded, policy: ReleasePolicy, state: ReleaseState
) -> None:
    assert determine_state(stored, desired=WANTED, recorded=recorded, policy=policy).state == state


@pytest.mark.parametrize(
    ("stored", "recorded", "assessment"),
    [
        ((), Recorded(), Assessment(ReleaseState.ABSENT, "no release in storage for object")),
        (
            (rel(2, HelmStatus.PENDING_UPGRADE),),
            made(rel(1)),
            Assessment(ReleaseState.LOCKED, "release with status 'pending-upgrade'"),
        ),
        (
            (rel(1),),
            Recorded(),
            Assessment(ReleaseState.UNMANAGED, "found existing release in storage"),
        ),
        (
            (rel(1, chart_version="6.4.0"),),
            made(rel(1, chart_version="6.4.0")),
            Assessment(ReleaseState.OUT_OF_SYNC, "release chart changed"),
        ),
        (
            (rel(1, config="sha256:v0"),),
            made(rel(1, config="sha256:v0")),
            Assessment(ReleaseState.OUT_OF_SYNC, "release config values changed"),
        ),
    ],
)
def test_the_state_says_why(
    stored: tuple[Release, ...], recorded: Recorded, assessment: Assessment
) -> None:
    got = determine_state(stored, desired=WANTED, recorded=recorded, policy=ReleasePolicy())
    assert got == assessment


@pytest.mark.parametrize(
    ("observed_generation", "renderers", "metadata", "state", "reason"),
    [
        (1, "sha256:pr2", "", ReleaseState.OUT_OF_SYNC, "postrenderers digest has changed"),
        (1, "", "sha256:cm2", ReleaseState.OUT_OF_SYNC, "common metadata digest has changed"),
        (1, "sha256:pr1", "sha256:cm1", ReleaseState.IN_SYNC, ""),
        # Same generation: the digests are only compared on a new one, so a
        # spec the reconcile already handled never loops.
        (2, "sha256:pr2", "sha256:cm2", ReleaseState.IN_SYNC, ""),
    ],
)
def test_post_renderers_and_common_metadata_count_on_a_new_generation(
    observed_generation: int, renderers: str, metadata: str, state: ReleaseState, reason: str
) -> None:
    wanted = Desired(
        "podinfo",
        "6.5.0",
        "sha256:v1",
        generation=2,
        post_renderers_digest=renderers or "sha256:pr1",
        common_metadata_digest=metadata or "sha256:cm1",
    )
    recorded = Recorded(
        history=(rel(1),),
        attempts=UPGRADED,
        observed_generation=observed_generation,
        observed_post_renderers_digest="sha256:pr1",
        observed_common_metadata_digest="sha256:cm1",
    )
    got = determine_state((rel(1),), desired=wanted, recorded=recorded, policy=ReleasePolicy())
    assert got == Assessment(state, reason)


@pytest.mark.parametrize(
    ("mode", "drifted", "state"),
    [
        (DriftMode.ENABLED, True, ReleaseState.DRIFTED),
        (DriftMode.WARN, True, ReleaseState.DRIFTED),
        (DriftMode.DISABLED, True, ReleaseState.IN_SYNC),
        (DriftMode.ENABLED, False, ReleaseState.IN_SYNC),
    ],
)
def test_drift_counts_only_when_detection_is_on(
    mode: DriftMode, drifted: bool, state: ReleaseState
) -> None:
    got = determine_state(
        (rel(1),),
        desired=WANTED,
        recorded=made(rel(1)),
        policy=ReleasePolicy(drift=mode),
        drifted=drifted,
    )
    assert got.state == state


def test_an_out_of_sync_release_is_upgraded_before_drift_or_tests_are_looked_at() -> None:
    got = determine_state(
        (rel(1, chart_version="6.4.0"),),
        desired=WANTED,
        recorded=made(rel(1, chart_version="6.4.0")),
        policy=ReleasePolicy(test=TestPolicy(enable=True), drift=DriftMode.ENABLED),
        drifted=True,
    )
    assert got.state == ReleaseState.OUT_OF_SYNC


@pytest.mark.parametrize(
    ("hooks", "tested", "failed"),
    [
        (None, False, False),
        ({}, True, False),
        ({"a": OK}, True, False),
        ({"a": OK, "b": RUNNING}, False, False),
        ({"a": BAD, "b": RUNNING}, True, True),  # Helm stops at the first failure
        ({"a": HookPhase.UNKNOWN}, False, False),
    ],
)
def test_a_test_run_is_over_when_all_hooks_passed_or_one_failed(
    hooks: dict[str, HookPhase] | None, tested: bool, failed: bool
) -> None:
    release = rel(1, hooks=hooks)
    assert (release.has_been_tested, release.has_failed_test) == (tested, failed)


def test_latest_is_the_highest_version() -> None:
    assert latest([rel(2), rel(5), rel(3)]) == rel(5)
    assert latest([]) is None


@pytest.mark.parametrize(
    ("history", "ignore", "target"),
    [
        ((rel(3, FAILED), rel(2, SUPERSEDED), rel(1, SUPERSEDED)), False, 2),
        ((rel(4, FAILED), rel(3, FAILED), rel(2, SUPERSEDED)), False, 2),
        ((rel(3, FAILED), rel(2, SUPERSEDED, hooks={"t": BAD}), rel(1, SUPERSEDED)), False, 1),
        ((rel(3, FAILED), rel(2, SUPERSEDED, hooks={"t": BAD}), rel(1, SUPERSEDED)), True, 2),
        ((rel(2, FAILED), rel(1, FAILED)), False, None),
        ((rel(1, FAILED),), False, None),
        ((rel(1), rel(3, FAILED), rel(2, HelmStatus.UNINSTALLED)), False, 1),
    ],
)
def test_the_rollback_target_is_the_newest_earlier_deployed_revision(
    history: tuple[Release, ...], ignore: bool, target: int | None
) -> None:
    found = previous(history, ignore_test_failures=ignore)
    assert (found.version if found else None) == target


@pytest.mark.parametrize(
    ("history", "ignore", "kept"),
    [
        ((), False, []),
        ((rel(1),), False, [1]),
        ((rel(1, SUPERSEDED), rel(3, FAILED), rel(2, FAILED)), False, [3, 2, 1]),
        ((rel(4), rel(3, SUPERSEDED), rel(2, SUPERSEDED), rel(1, SUPERSEDED)), False, [4, 3]),
        (
            (rel(3, FAILED), rel(2, SUPERSEDED, hooks={"t": BAD}), rel(1, SUPERSEDED)),
            False,
            [3, 2, 1],
        ),
        ((rel(3, FAILED), rel(2, SUPERSEDED, hooks={"t": BAD}), rel(1, SUPERSEDED)), True, [3, 2]),
        (tuple(rel(v, FAILED) for v in range(1, 8)), False, [7, 6, 5, 4, 3]),
    ],
)
def test_history_is_kept_down_to_the_rollback_target_or_five_revisions(
    history: tuple[Release, ...], ignore: bool, kept: list[int]
) -> None:
    assert [r.version for r in truncate(history, ignore_test_failures=ignore)] == kept


def test_keep_newest_keeps_five_newest_first() -> None:
    history = tuple(rel(v) for v in (3, 9, 1, 7, 5, 2, 8))
    assert [r.version for r in keep_newest(history)] == [9, 8, 7, 5, 3]
