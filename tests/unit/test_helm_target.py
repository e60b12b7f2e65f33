"""A release that moved (namespaces, name, chart name) is reinstalled: ReleaseTargetChanged."""

from __future__ import annotations

import pytest

from services.helm.release_state import HelmStatus, Release
from services.helm.target import (
    ChartNameChangeStrategy,
    Target,
    TargetChange,
    must_reinstall,
    target_change,
)

NEWEST = Release(
    name="apps-podinfo",
    namespace="apps",
    version=3,
    status=HelmStatus.DEPLOYED,
    chart_name="podinfo",
    chart_version="6.5.0",
    config_digest="sha256:v1",
    digest="sha256:r3",
)
HERE = Target("flux-system", "apps", "apps-podinfo", "podinfo")


@pytest.mark.parametrize(
    ("wanted", "change"),
    [
        (HERE, None),
        (Target("other", "apps", "apps-podinfo", "podinfo"), TargetChange.STORAGE_NAMESPACE),
        (Target("flux-system", "web", "apps-podinfo", "podinfo"), TargetChange.RELEASE_NAMESPACE),
        (Target("flux-system", "apps", "podinfo", "podinfo"), TargetChange.RELEASE_NAME),
        (Target("flux-system", "apps", "apps-podinfo", "podinfo2"), TargetChange.CHART_NAME),
        # Several moved: the first in Flux's order is named.
        (Target("other", "web", "podinfo", "podinfo2"), TargetChange.STORAGE_NAMESPACE),
    ],
)
def test_what_moved_is_named_in_flux_s_order(wanted: Target, change: TargetChange | None) -> None:
    assert target_change(NEWEST, recorded_storage_namespace="flux-system", wanted=wanted) == change


def test_nothing_moves_before_a_first_release() -> None:
    moved = Target("other", "web", "x", "y")
    assert target_change(None, recorded_storage_namespace="flux-system", wanted=moved) is None
    assert target_change(NEWEST, recorded_storage_namespace="", wanted=moved) is None


@pytest.mark.parametrize(
    ("change", "strategy", "reinstall"),
    [
        (None, ChartNameChangeStrategy.REINSTALL, False),
        (TargetChange.RELEASE_NAME, ChartNameChangeStrategy.IN_PLACE_UPDATE, True),
        (TargetChange.STORAGE_NAMESPACE, ChartNameChangeStrategy.REINSTALL, True),
        (TargetChange.CHART_NAME, ChartNameChangeStrategy.REINSTALL, True),
        (TargetChange.CHART_NAME, ChartNameChangeStrategy.IN_PLACE_UPDATE, False),
    ],
)
def test_a_chart_rename_is_updated_in_place_only_when_asked(
    change: TargetChange | None, strategy: ChartNameChangeStrategy, reinstall: bool
) -> None:
    assert must_reinstall(change, strategy) == reinstall
