"""Whether a HelmRelease's release moved (name, namespaces, chart): uninstall the old one first.

Pure. Before the release state is even determined, Flux compares where the
HelmRelease wants its release with where the newest ``status.history``
snapshot says it is (``ReleaseTargetChanged``). A new storage namespace,
release namespace or release name means another release altogether: the old
one is uninstalled, the history and failure counters cleared, and the new one
installed on the next pass (installing first would fail on objects that
already exist). A new chart name does the same unless
``upgrade.chartNameChangeStrategy`` is ``InPlaceUpdate``.

Flux sources: internal/action/verify.go (ReleaseTargetChanged),
internal/controller/helmrelease_controller.go (reconcileRelease).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.helm.release_state import Release

__all__ = ["ChartNameChangeStrategy", "Target", "TargetChange", "must_reinstall", "target_change"]


class TargetChange(StrEnum):
    """What moved, in the order Flux checks it."""

    STORAGE_NAMESPACE = "storage namespace"
    RELEASE_NAMESPACE = "release namespace"
    RELEASE_NAME = "release name"
    CHART_NAME = "chart name"


class ChartNameChangeStrategy(StrEnum):
    """``spec.upgrade.chartNameChangeStrategy``."""

    REINSTALL = "Reinstall"
    IN_PLACE_UPDATE = "InPlaceUpdate"


@dataclass(frozen=True)
class Target:
    """Where the HelmRelease wants its release now."""

    storage_namespace: str
    release_namespace: str
    release_name: str
    """Already shortened as Helm stores it (over 53 characters: cut and hashed)."""
    chart_name: str


def target_change(
    newest: Release | None, *, recorded_storage_namespace: str, wanted: Target
) -> TargetChange | None:
    """What moved since ``newest`` (the newest history snapshot), or None.

    ``recorded_storage_namespace`` is ``status.storageNamespace``; empty (never
    released) or no snapshot means there is nothing to move away from.
    """
    if not recorded_storage_namespace or newest is None:
        return None
    if wanted.storage_namespace != recorded_storage_namespace:
        return TargetChange.STORAGE_NAMESPACE
    if wanted.release_namespace != newest.namespace:
        return TargetChange.RELEASE_NAMESPACE
    if wanted.release_name != newest.name:
        return TargetChange.RELEASE_NAME
    if wanted.chart_name != newest.chart_name:
        return TargetChange.CHART_NAME
    return None


def must_reinstall(
    change: TargetChange | None,
    strategy: ChartNameChangeStrategy = ChartNameChangeStrategy.REINSTALL,
) -> bool:
    """Whether ``change`` uninstalls the old release before anything else is decided."""
    if change is None:
        return False
    return change != TargetChange.CHART_NAME or strategy == ChartNameChangeStrategy.REINSTALL
