"""spec.ignore drift rules: pointers, targets, drift comparison and strip-or-adopt by ownership."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shared.api.kustomize import IgnoreRule as IgnoreRuleSpec
from shared.kube.driftignore import (
    InvalidIgnoreRule,
    compile_rules,
    ignored_paths,
    owned_by_other_applier,
    parse_pointer,
    resolve_payload,
    without_paths,
)


def rule(paths: list[str], **target: str) -> IgnoreRuleSpec:
    doc: dict[str, Any] = {"paths": paths}
    if target:
        doc["target"] = target
    return IgnoreRuleSpec.model_validate(doc)


def deployment(name: str = "web", *, replicas: int = 2, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "apps", "labels": labels},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}},
        },
    }


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps"}}


@pytest.mark.parametrize(
    ("pointer", "segments"),
    [
        ("/spec/replicas", ("spec", "replicas")),
        (
            "/metadata/annotations/external-dns.alpha.kubernetes.io~1hostname",
            ("metadata", "annotations", "external-dns.alpha.kubernetes.io/hostname"),
        ),
        ("/a~0b", ("a~b",)),
        (
            "/spec/template/spec/containers/0/resources",
            ("spec", "template", "spec", "containers", "0", "resources"),
        ),
    ],
)
def test_a_pointer_is_read_as_rfc_6901(pointer: str, segments: tuple[str, ...]) -> None:
    assert parse_pointer(pointer) == segments


@pytest.mark.parametrize("pointer", ["spec/replicas", "", "/", "/a~2b", "/a~"])
def test_a_bad_pointer_is_refused(pointer: str) -> None:
    with pytest.raises(InvalidIgnoreRule, match="invalid JSON pointer"):
        parse_pointer(pointer)


RULES = compile_rules(
    [
        rule(["/spec/replicas"], kind="Deployment"),
        rule(["/metadata/annotations/x"], kind="Service", name="web"),
        rule(["/spec/paused"], group="app.*", labelSelector="tier in (front,edge)"),
        rule(["/data"], namespace="other"),
        rule(["/spec/minReadySeconds"]),
    ]
)


@pytest.mark.parametrize(
    ("obj", "paths"),
    [
        (deployment(), ("/spec/replicas", "/spec/minReadySeconds")),
        (
            deployment(tier="front"),
            ("/spec/replicas", "/spec/paused", "/spec/minReadySeconds"),
        ),
        (deployment(tier="back"), ("/spec/replicas", "/spec/minReadySeconds")),
        (SERVICE, ("/metadata/annotations/x", "/spec/minReadySeconds")),
        # Regexes match whole values: "Deploy" does not match "Deployment".
        ({**SERVICE, "metadata": {"name": "web-2"}}, ("/spec/minReadySeconds",)),
    ],
)
def test_rules_apply_to_the_objects_their_target_selects(
    obj: dict[str, Any], paths: tuple[str, ...]
) -> None:
    assert ignored_paths(RULES, obj) == paths


def test_a_kind_regex_is_anchored() -> None:
    rules = compile_rules([rule(["/spec/replicas"], kind="Deploy")])
    assert ignored_paths(rules, deployment()) == ()


@dataclass(frozen=True)
class Sel:
    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


@dataclass(frozen=True)
class Rule:
    paths: list[str]
    target: Sel | None = None


@pytest.mark.parametrize(
    ("target", "says"),
    [
        (Sel(kind="Deploy("), "ignore[0].target.kind: invalid regex 'Deploy('"),
        (Sel(label_selector="a in (b"), "ignore[0].target.labelSelector:"),
        (Sel(annotation_selector="!"), "ignore[0].target.annotationSelector:"),
    ],
)
def test_a_bad_target_is_refused_naming_the_field(target: Sel, says: str) -> None:
    with pytest.raises(InvalidIgnoreRule) as caught:
        compile_rules([Rule(["/spec"], target)])
    assert says in str(caught.value)


def test_a_change_only_in_ignored_paths_is_no_drift() -> None:
    live, dry = deployment(replicas=5), deployment(replicas=2)
    paths = ignored_paths(RULES, dry)
    assert live != dry
    assert without_paths(live, paths) == without_paths(dry, paths)
    assert without_paths(deployment(replicas=5), ["/spec/missing/x"]) == deployment(replicas=5)


def managed(*entries: tuple[str, str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"manager": m, "operation": op, "apiVersion": "apps/v1", "fieldsV1": fields}
        for m, op, fields in entries
    ]


SLUICE_FIELDS = {
    "f:spec": {
        "f:replicas": {},
        "f:template": {"f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}},
    }
}


def live_with(*entries: tuple[str, str, dict[str, Any]], replicas: int = 5) -> dict[str, Any]:
    live = deployment(replicas=replicas)
    live["metadata"]["managedFields"] = managed(*entries)
    return live


@pytest.mark.parametrize(
    ("entries", "pointer", "other"),
    [
        ([("sluice", "Apply", SLUICE_FIELDS)], "/spec/replicas", False),
        (
            [("sluice", "Apply", SLUICE_FIELDS), ("hpa", "Apply", {"f:spec": {"f:replicas": {}}})],
            "/spec/replicas",
            True,
        ),
        # An Update (kubectl edit) does not make another owner in Flux's sense.
        (
            [
                ("sluice", "Apply", SLUICE_FIELDS),
                ("kubectl", "Update", {"f:spec": {"f:replicas": {}}}),
            ],
            "/spec/replicas",
            False,
        ),
        # List items are found by their merge key.
        (
            [
                ("sluice", "Apply", SLUICE_FIELDS),
                (
                    "vpa",
                    "Apply",
                    {
                        "f:spec": {
                            "f:template": {
                                "f:spec": {
                                    "f:containers": {'k:{"name":"app"}': {"f:resources": {}}}
                                }
                            }
                        }
                    },
                ),
            ],
            "/spec/template/spec/containers/0/resources",
            True,
        ),
        ([("sluice", "Apply", SLUICE_FIELDS)], "/spec/template/spec/containers/3/image", False),
    ],
)
def test_ownership_is_read_from_apply_managers_in_managed_fields(
    entries: list[tuple[str, str, dict[str, Any]]], pointer: str, other: bool
) -> None:
    assert owned_by_other_applier(live_with(*entries), pointer, "sluice") is other


def test_a_field_another_applier_owns_is_stripped_from_the_payload() -> None:
    live = live_with(
        ("sluice", "Apply", SLUICE_FIELDS), ("hpa", "Apply", {"f:spec": {"f:replicas": {}}})
    )
    payload = deployment(replicas=2)
    out = resolve_payload(
        payload, live=live, dry_run=payload, paths=["/spec/replicas"], field_manager="sluice"
    )
    assert "replicas" not in out["spec"]
    assert payload["spec"]["replicas"] == 2  # the input is left alone


def test_a_field_sluice_alone_applied_keeps_its_live_value() -> None:
    live = live_with(("sluice", "Apply", SLUICE_FIELDS), ("kubectl", "Update", {}), replicas=7)
    payload = deployment(replicas=2)
    out = resolve_payload(
        payload, live=live, dry_run=payload, paths=["/spec/replicas"], field_manager="sluice"
    )
    assert out["spec"]["replicas"] == 7


def test_a_path_that_has_not_drifted_is_sent_as_it_is() -> None:
    live = live_with(("hpa", "Apply", {"f:spec": {"f:replicas": {}}}), replicas=2)
    payload = deployment(replicas=2)
    out = resolve_payload(
        payload, live=live, dry_run=payload, paths=["/spec/replicas"], field_manager="sluice"
    )
    assert out == payload
