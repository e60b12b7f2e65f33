"""Owner labels for any toolkit group, toolkit annotations, and the one leave-alone rule."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kube.annotations import left_alone, metadata_value
from shared.kube.owner import Owner


def obj(name: str = "c", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}}


@pytest.mark.parametrize(
    ("owner", "labels"),
    [
        (
            Owner.kustomization("apps", "flux-system"),
            {
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            },
        ),
        (
            Owner.helm_release("podinfo", "apps"),
            {
                "helm.toolkit.fluxcd.io/name": "podinfo",
                "helm.toolkit.fluxcd.io/namespace": "apps",
            },
        ),
    ],
)
def test_each_toolkit_group_marks_its_objects_with_its_own_owner_labels(
    owner: Owner, labels: dict[str, str]
) -> None:
    assert owner.labels == labels
    assert owner.owns(obj(labels=labels))
    assert not owner.owns(obj())
    other_namespace = {**labels, f"{owner.group}/namespace": "other"}
    assert not owner.owns(obj(labels=other_namespace))


def test_a_kustomization_does_not_own_what_a_helm_release_of_the_same_name_applied() -> None:
    release = Owner.helm_release("apps", "flux-system")
    assert not Owner.kustomization("apps", "flux-system").owns(obj(labels=release.labels))
    assert str(release) == "HelmRelease flux-system/apps"


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({}, ""),
        ({"annotations": {"kustomize.toolkit.fluxcd.io/prune": "Disabled"}}, "disabled"),
        ({"labels": {"kustomize.toolkit.fluxcd.io/prune": "disabled"}}, "disabled"),
        ({"annotations": {"kustomize.toolkit.fluxcd.io/prune": "DISABLED"}}, "disabled"),
        ({"annotations": None, "labels": None}, ""),
    ],
)
def test_toolkit_keys_are_read_from_labels_or_annotations_case_insensitively(
    meta: dict[str, Any], expected: str
) -> None:
    assert metadata_value(obj(**meta), "kustomize.toolkit.fluxcd.io/prune") == expected
    assert metadata_value(None, "kustomize.toolkit.fluxcd.io/prune") == ""


K = "kustomize.toolkit.fluxcd.io"
RECONCILE_OFF = {"annotations": {f"{K}/reconcile": "disabled"}}
SSA_IGNORE = {"annotations": {f"{K}/ssa": "Ignore"}}
IF_NOT_PRESENT = {"annotations": {f"{K}/ssa": "IfNotPresent"}}
PRUNE_OFF = {"labels": {f"{K}/prune": "disabled"}}


@pytest.mark.parametrize(
    ("desired", "live", "apply_reason", "prune_reason"),
    [
        (obj(), obj(), "", ""),
        (obj(), None, "", ""),
        (obj(**RECONCILE_OFF), obj(), f"{K}/reconcile is disabled", ""),
        (obj(), obj(**RECONCILE_OFF), f"{K}/reconcile is disabled", f"{K}/reconcile is disabled"),
        (obj(**SSA_IGNORE), None, f"{K}/ssa is Ignore", ""),
        (obj(), obj(**SSA_IGNORE), f"{K}/ssa is Ignore", f"{K}/ssa is Ignore"),
        (obj(**IF_NOT_PRESENT), None, "", ""),
        (obj(**IF_NOT_PRESENT), obj(), f"{K}/ssa is IfNotPresent and the object exists", ""),
        (obj(), obj(**PRUNE_OFF), "", f"{K}/prune is disabled"),
    ],
)
def test_one_rule_says_when_apply_and_prune_leave_an_object_alone(
    desired: dict[str, Any],
    live: dict[str, Any] | None,
    apply_reason: str,
    prune_reason: str,
) -> None:
    assert left_alone(desired, live) == apply_reason
    # Prune sees only the live object: what it carries decides.
    assert left_alone(None, live, deleting=True) == prune_reason
