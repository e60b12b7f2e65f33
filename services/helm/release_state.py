"""The state of a HelmRelease's Helm release: Helm's storage compared with what is wanted.

Pure. The helm service reads the release's revisions from Helm's storage (the
adapter turns each into a :class:`Release`, its ``digest`` computed over the
stored object as Flux's ``release.Digest`` does), and :func:`determine_state`
classifies the newest one against the HelmRelease's recorded history and the
desired chart and values, in Flux's order (``DetermineReleaseState``):

1. no revision → ``Absent``;
2. a ``pending-*`` revision (a worker killed mid-action) → ``Locked``;
3. an empty history: an uninstalled revision → ``Absent``, any other →
   ``Unmanaged``; a revision whose digest differs from the newest snapshot
   (made or changed by someone else) → ``Unmanaged``;
4. ``failed`` → ``Failed``; ``uninstalled`` → ``Absent``;
5. ``deployed`` with another chart name/version or values digest, or (on a
   new generation) other post-renderers or common metadata → ``OutOfSync``;
6. tests enabled and not run → ``Untested``; a failed test hook that the
   active remediation does not ignore → ``Failed``;
7. drift detection on and the cluster differs → ``Drifted``;
8. otherwise ``InSync``. Any other storage status → ``Unknown``.

:mod:`services.helm.next_action` turns the state into the next action.

Flux sources: internal/reconcile/state.go, internal/action/verify.go
(VerifyReleaseObject, VerifyRelease), api/v2/snapshot_types.go (Latest,
Previous, HasBeenTested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from services.helm.remediation import Attempts, ReleasePolicy, active_remediation

__all__ = [
    "MAX_HISTORY",
    "Assessment",
    "Desired",
    "HelmStatus",
    "HookPhase",
    "Recorded",
    "Release",
    "ReleaseState",
    "TestHook",
    "determine_state",
    "keep_newest",
    "latest",
    "previous",
    "truncate",
]

MAX_HISTORY = 5
"""Snapshots ``status.history`` keeps when no earlier deployed one bounds it."""


class HelmStatus(StrEnum):
    """A revision's ``info.status`` in Helm's storage."""

    UNKNOWN = "unknown"
    DEPLOYED = "deployed"
    UNINSTALLED = "uninstalled"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"

    @classmethod
    def of(cls, text: str) -> HelmStatus:
        """The status Helm wrote; UNKNOWN for one this version does not know."""
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_pending(self) -> bool:
        """Helm's lock: an action wrote this and has not finished (or its process died)."""
        return self in (
            HelmStatus.PENDING_INSTALL,
            HelmStatus.PENDING_UPGRADE,
            HelmStatus.PENDING_ROLLBACK,
        )


class HookPhase(StrEnum):
    """The last run of a hook, as Helm records it."""

    UNKNOWN = "Unknown"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @classmethod
    def of(cls, text: str) -> HookPhase:
        """The phase Helm wrote; UNKNOWN for one this version does not know."""
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class TestHook:
    """One test hook's last run (``history[].testHooks.<name>.phase``)."""

    __test__: ClassVar[bool] = False  # a Flux name, not a pytest test class

    name: str
    phase: HookPhase


@dataclass(frozen=True)
class Release:
    """One revision of a release: read from Helm's storage, or a ``status.history`` snapshot."""

    name: str
    namespace: str
    version: int
    status: HelmStatus
    chart_name: str
    chart_version: str
    config_digest: str
    digest: str
    """Digest of the stored object (test hooks left out, so a manual ``helm test`` keeps it)."""
    test_hooks: tuple[TestHook, ...] | None = None
    """None: no test run observed; ``()``: run, the chart has no (selected) test."""
    app_version: str = ""
    """The chart's appVersion ("" when it has none)."""
    first_deployed: datetime | None = None
    """When the release's first revision was deployed (``info.first_deployed``)."""
    last_deployed: datetime | None = None
    """When this revision was deployed (``info.last_deployed``)."""
    deleted: datetime | None = None
    """When this revision was uninstalled (``info.deleted``); None when it was not."""

    @property
    def full_name(self) -> str:
        """``<namespace>/<name>.v<version>``, as Flux's messages name it."""
        return f"{self.namespace}/{self.name}.v{self.version}"

    @property
    def has_been_tested(self) -> bool:
        """Whether the test run finished: all hooks done, or one failed (Helm stops there)."""
        if self.test_hooks is None:
            return False
        if self.has_failed_test:
            return True
        return all(hook.phase == HookPhase.SUCCEEDED for hook in self.test_hooks)

    @property
    def has_failed_test(self) -> bool:
        """Whether a test hook is in phase Failed."""
        return any(hook.phase == HookPhase.FAILED for hook in self.test_hooks or ())

    @property
    def was_deployed(self) -> bool:
        """Deployed or superseded: a revision one may roll back to."""
        return self.status in (HelmStatus.DEPLOYED, HelmStatus.SUPERSEDED)


def latest(releases: Sequence[Release]) -> Release | None:
    """The newest revision (highest version), or None."""
    return max(releases, key=lambda r: r.version, default=None)


def previous(history: Sequence[Release], *, ignore_test_failures: bool) -> Release | None:
    """The newest deployed or superseded revision before the latest: the rollback target.

    A revision with a failed test is skipped unless test failures are ignored.
    """
    older = _newest_first(history)[1:]
    for release in older:
        if release.was_deployed and (ignore_test_failures or not release.has_failed_test):
            return release
    return None


def _newest_first(history: Sequence[Release]) -> list[Release]:
    return sorted(history, key=lambda r: r.version, reverse=True)


def keep_newest(history: Sequence[Release]) -> tuple[Release, ...]:
    """The :data:`MAX_HISTORY` newest snapshots, newest first."""
    return tuple(_newest_first(history)[:MAX_HISTORY])


def truncate(history: Sequence[Release], *, ignore_test_failures: bool) -> tuple[Release, ...]:
    """The snapshots down to the rollback target (:func:`previous`), newest first.

    Without a target, the :data:`MAX_HISTORY` newest: a run of failures never
    grows the status without bound.
    """
    ordered = _newest_first(history)
    target = previous(ordered, ignore_test_failures=ignore_test_failures)
    if target is None:
        return tuple(ordered[:MAX_HISTORY])
    return tuple(ordered[: ordered.index(target) + 1])


@dataclass(frozen=True)
class Desired:
    """What the HelmRelease wants released, from its spec, its chart and its values."""

    chart_name: str
    chart_version: str
    config_digest: str
    generation: int
    post_renderers_digest: str = ""
    """Digest of ``spec.postRenderers``; empty when there are none."""
    common_metadata_digest: str = ""
    """Digest of ``spec.commonMetadata``; empty when unset."""


@dataclass(frozen=True)
class Recorded:
    """What the HelmRelease's status recorded of its releases."""

    history: tuple[Release, ...] = ()
    """``status.history``: snapshots of the revisions this HelmRelease made."""
    attempts: Attempts = field(default_factory=Attempts)
    observed_generation: int = -1
    observed_post_renderers_digest: str = ""
    observed_common_metadata_digest: str = ""


class ReleaseState(StrEnum):
    """The state of the release against the HelmRelease (Flux's ``ReleaseStatus``)."""

    UNKNOWN = "Unknown"
    ABSENT = "Absent"
    UNMANAGED = "Unmanaged"
    OUT_OF_SYNC = "OutOfSync"
    DRIFTED = "Drifted"
    LOCKED = "Locked"
    UNTESTED = "Untested"
    IN_SYNC = "InSync"
    FAILED = "Failed"


@dataclass(frozen=True)
class Assessment:
    """A release state and why (Flux's ``ReleaseState``: status + reason)."""

    state: ReleaseState
    reason: str = ""


def determine_state(
    stored: Sequence[Release],
    *,
    desired: Desired,
    recorded: Recorded,
    policy: ReleasePolicy,
    drifted: bool = False,
) -> Assessment:
    """Classify the newest revision in ``stored`` (Helm's storage for this release name).

    ``drifted`` is the adapter's diff of the stored manifest against the cluster;
    it only counts when ``policy.drift`` detects and every other check passed.
    """
    rls = latest(stored)
    if rls is None:
        return Assessment(ReleaseState.ABSENT, "no release in storage for object")
    if rls.status.is_pending:
        return Assessment(ReleaseState.LOCKED, f"release with status '{rls.status}'")

    cur = latest(recorded.history)
    if cur is None:
        if rls.status == HelmStatus.UNINSTALLED:
            return Assessment(ReleaseState.ABSENT, "found uninstalled release in storage")
        return Assessment(ReleaseState.UNMANAGED, "found existing release in storage")
    # The digest covers name, namespace and version too: a revision made by
    # someone else (helm upgrade by hand) or one we never observed differs.
    if cur.digest != rls.digest:
        return Assessment(ReleaseState.UNMANAGED, "release not observed to be made for object")

    if rls.status == HelmStatus.FAILED:
        return Assessment(ReleaseState.FAILED)
    if rls.status == HelmStatus.UNINSTALLED:
        return Assessment(ReleaseState.ABSENT, "found uninstalled release in storage")
    if rls.status != HelmStatus.DEPLOYED:
        why = f"unable to determine state for release with status '{rls.status}'"
        return Assessment(ReleaseState.UNKNOWN, why)
    return _deployed(cur, desired=desired, recorded=recorded, policy=policy, drifted=drifted)


def _deployed(
    cur: Release, *, desired: Desired, recorded: Recorded, policy: ReleasePolicy, drifted: bool
) -> Assessment:
    """The state of a deployed revision we made (``cur`` equals the stored one)."""
    if (cur.chart_name, cur.chart_version) != (desired.chart_name, desired.chart_version):
        return Assessment(ReleaseState.OUT_OF_SYNC, "release chart changed")
    if cur.config_digest != desired.config_digest:
        return Assessment(ReleaseState.OUT_OF_SYNC, "release config values changed")
    # The observed digests are written after each successful action; comparing
    # them only on a new generation cannot loop within one reconcile.
    if recorded.observed_generation != desired.generation:
        if desired.post_renderers_digest != recorded.observed_post_renderers_digest:
            return Assessment(ReleaseState.OUT_OF_SYNC, "postrenderers digest has changed")
        if desired.common_metadata_digest != recorded.observed_common_metadata_digest:
            return Assessment(ReleaseState.OUT_OF_SYNC, "common metadata digest has changed")

    # Test results come from our own snapshot: a manual `helm test` is not ours.
    if policy.test.enable:
        if not cur.has_been_tested:
            return Assessment(ReleaseState.UNTESTED)
        remediation = active_remediation(policy, recorded.attempts)
        if (
            remediation is not None
            and not remediation.must_ignore_test_failures(policy.test.ignore_failures)
            and cur.has_failed_test
        ):
            return Assessment(ReleaseState.FAILED, "release has test in failed phase")

    if policy.drift.detects and drifted:
        return Assessment(ReleaseState.DRIFTED, "cluster state differs from the release manifest")
    return Assessment(ReleaseState.IN_SYNC)
