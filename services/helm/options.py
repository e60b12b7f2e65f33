"""A HelmRelease's spec as the options of each Helm action and as its failure policy.

Pure: helm-controller's ``newInstall`` / ``newUpgrade`` / ``newRollback`` /
``newUninstall`` / ``newTest`` (internal/action/*.go) and the API's
``Get*`` defaults, read once here so the reconcile never re-derives them:

- every action's timeout is its block's ``timeout``, else ``spec.timeout``
  (5m); a ``timeout=`` given to a builder (the time the task has left)
  bounds it;
- the wait is ``watcher`` (Flux's ``poller``), ``legacy`` with
  ``waitStrategy.name: legacy``, and ``hookOnly`` with the block's
  ``disableWait``; Jobs are waited for unless ``disableWaitForJobs``;
- ``serverSideApply`` of install is a bool (true); of upgrade and rollback
  ``enabled|disabled|auto`` (auto: the apply method of the last revision
  for an upgrade, of the rollback's target revision for a rollback, as
  Helm resolves it), so those two take that revision's ``applyMethod``
  (``helm get metadata -o json``: ``"ssa"``, ``"csa"`` or ``""``);
- ``createNamespace`` only counts with a ``targetNamespace`` (Flux ignores
  it otherwise);
- ``preserveValues`` keeps the last revision's user values under the new
  ones (``--reset-then-reuse-values``; see ``UpgradeOptions.preserve_values``
  for why not Flux's ``--reuse-values``). The revision's values are then
  not the HelmRelease's alone, so their digest differs from the desired
  one: compare against ``merge_maps(last.values, desired)`` for such a
  release, or it upgrades every reconcile (fluxcd/helm-controller#1371).

Before an install or upgrade the reconcile applies the chart's CRDs by
:func:`crds_policy` (``crds.apply_chart_crds``); the install flags always
carry ``--skip-crds``, as helm-controller's ``SkipCRDs``.
"""

from __future__ import annotations

from typing import Literal

from services.helm.actionoptions import (
    DeletionPropagation,
    InstallOptions,
    RollbackOptions,
    TestFilter,
    TestOptions,
    UninstallOptions,
    UpgradeOptions,
    WaitStrategy,
)
from services.helm.remediation import (
    DEFAULT_RETRY_INTERVAL,
    ActionPolicy,
    DriftMode,
    ReleaseAction,
    ReleasePolicy,
    Remediation,
    RemediationStrategy,
    TestPolicy,
)
from shared.api.durations import parse_duration
from shared.api.helmactions import ActionStrategy, CrdsPolicy
from shared.api.helmrelease import HelmRelease

__all__ = [
    "crds_policy",
    "install_options",
    "release_policy",
    "resolve_server_side",
    "rollback_options",
    "test_options",
    "uninstall_options",
    "upgrade_options",
]

_SSA = "ssa"


def resolve_server_side(mode: Literal["enabled", "disabled", "auto"], apply_method: str) -> bool:
    """Whether an upgrade or rollback applies server-side: ``auto`` follows ``apply_method``.

    ``apply_method`` is the revision's ``applyMethod``; Helm counts anything
    but ``"ssa"`` (a Helm 3 revision has none) as client-side.
    """
    if mode == "auto":
        return apply_method == _SSA
    return mode == "enabled"


def _timeout(hr: HelmRelease, own: str | None, left: float | None) -> float:
    wanted = parse_duration(own) if own else hr.spec.timeout_seconds
    return wanted if left is None else min(wanted, left)


def _method(apply_method: str | None) -> str:
    # Unknown: assume server-side, Helm 4's and Flux's default; a client-side
    # release then moves to server-side apply, which Helm supports.
    return _SSA if apply_method is None else apply_method


def _wait(hr: HelmRelease, *, disabled: bool) -> WaitStrategy:
    if disabled:
        return WaitStrategy.HOOK_ONLY
    strategy = hr.spec.wait_strategy
    if strategy is not None and strategy.name == "legacy":
        return WaitStrategy.LEGACY
    return WaitStrategy.WATCHER


def install_options(hr: HelmRelease, *, timeout: float | None = None) -> InstallOptions:
    """``spec.install`` (and the spec-wide defaults) as ``helm install`` options.

    ``timeout`` (seconds), when given, bounds the action's own (the time the task has left).
    """
    block = hr.spec.install_or_default
    return InstallOptions(
        timeout=_timeout(hr, block.timeout, timeout),
        wait=_wait(hr, disabled=block.disable_wait),
        wait_for_jobs=not block.disable_wait_for_jobs,
        disable_hooks=block.disable_hooks,
        disable_openapi_validation=block.disable_open_api_validation,
        skip_schema_validation=block.disable_schema_validation,
        take_ownership=not block.disable_take_ownership,
        server_side=block.server_side_apply is not False,
        create_namespace=block.create_namespace and hr.spec.target_namespace is not None,
        replace=block.replace,
    )


def upgrade_options(
    hr: HelmRelease, *, timeout: float | None = None, apply_method: str | None = None
) -> UpgradeOptions:
    """``spec.upgrade`` as ``helm upgrade`` options.

    ``apply_method`` is the last revision's (``"ssa"``, ``"csa"``, ``""``;
    None: unknown, taken as ``"ssa"``); ``timeout`` bounds the action's own.
    """
    block = hr.spec.upgrade_or_default
    return UpgradeOptions(
        timeout=_timeout(hr, block.timeout, timeout),
        wait=_wait(hr, disabled=block.disable_wait),
        wait_for_jobs=not block.disable_wait_for_jobs,
        disable_hooks=block.disable_hooks,
        disable_openapi_validation=block.disable_open_api_validation,
        skip_schema_validation=block.disable_schema_validation,
        take_ownership=not block.disable_take_ownership,
        server_side=resolve_server_side(block.server_side_apply, _method(apply_method)),
        max_history=hr.spec.history_limit,
        preserve_values=block.preserve_values,
        force=block.force,
        cleanup_on_fail=block.cleanup_on_fail,
    )


def rollback_options(
    hr: HelmRelease, *, timeout: float | None = None, apply_method: str | None = None
) -> RollbackOptions:
    """``spec.rollback`` as ``helm rollback`` options.

    ``apply_method`` is the *target* revision's (None: unknown, taken as
    ``"ssa"``); ``timeout`` bounds the action's own.
    """
    block = hr.spec.rollback
    if block is None:
        return RollbackOptions(
            timeout=_timeout(hr, None, timeout),
            wait=_wait(hr, disabled=False),
            max_history=hr.spec.history_limit,
            server_side=resolve_server_side("auto", _method(apply_method)),
        )
    return RollbackOptions(
        timeout=_timeout(hr, block.timeout, timeout),
        wait=_wait(hr, disabled=block.disable_wait),
        wait_for_jobs=not block.disable_wait_for_jobs,
        disable_hooks=block.disable_hooks,
        max_history=hr.spec.history_limit,
        server_side=resolve_server_side(block.server_side_apply, _method(apply_method)),
        force=block.force,
        cleanup_on_fail=block.cleanup_on_fail,
    )


def uninstall_options(hr: HelmRelease, *, timeout: float | None = None) -> UninstallOptions:
    """``spec.uninstall`` as ``helm uninstall`` options (deletion and remediation alike)."""
    block = hr.spec.uninstall
    if block is None:
        return UninstallOptions(timeout=_timeout(hr, None, timeout), wait=_wait(hr, disabled=False))
    return UninstallOptions(
        timeout=_timeout(hr, block.timeout, timeout),
        disable_hooks=block.disable_hooks,
        keep_history=block.keep_history,
        wait=_wait(hr, disabled=block.disable_wait),
        deletion_propagation=DeletionPropagation(block.deletion_propagation),
    )


def test_options(hr: HelmRelease, *, timeout: float | None = None) -> TestOptions:
    """``spec.test`` as ``helm test`` options (whether to test at all is the policy's)."""
    block = hr.spec.test
    if block is None:
        return TestOptions(timeout=_timeout(hr, None, timeout))
    filters = tuple(TestFilter(f.name, exclude=f.exclude) for f in block.filters or ())
    return TestOptions(timeout=_timeout(hr, block.timeout, timeout), filters=filters)


test_options.__test__ = False  # type: ignore[attr-defined]  # a builder, not a pytest test


def crds_policy(hr: HelmRelease, action: ReleaseAction) -> CrdsPolicy:
    """What happens to the chart's crds/ before ``action`` (Create when unset, as Flux's code)."""
    if action == ReleaseAction.INSTALL:
        return hr.spec.install_or_default.crds_policy
    return hr.spec.upgrade_or_default.crds_policy


def _retry(strategy: ActionStrategy | None) -> tuple[bool, float]:
    if strategy is None or strategy.name != "RetryOnFailure":
        return False, DEFAULT_RETRY_INTERVAL
    return True, strategy.retry_interval_seconds


def release_policy(hr: HelmRelease) -> ReleasePolicy:
    """The failure policy of ``spec.install``/``upgrade``, ``spec.test`` and drift detection."""
    install = hr.spec.install_or_default
    upgrade = hr.spec.upgrade_or_default
    install_fix = install.remediation
    upgrade_fix = upgrade.remediation
    install_retry, install_interval = _retry(install.strategy)
    upgrade_retry, upgrade_interval = _retry(upgrade.strategy)
    test = hr.spec.test
    return ReleasePolicy(
        install=ActionPolicy(
            Remediation(
                ReleaseAction.INSTALL,
                retries=install_fix.retries if install_fix else 0,
                ignore_test_failures=install_fix.ignore_test_failures if install_fix else None,
                remediate_last_failure=install_fix.remediate_last_failure if install_fix else None,
            ),
            retry_on_failure=install_retry,
            retry_interval=install_interval,
        ),
        upgrade=ActionPolicy(
            Remediation(
                ReleaseAction.UPGRADE,
                retries=upgrade_fix.retries if upgrade_fix else 0,
                ignore_test_failures=upgrade_fix.ignore_test_failures if upgrade_fix else None,
                remediate_last_failure=upgrade_fix.remediate_last_failure if upgrade_fix else None,
                strategy=RemediationStrategy(upgrade_fix.strategy) if upgrade_fix else None,
            ),
            retry_on_failure=upgrade_retry,
            retry_interval=upgrade_interval,
        ),
        test=TestPolicy(
            enable=bool(test and test.enable),
            ignore_failures=bool(test and test.ignore_failures),
        ),
        drift=DriftMode(hr.spec.drift.mode),
    )
