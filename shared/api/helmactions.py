"""The per-action blocks of a HelmRelease spec: install, upgrade, test, rollback, uninstall.

FLUX-API §4.2, field for field with helm-controller's ``api/v2`` types. The
defaults Flux applies when a field is unset are properties here
(``remediation.remediate_last_failure``, ``crds_policy``...), so the helm
service reads one answer instead of re-deriving Flux's rules. Fields sluice
refuses are marked with ``helmsupport.unsupported``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from shared.api.durations import parse_duration
from shared.api.helmsupport import unsupported
from shared.api.meta import ApiModel, Duration

__all__ = [
    "DEFAULT_RETRY_INTERVAL",
    "ActionStrategy",
    "CrdsPolicy",
    "Install",
    "InstallRemediation",
    "Rollback",
    "Test",
    "TestFilter",
    "Uninstall",
    "Upgrade",
    "UpgradeRemediation",
]

CrdsPolicy = Literal["Skip", "Create", "CreateReplace"]
# helm-controller's crdPolicyOrDefault gives Create to install AND upgrade when
# `crds` is unset (its API comment says Skip for upgrade; the code decides).
_DEFAULT_CRDS: CrdsPolicy = "Create"
DEFAULT_RETRY_INTERVAL = "5m"
ServerSideApplyMode = Literal["enabled", "disabled", "auto"]


class ActionStrategy(ApiModel):
    """``install.strategy`` / ``upgrade.strategy``: remediate, or retry every retryInterval."""

    name: Literal["RemediateOnFailure", "RetryOnFailure"]
    retry_interval: Duration | None = None

    @model_validator(mode="after")
    def _retry_interval_needs_retry(self) -> Self:
        # Flux's CEL rule on both strategies.
        if self.retry_interval is not None and self.name != "RetryOnFailure":
            raise ValueError(".retryInterval can only be set when .name is 'RetryOnFailure'")
        return self

    @property
    def retry_interval_seconds(self) -> float:
        """``retryInterval`` in seconds, 5 minutes when unset."""
        return parse_duration(self.retry_interval or DEFAULT_RETRY_INTERVAL)


class InstallRemediation(ApiModel):
    """``install.remediation``: retries of a failed install, each after an uninstall."""

    retries: int = 0
    ignore_test_failures: bool | None = None
    remediate_last_failure: bool | None = None

    @property
    def remediates_last_failure(self) -> bool:
        """Whether the last failure is remediated when retries are exhausted (default no)."""
        return bool(self.remediate_last_failure)


class UpgradeRemediation(ApiModel):
    """``upgrade.remediation``: retries of a failed upgrade, with rollback or uninstall between."""

    retries: int = 0
    ignore_test_failures: bool | None = None
    remediate_last_failure: bool | None = None
    strategy: Literal["rollback", "uninstall"] = "rollback"

    @property
    def remediates_last_failure(self) -> bool:
        """Whether the last failure is remediated; Flux defaults it to ``retries > 0``."""
        if self.remediate_last_failure is None:
            return self.retries > 0
        return self.remediate_last_failure


class Install(ApiModel):
    """``spec.install``."""

    timeout: Duration | None = None
    strategy: ActionStrategy | None = None
    remediation: InstallRemediation | None = None
    disable_take_ownership: bool = False
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False
    disable_open_api_validation: bool = Field(default=False, alias="disableOpenAPIValidation")
    disable_schema_validation: bool = False
    replace: bool = False
    skip_crds: Annotated[bool, unsupported("install.skipCRDs")] = Field(
        default=False, alias="skipCRDs"
    )
    crds: CrdsPolicy | None = None
    create_namespace: bool = False
    server_side_apply: bool | None = None

    @property
    def crds_policy(self) -> CrdsPolicy:
        """What happens to the chart's ``crds/`` on install (Create when unset)."""
        return self.crds or _DEFAULT_CRDS


class Upgrade(ApiModel):
    """``spec.upgrade``."""

    timeout: Duration | None = None
    strategy: ActionStrategy | None = None
    remediation: UpgradeRemediation | None = None
    disable_take_ownership: bool = False
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False
    disable_open_api_validation: bool = Field(default=False, alias="disableOpenAPIValidation")
    disable_schema_validation: bool = False
    force: bool = False
    preserve_values: bool = False
    cleanup_on_fail: bool = False
    crds: CrdsPolicy | None = None
    server_side_apply: ServerSideApplyMode = "auto"
    chart_name_change_strategy: Annotated[
        Literal["InPlaceUpdate", "Reinstall"], unsupported("upgrade.chartNameChangeStrategy")
    ] = "Reinstall"

    @property
    def crds_policy(self) -> CrdsPolicy:
        """What happens to the chart's ``crds/`` on upgrade (Create when unset, as Flux's code)."""
        return self.crds or _DEFAULT_CRDS


class TestFilter(ApiModel):
    """``test.filters[]``: a test hook to run only, or to leave out."""

    name: str = Field(min_length=1, max_length=253)
    exclude: bool = False


class Test(ApiModel):
    """``spec.test``: ``helm test`` after each install and upgrade."""

    __test__ = False  # a model named Test, not a pytest test class

    enable: bool = False
    timeout: Duration | None = None
    ignore_failures: bool = False
    filters: list[TestFilter] | None = None


class Rollback(ApiModel):
    """``spec.rollback``: options of the rollback that remediates a failed upgrade."""

    timeout: Duration | None = None
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False
    recreate: Annotated[bool, unsupported("rollback.recreate")] = False
    force: bool = False
    cleanup_on_fail: bool = False
    server_side_apply: ServerSideApplyMode = "auto"


class Uninstall(ApiModel):
    """``spec.uninstall``: options of the uninstall on deletion and as remediation."""

    timeout: Duration | None = None
    disable_hooks: bool = False
    keep_history: bool = False
    disable_wait: bool = False
    deletion_propagation: Literal["background", "foreground", "orphan"] = "background"
