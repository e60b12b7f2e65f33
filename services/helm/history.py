"""A cluster's release record as Flux's HelmRelease status writes it, and read back.

Pure. Each cluster's run keeps what helm-controller keeps in ``status``: the
``history`` snapshots of the revisions it made, the failure counters and the
last attempt (:class:`~services.helm.release_state.Recorded`), plus the storage
namespace and the observed post-renderer and common-metadata digests. They are
the cluster's ``extra`` fields in ``status.clusters[]`` and, with one target,
the HelmRelease's own status fields, spelled as Flux spells them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.helm.release_state import HelmStatus, HookPhase, Recorded, Release, TestHook
from services.helm.remediation import Attempts, ReleaseAction
from services.helm.storage import parse_time
from shared.api.conditions import format_time

__all__ = ["ClusterRecord", "snapshot", "to_release"]


def snapshot(release: Release) -> dict[str, Any]:
    """Flux's ``status.history[]`` entry for one revision."""
    entry: dict[str, Any] = {
        "digest": release.digest,
        "name": release.name,
        "namespace": release.namespace,
        "version": release.version,
        "status": str(release.status),
        "chartName": release.chart_name,
        "chartVersion": release.chart_version,
        "configDigest": release.config_digest,
    }
    if release.app_version:
        entry["appVersion"] = release.app_version
    for flux_name, when in (
        ("firstDeployed", release.first_deployed),
        ("lastDeployed", release.last_deployed),
        ("deleted", release.deleted),
    ):
        if when is not None:
            entry[flux_name] = format_time(when)
    if release.test_hooks is not None:
        entry["testHooks"] = {hook.name: {"phase": str(hook.phase)} for hook in release.test_hooks}
    return entry


def to_release(entry: Mapping[str, Any]) -> Release:
    """A ``status.history[]`` entry as the decision functions read it."""
    hooks = entry.get("testHooks")
    return Release(
        name=str(entry.get("name", "")),
        namespace=str(entry.get("namespace", "")),
        version=int(entry.get("version", 0)),
        status=HelmStatus.of(str(entry.get("status", ""))),
        chart_name=str(entry.get("chartName", "")),
        chart_version=str(entry.get("chartVersion", "")),
        config_digest=str(entry.get("configDigest", "")),
        digest=str(entry.get("digest", "")),
        test_hooks=None
        if hooks is None
        else tuple(
            TestHook(name, HookPhase.of(str(h.get("phase", "")))) for name, h in hooks.items()
        ),
        app_version=str(entry.get("appVersion", "")),
        first_deployed=parse_time(entry.get("firstDeployed")),
        last_deployed=parse_time(entry.get("lastDeployed")),
        deleted=parse_time(entry.get("deleted")),
    )


@dataclass(frozen=True)
class ClusterRecord:
    """What a cluster's runs remember of its release between runs."""

    recorded: Recorded = field(default_factory=Recorded)
    storage_namespace: str = ""
    last_handled_force_at: str = ""
    last_handled_reset_at: str = ""
    helm_chart: str = ""

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], *, revision: str = "") -> ClusterRecord:
        """Read back :meth:`to_extra`; ``revision``: the entry's ``lastAttemptedRevision``."""
        action = extra.get("lastAttemptedReleaseAction")
        attempts = Attempts(
            action=ReleaseAction(action) if action in ("install", "upgrade") else None,
            generation=int(extra.get("lastAttemptedGeneration", 0)),
            revision=revision,
            config_digest=str(extra.get("lastAttemptedConfigDigest", "")),
            install_failures=int(extra.get("installFailures", 0)),
            upgrade_failures=int(extra.get("upgradeFailures", 0)),
        )
        recorded = Recorded(
            history=tuple(to_release(e) for e in extra.get("history") or ()),
            attempts=attempts,
            observed_generation=int(extra.get("observedReleaseGeneration", -1)),
            observed_post_renderers_digest=str(extra.get("observedPostRenderersDigest", "")),
            observed_common_metadata_digest=str(extra.get("observedCommonMetadataDigest", "")),
        )
        return cls(
            recorded,
            storage_namespace=str(extra.get("storageNamespace", "")),
            last_handled_force_at=str(extra.get("lastHandledForceAt", "")),
            last_handled_reset_at=str(extra.get("lastHandledResetAt", "")),
            helm_chart=str(extra.get("helmChart", "")),
        )

    def to_extra(self) -> dict[str, Any]:
        """The cluster's status fields, as Flux names them (empty ones left out)."""
        rec = self.recorded
        attempts = rec.attempts
        fields: dict[str, Any] = {
            "history": [snapshot(r) for r in rec.history],
            "lastAttemptedReleaseAction": str(attempts.action) if attempts.action else "",
            "lastAttemptedGeneration": attempts.generation,
            "lastAttemptedConfigDigest": attempts.config_digest,
            "installFailures": attempts.install_failures,
            "upgradeFailures": attempts.upgrade_failures,
            "storageNamespace": self.storage_namespace,
            "observedReleaseGeneration": rec.observed_generation,
            "observedPostRenderersDigest": rec.observed_post_renderers_digest,
            "observedCommonMetadataDigest": rec.observed_common_metadata_digest,
            "lastHandledForceAt": self.last_handled_force_at,
            "lastHandledResetAt": self.last_handled_reset_at,
            "helmChart": self.helm_chart,
        }
        return {k: v for k, v in fields.items() if v not in ("", 0, -1, []) or k == "history"}
