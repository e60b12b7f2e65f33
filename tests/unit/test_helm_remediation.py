"""Remediation defaults, the active block and failure-counter resets, as Flux reads them."""

from __future__ import annotations

import pytest

from services.helm.remediation import (
    ActionPolicy,
    Attempts,
    DriftMode,
    ReleaseAction,
    ReleasePolicy,
    Remediation,
    RemediationStrategy,
    active_remediation,
    active_retry,
    failures_reset_reason,
)

INSTALL, UPGRADE = ReleaseAction.INSTALL, ReleaseAction.UPGRADE
ROLLBACK, UNINSTALL = RemediationStrategy.ROLLBACK, RemediationStrategy.UNINSTALL


@pytest.mark.parametrize(
    ("remediation", "last", "strategy"),
    [
        (Remediation(INSTALL), False, UNINSTALL),
        (Remediation(INSTALL, retries=3), False, UNINSTALL),
        (Remediation(INSTALL, remediate_last_failure=True), True, UNINSTALL),
        (Remediation(INSTALL, strategy=ROLLBACK), False, UNINSTALL),  # install always uninstalls
        (Remediation(UPGRADE), False, ROLLBACK),
        (Remediation(UPGRADE, retries=1), True, ROLLBACK),
        (Remediation(UPGRADE, retries=-1), False, ROLLBACK),
        (Remediation(UPGRADE, retries=1, remediate_last_failure=False), False, ROLLBACK),
        (Remediation(UPGRADE, strategy=UNINSTALL), False, UNINSTALL),
    ],
)
def test_remediation_defaults_differ_for_install_and_upgrade(
    remediation: Remediation, last: bool, strategy: RemediationStrategy
) -> None:
    assert remediation.must_remediate_last_failure == last
    assert remediation.effective_strategy == strategy


@pytest.mark.parametrize(
    ("retries", "failures", "exhausted"),
    [(0, 0, False), (0, 1, True), (2, 2, False), (2, 3, True), (-1, 1000, False)],
)
def test_retries_are_exhausted_once_the_counter_goes_past_them(
    retries: int, failures: int, exhausted: bool
) -> None:
    upgrade = Remediation(UPGRADE, retries=retries)
    assert upgrade.retries_exhausted(Attempts(upgrade_failures=failures)) == exhausted
    # Each action reads its own counter.
    assert not upgrade.retries_exhausted(Attempts(install_failures=failures))


@pytest.mark.parametrize(
    ("own", "default", "ignored"),
    [(None, False, False), (None, True, True), (False, True, False), (True, False, True)],
)
def test_ignore_test_failures_falls_back_to_test_ignore_failures(
    own: bool | None, default: bool, ignored: bool
) -> None:
    remediation = Remediation(UPGRADE, ignore_test_failures=own)
    assert remediation.must_ignore_test_failures(default) == ignored


def test_the_active_block_is_the_last_attempted_action_s() -> None:
    spec = ReleasePolicy(
        install=ActionPolicy(Remediation(INSTALL, retries=1), retry_on_failure=True),
        upgrade=ActionPolicy(Remediation(UPGRADE, retries=2)),
    )
    assert active_remediation(spec, Attempts()) is None
    assert active_remediation(spec, Attempts(INSTALL)) == spec.install.remediation
    assert active_remediation(spec, Attempts(UPGRADE)) == spec.upgrade.remediation
    assert active_retry(spec, Attempts(INSTALL)) == spec.install
    assert active_retry(spec, Attempts(UPGRADE)) is None
    assert active_retry(spec, Attempts()) is None


def test_a_block_with_the_other_action_s_remediation_is_refused() -> None:
    with pytest.raises(ValueError, match="install policy needs an install remediation"):
        ReleasePolicy(install=ActionPolicy(Remediation(UPGRADE)))
    with pytest.raises(ValueError, match="upgrade policy needs an upgrade remediation"):
        ReleasePolicy(upgrade=ActionPolicy(Remediation(INSTALL)))


LAST = Attempts(UPGRADE, generation=2, revision="6.5.0", config_digest="sha256:v1")


@pytest.mark.parametrize(
    ("generation", "revision", "config", "reset", "reason"),
    [
        (2, "6.5.0", "sha256:v1", False, None),
        (3, "6.5.0", "sha256:v1", False, "generation differs from last attempt"),
        (2, "6.5.1", "sha256:v1", False, "chart version differs from last attempt"),
        (2, "6.5.0", "sha256:v2", False, "values differ from last attempt"),
        (2, "6.5.0", "sha256:v1", True, "reset requested through annotation"),
        (3, "6.5.0", "sha256:v1", True, "generation differs from last attempt"),
    ],
)
def test_failure_counters_reset_when_what_is_attempted_changes(
    generation: int, revision: str, config: str, reset: bool, reason: str | None
) -> None:
    got = failures_reset_reason(
        LAST,
        generation=generation,
        revision=revision,
        config_digest=config,
        reset_requested=reset,
    )
    assert got == reason


def test_no_recorded_values_digest_is_no_values_change() -> None:
    first = Attempts(UPGRADE, generation=2, revision="6.5.0")
    assert (
        failures_reset_reason(first, generation=2, revision="6.5.0", config_digest="sha256:v1")
        is None
    )


def test_drift_is_detected_unless_disabled() -> None:
    assert [m for m in DriftMode if m.detects] == [DriftMode.ENABLED, DriftMode.WARN]
