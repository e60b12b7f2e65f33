"""A HelmRelease's spec becomes the options of each Helm action, with Flux's defaults."""

from __future__ import annotations

from typing import Any

import pytest

from services.helm import options
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
    ActionPolicy,
    DriftMode,
    ReleaseAction,
    ReleasePolicy,
    Remediation,
    RemediationStrategy,
    TestPolicy,
)
from shared.api.helmrelease import HelmRelease, parse_helmrelease


def hr(**spec: Any) -> HelmRelease:
    return parse_helmrelease(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {
                "interval": "10m",
                "chart": {
                    "spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "r"}}
                },
                **spec,
            },
        }
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, InstallOptions()),
        # spec.timeout is every action's default; the block's own wins.
        ({"timeout": "90s"}, InstallOptions(timeout=90)),
        ({"timeout": "90s", "install": {"timeout": "2m"}}, InstallOptions(timeout=120)),
        (
            {
                "targetNamespace": "web",
                "install": {
                    "createNamespace": True,
                    "disableWait": True,
                    "disableWaitForJobs": True,
                    "disableHooks": True,
                    "disableOpenAPIValidation": True,
                    "disableSchemaValidation": True,
                    "disableTakeOwnership": True,
                    "replace": True,
                    "serverSideApply": False,
                },
            },
            InstallOptions(
                create_namespace=True,
                wait=WaitStrategy.HOOK_ONLY,
                wait_for_jobs=False,
                disable_hooks=True,
                disable_openapi_validation=True,
                skip_schema_validation=True,
                take_ownership=False,
                replace=True,
                server_side=False,
            ),
        ),
        # Flux ignores createNamespace without a targetNamespace.
        ({"install": {"createNamespace": True}}, InstallOptions()),
        ({"waitStrategy": {"name": "legacy"}}, InstallOptions(wait=WaitStrategy.LEGACY)),
        ({"waitStrategy": {"name": "poller"}}, InstallOptions(wait=WaitStrategy.WATCHER)),
    ],
)
def test_install_options(spec: dict[str, Any], expected: InstallOptions) -> None:
    assert options.install_options(hr(**spec)) == expected


@pytest.mark.parametrize(
    ("spec", "apply_method", "expected"),
    [
        ({}, "ssa", UpgradeOptions()),
        # auto: the last revision's method; a Helm 3 revision (none) was client-side.
        ({}, "csa", UpgradeOptions(server_side=False)),
        ({}, "", UpgradeOptions(server_side=False)),
        ({"upgrade": {"serverSideApply": "enabled"}}, "csa", UpgradeOptions()),
        ({"upgrade": {"serverSideApply": "disabled"}}, "ssa", UpgradeOptions(server_side=False)),
        (
            {
                "maxHistory": 0,
                "timeout": "1m",
                "upgrade": {
                    "preserveValues": True,
                    "force": True,
                    "cleanupOnFail": True,
                    "disableWait": True,
                    "disableWaitForJobs": True,
                    "disableHooks": True,
                    "disableOpenAPIValidation": True,
                    "disableSchemaValidation": True,
                    "disableTakeOwnership": True,
                },
            },
            "ssa",
            UpgradeOptions(
                timeout=60,
                max_history=0,
                preserve_values=True,
                force=True,
                cleanup_on_fail=True,
                wait=WaitStrategy.HOOK_ONLY,
                wait_for_jobs=False,
                disable_hooks=True,
                disable_openapi_validation=True,
                skip_schema_validation=True,
                take_ownership=False,
            ),
        ),
    ],
)
def test_upgrade_options(spec: dict[str, Any], apply_method: str, expected: UpgradeOptions) -> None:
    assert options.upgrade_options(hr(**spec), apply_method=apply_method) == expected


@pytest.mark.parametrize(
    ("spec", "apply_method", "expected"),
    [
        ({}, "ssa", RollbackOptions()),
        ({"maxHistory": 3}, "csa", RollbackOptions(max_history=3, server_side=False)),
        (
            {
                "timeout": "1m",
                "rollback": {
                    "timeout": "30s",
                    "disableWait": True,
                    "disableWaitForJobs": True,
                    "disableHooks": True,
                    "force": True,
                    "cleanupOnFail": True,
                    "serverSideApply": "disabled",
                },
            },
            "ssa",
            RollbackOptions(
                timeout=30,
                wait=WaitStrategy.HOOK_ONLY,
                wait_for_jobs=False,
                disable_hooks=True,
                force=True,
                cleanup_on_fail=True,
                server_side=False,
            ),
        ),
        ({"waitStrategy": {"name": "legacy"}}, "ssa", RollbackOptions(wait=WaitStrategy.LEGACY)),
    ],
)
def test_rollback_options(
    spec: dict[str, Any], apply_method: str, expected: RollbackOptions
) -> None:
    assert options.rollback_options(hr(**spec), apply_method=apply_method) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, UninstallOptions()),
        ({"timeout": "10s"}, UninstallOptions(timeout=10)),
        (
            {
                "uninstall": {
                    "timeout": "20s",
                    "keepHistory": True,
                    "disableHooks": True,
                    "disableWait": True,
                    "deletionPropagation": "orphan",
                }
            },
            UninstallOptions(
                timeout=20,
                keep_history=True,
                disable_hooks=True,
                wait=WaitStrategy.HOOK_ONLY,
                deletion_propagation=DeletionPropagation.ORPHAN,
            ),
        ),
    ],
)
def test_uninstall_options(spec: dict[str, Any], expected: UninstallOptions) -> None:
    assert options.uninstall_options(hr(**spec)) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, TestOptions()),
        ({"timeout": "2m", "test": {"enable": True}}, TestOptions(timeout=120)),
        (
            {
                "test": {
                    "enable": True,
                    "timeout": "45s",
                    "filters": [{"name": "smoke"}, {"name": "slow", "exclude": True}],
                }
            },
            TestOptions(timeout=45, filters=(TestFilter("smoke"), TestFilter("slow", True))),
        ),
    ],
)
def test_test_options(spec: dict[str, Any], expected: TestOptions) -> None:
    assert options.test_options(hr(**spec)) == expected


@pytest.mark.parametrize(
    ("spec", "install", "upgrade"),
    [
        # Unset: Create for both, as helm-controller's crdPolicyOrDefault.
        ({}, "Create", "Create"),
        (
            {"install": {"crds": "Skip"}, "upgrade": {"crds": "CreateReplace"}},
            "Skip",
            "CreateReplace",
        ),
    ],
)
def test_crds_policy_of_each_action(spec: dict[str, Any], install: str, upgrade: str) -> None:
    release = hr(**spec)
    assert options.crds_policy(release, ReleaseAction.INSTALL) == install
    assert options.crds_policy(release, ReleaseAction.UPGRADE) == upgrade


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, ReleasePolicy()),
        (
            {
                "install": {
                    "strategy": {"name": "RetryOnFailure", "retryInterval": "1m"},
                    "remediation": {"retries": -1, "ignoreTestFailures": True},
                },
                "upgrade": {
                    "remediation": {
                        "retries": 2,
                        "remediateLastFailure": False,
                        "strategy": "uninstall",
                    }
                },
                "test": {"enable": True, "ignoreFailures": True},
                "driftDetection": {"mode": "warn"},
            },
            ReleasePolicy(
                install=ActionPolicy(
                    Remediation(ReleaseAction.INSTALL, retries=-1, ignore_test_failures=True),
                    retry_on_failure=True,
                    retry_interval=60,
                ),
                upgrade=ActionPolicy(
                    Remediation(
                        ReleaseAction.UPGRADE,
                        retries=2,
                        remediate_last_failure=False,
                        strategy=RemediationStrategy.UNINSTALL,
                    )
                ),
                test=TestPolicy(enable=True, ignore_failures=True),
                drift=DriftMode.WARN,
            ),
        ),
        # RetryOnFailure without an interval retries every 5 minutes.
        (
            {
                "upgrade": {"strategy": {"name": "RetryOnFailure"}},
                "driftDetection": {"mode": "enabled"},
            },
            ReleasePolicy(
                upgrade=ActionPolicy(
                    Remediation(ReleaseAction.UPGRADE),
                    retry_on_failure=True,
                    retry_interval=300,
                ),
                drift=DriftMode.ENABLED,
            ),
        ),
    ],
)
def test_release_policy(spec: dict[str, Any], expected: ReleasePolicy) -> None:
    assert options.release_policy(hr(**spec)) == expected


def test_upgrade_remediation_defaults_follow_flux() -> None:
    policy = options.release_policy(hr(upgrade={"remediation": {"retries": 3}}))
    remediation = policy.upgrade.remediation
    assert remediation.must_remediate_last_failure
    assert remediation.effective_strategy == RemediationStrategy.ROLLBACK
    assert remediation.must_ignore_test_failures(default=True)


def test_resolve_server_side() -> None:
    assert options.resolve_server_side("auto", "ssa")
    assert not options.resolve_server_side("auto", "csa")
    assert options.resolve_server_side("enabled", "")
    assert not options.resolve_server_side("disabled", "ssa")


def test_the_time_left_bounds_every_action_s_timeout() -> None:
    release = hr(timeout="10m", install={"timeout": "1m"})
    assert options.install_options(release, timeout=30).timeout == 30
    assert options.install_options(release, timeout=600).timeout == 60  # its own is shorter
    assert options.upgrade_options(release, timeout=45).timeout == 45
    assert options.rollback_options(release, timeout=45).timeout == 45
    assert options.uninstall_options(release, timeout=45).timeout == 45
    assert options.test_options(release, timeout=45).timeout == 45
    assert options.upgrade_options(release).timeout == 600


def test_an_unknown_apply_method_is_taken_as_server_side() -> None:
    # Helm 4 and Flux install server-side: --server-side=true never fails on a
    # client-side release (Helm moves it over), --force-conflicts would under false.
    assert options.upgrade_options(hr()).server_side
    assert options.rollback_options(hr()).server_side
    assert not options.upgrade_options(hr(), apply_method="csa").server_side
