"""A HelmRelease's failure policy: remediation, retry, and the failure counters, as Flux reads them.

Pure. ``spec.install`` and ``spec.upgrade`` each say what happens when their
action fails (FLUX-API §4.2):

- ``strategy.name: RemediateOnFailure`` (the default): count the failure and
  remediate it, at most ``remediation.retries`` times (negative: forever).
  Install remediation always uninstalls; upgrade remediation rolls back
  (``strategy: rollback``, the default) or uninstalls. After the last retry
  the failure is remediated only with ``remediateLastFailure`` (install:
  false by default; upgrade: true when ``retries > 0``).
- ``strategy.name: RetryOnFailure``: no remediation; the action is tried again
  every ``retryInterval`` (5m).

Which block applies is the one of ``status.lastAttemptedReleaseAction``
(Flux's ``GetActiveRemediation``). The counters ``installFailures`` and
``upgradeFailures`` start again from zero when the generation, the chart
version or the values digest differ from the last attempt, or when a
``reconcile.fluxcd.io/resetAt`` token is handled (Flux's ``MustResetFailures``).

Flux sources: api/v2/helmrelease_types.go (InstallRemediation,
UpgradeRemediation, GetActiveRemediation, GetActiveRetry),
internal/action/reset.go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "DEFAULT_RETRY_INTERVAL",
    "ActionPolicy",
    "Attempts",
    "DriftMode",
    "ReleaseAction",
    "ReleasePolicy",
    "Remediation",
    "RemediationStrategy",
    "TestPolicy",
    "active_remediation",
    "active_retry",
    "failures_reset_reason",
]

DEFAULT_RETRY_INTERVAL = 300.0
"""``strategy.retryInterval`` when unset, in seconds (Flux: 5m)."""


class ReleaseAction(StrEnum):
    """``status.lastAttemptedReleaseAction``: the last release-making action tried."""

    INSTALL = "install"
    UPGRADE = "upgrade"


class RemediationStrategy(StrEnum):
    """``upgrade.remediation.strategy``: how a failed release is remediated."""

    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"


class DriftMode(StrEnum):
    """``spec.driftDetection.mode``."""

    ENABLED = "enabled"
    WARN = "warn"
    DISABLED = "disabled"

    @property
    def detects(self) -> bool:
        """Whether the cluster is diffed against the release (Flux's ``MustDetectChanges``)."""
        return self != DriftMode.DISABLED


@dataclass(frozen=True)
class Attempts:
    """What ``status`` records of the last release attempt and of the failures since."""

    action: ReleaseAction | None = None
    """``lastAttemptedReleaseAction``; None before any install or upgrade."""
    generation: int = 0
    """``lastAttemptedGeneration``."""
    revision: str = ""
    """``lastAttemptedRevision``: the chart version."""
    config_digest: str = ""
    """``lastAttemptedConfigDigest``: the digest of the merged values."""
    install_failures: int = 0
    upgrade_failures: int = 0


@dataclass(frozen=True)
class Remediation:
    """``spec.install.remediation`` or ``spec.upgrade.remediation``, for ``action``."""

    action: ReleaseAction
    retries: int = 0
    ignore_test_failures: bool | None = None
    """None: follow ``spec.test.ignoreFailures``."""
    remediate_last_failure: bool | None = None
    """None: the action's default (install: false; upgrade: ``retries > 0``)."""
    strategy: RemediationStrategy | None = None
    """Upgrade only; None: rollback. Install remediation always uninstalls."""

    def must_ignore_test_failures(self, default: bool) -> bool:
        """Whether a failed test hook is left alone, ``default`` being ``test.ignoreFailures``."""
        return default if self.ignore_test_failures is None else self.ignore_test_failures

    @property
    def must_remediate_last_failure(self) -> bool:
        """Whether the failure that used the last retry is remediated too."""
        if self.remediate_last_failure is not None:
            return self.remediate_last_failure
        return self.action == ReleaseAction.UPGRADE and self.retries > 0

    @property
    def effective_strategy(self) -> RemediationStrategy:
        """How a failure is remediated: an install is always uninstalled."""
        if self.action == ReleaseAction.INSTALL:
            return RemediationStrategy.UNINSTALL
        return self.strategy or RemediationStrategy.ROLLBACK

    @property
    def uninstalls_after_upgrade(self) -> bool:
        """An uninstalled upgrade is installed again next, so it never stalls early."""
        return (
            self.action == ReleaseAction.UPGRADE
            and self.effective_strategy == RemediationStrategy.UNINSTALL
        )

    def failure_count(self, attempts: Attempts) -> int:
        """This action's failure counter."""
        if self.action == ReleaseAction.INSTALL:
            return attempts.install_failures
        return attempts.upgrade_failures

    def retries_exhausted(self, attempts: Attempts) -> bool:
        """Whether no retry is left: the counter went past ``retries`` (never when negative)."""
        return self.retries >= 0 and self.failure_count(attempts) > self.retries


@dataclass(frozen=True)
class ActionPolicy:
    """``spec.install`` or ``spec.upgrade``, as far as failures go."""

    remediation: Remediation
    retry_on_failure: bool = False
    """``strategy.name: RetryOnFailure``: retry every ``retry_interval``, never remediate."""
    retry_interval: float = DEFAULT_RETRY_INTERVAL


@dataclass(frozen=True)
class TestPolicy:
    """``spec.test``: run ``helm test`` after each install and upgrade."""

    __test__: ClassVar[bool] = False  # a Flux name, not a pytest test class

    enable: bool = False
    ignore_failures: bool = False


def _install() -> ActionPolicy:
    return ActionPolicy(Remediation(ReleaseAction.INSTALL))


def _upgrade() -> ActionPolicy:
    return ActionPolicy(Remediation(ReleaseAction.UPGRADE))


@dataclass(frozen=True)
class ReleasePolicy:
    """The parts of a HelmRelease's spec that decide the next action."""

    install: ActionPolicy = field(default_factory=_install)
    upgrade: ActionPolicy = field(default_factory=_upgrade)
    test: TestPolicy = field(default_factory=TestPolicy)
    drift: DriftMode = DriftMode.DISABLED

    def __post_init__(self) -> None:
        # A block carrying the other action's remediation would count and
        # default everything wrongly; refuse it where it is built.
        if self.install.remediation.action != ReleaseAction.INSTALL:
            raise ValueError("install policy needs an install remediation")
        if self.upgrade.remediation.action != ReleaseAction.UPGRADE:
            raise ValueError("upgrade policy needs an upgrade remediation")


def _block(policy: ReleasePolicy, action: ReleaseAction | None) -> ActionPolicy | None:
    if action == ReleaseAction.INSTALL:
        return policy.install
    if action == ReleaseAction.UPGRADE:
        return policy.upgrade
    return None


def active_remediation(policy: ReleasePolicy, attempts: Attempts) -> Remediation | None:
    """The last attempted action's remediation; None before any (Flux's ``GetActiveRemediation``).

    It does not look at ``RetryOnFailure``: Flux checks the retry strategy first
    wherever both matter (see :func:`active_retry`).
    """
    block = _block(policy, attempts.action)
    return block.remediation if block else None


def active_retry(policy: ReleasePolicy, attempts: Attempts) -> ActionPolicy | None:
    """The last attempted action's block if it says ``RetryOnFailure`` (``GetActiveRetry``)."""
    block = _block(policy, attempts.action)
    return block if block and block.retry_on_failure else None


def failures_reset_reason(
    attempts: Attempts,
    *,
    generation: int,
    revision: str,
    config_digest: str,
    reset_requested: bool = False,
) -> str | None:
    """Why the failure counters start again from zero, or None to keep them.

    ``generation``, ``revision`` (chart version) and ``config_digest`` are those
    about to be attempted; ``reset_requested`` is a ``resetAt`` token to handle.
    """
    if attempts.generation != generation:
        return "generation differs from last attempt"
    if attempts.revision != revision:
        return "chart version differs from last attempt"
    if attempts.config_digest and attempts.config_digest != config_digest:
        return "values differ from last attempt"
    if reset_requested:
        return "reset requested through annotation"
    return None
