"""A HelmRelease's spec as the options of each Helm action and its failure policy.

Interim: the "options" branch replaces this module with every field mapped.
"""

from __future__ import annotations

from services.helm.actionoptions import (
    InstallOptions,
    RollbackOptions,
    TestOptions,
    UninstallOptions,
    UpgradeOptions,
    WaitStrategy,
)
from services.helm.remediation import (
    ActionPolicy,
    DriftMode,
    ReleaseAction,
    ReleasePolicy,
    Remediation,
    RemediationStrategy,
    TestPolicy,
)
from shared.api.durations import parse_duration
from shared.api.helmrelease import HelmRelease

__all__ = [
    "install_options",
    "release_policy",
    "rollback_options",
    "test_options",
    "uninstall_options",
    "upgrade_options",
]


def _timeout(hr: HelmRelease, own: str | None, bound: float | None) -> float:
    wanted = parse_duration(own) if own else hr.spec.timeout_seconds
    return wanted if bound is None else min(wanted, bound)


def _wait(disabled: bool) -> WaitStrategy:
    return WaitStrategy.HOOK_ONLY if disabled else WaitStrategy.WATCHER


def install_options(hr: HelmRelease, *, timeout: float | None = None) -> InstallOptions:
    """``spec.install`` as Helm flags."""
    spec = hr.spec.install_or_default
    return InstallOptions(
        timeout=_timeout(hr, spec.timeout, timeout),
        wait=_wait(spec.disable_wait),
        wait_for_jobs=not spec.disable_wait_for_jobs,
        disable_hooks=spec.disable_hooks,
        create_namespace=spec.create_namespace,
        skip_crds=spec.crds_policy == "Skip",
    )


def upgrade_options(hr: HelmRelease, *, timeout: float | None = None) -> UpgradeOptions:
    """``spec.upgrade`` as Helm flags."""
    spec = hr.spec.upgrade_or_default
    return UpgradeOptions(
        timeout=_timeout(hr, spec.timeout, timeout),
        wait=_wait(spec.disable_wait),
        wait_for_jobs=not spec.disable_wait_for_jobs,
        disable_hooks=spec.disable_hooks,
        max_history=hr.spec.history_limit,
    )


def rollback_options(hr: HelmRelease, *, timeout: float | None = None) -> RollbackOptions:
    """``spec.rollback`` as Helm flags."""
    spec = hr.spec.rollback
    return RollbackOptions(
        timeout=_timeout(hr, spec.timeout if spec else None, timeout),
        wait=_wait(bool(spec and spec.disable_wait)),
        max_history=hr.spec.history_limit,
    )


def uninstall_options(hr: HelmRelease, *, timeout: float | None = None) -> UninstallOptions:
    """``spec.uninstall`` as Helm flags."""
    spec = hr.spec.uninstall
    return UninstallOptions(
        timeout=_timeout(hr, spec.timeout if spec else None, timeout),
        disable_hooks=bool(spec and spec.disable_hooks),
        keep_history=bool(spec and spec.keep_history),
    )


def test_options(hr: HelmRelease, *, timeout: float | None = None) -> TestOptions:
    """``spec.test`` as Helm flags."""
    spec = hr.spec.test
    return TestOptions(timeout=_timeout(hr, spec.timeout if spec else None, timeout))


def release_policy(hr: HelmRelease) -> ReleasePolicy:
    """The parts of the spec that choose the next action."""
    install = hr.spec.install_or_default
    upgrade = hr.spec.upgrade_or_default
    ir = install.remediation
    ur = upgrade.remediation
    test = hr.spec.test
    return ReleasePolicy(
        install=ActionPolicy(
            Remediation(
                ReleaseAction.INSTALL,
                retries=ir.retries if ir else 0,
                ignore_test_failures=ir.ignore_test_failures if ir else None,
                remediate_last_failure=ir.remediate_last_failure if ir else None,
            ),
            retry_on_failure=bool(install.strategy and install.strategy.name == "RetryOnFailure"),
            retry_interval=install.strategy.retry_interval_seconds if install.strategy else 300.0,
        ),
        upgrade=ActionPolicy(
            Remediation(
                ReleaseAction.UPGRADE,
                retries=ur.retries if ur else 0,
                ignore_test_failures=ur.ignore_test_failures if ur else None,
                remediate_last_failure=ur.remediate_last_failure if ur else None,
                strategy=RemediationStrategy(ur.strategy) if ur else None,
            ),
            retry_on_failure=bool(upgrade.strategy and upgrade.strategy.name == "RetryOnFailure"),
            retry_interval=upgrade.strategy.retry_interval_seconds if upgrade.strategy else 300.0,
        ),
        test=TestPolicy(
            enable=bool(test and test.enable), ignore_failures=bool(test and test.ignore_failures)
        ),
        drift=DriftMode(hr.spec.drift.mode),
    )
