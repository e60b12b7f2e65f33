"""healthCheckExprs: which rule covers a kind, and the status it gives, in Flux's order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from shared.kube.customhealth import CustomHealth, InvalidHealthChecks


@dataclass(frozen=True)
class Rule:
    api_version: str
    current: str
    kind: str | None = None
    in_progress: str | None = None
    failed: str | None = None


SEALED = Rule(
    "bitnami.com/v1alpha1",
    kind="SealedSecret",
    current="status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True')",
    failed="status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'False')",
)
WIDGETS = Rule(
    "example.com/v1",
    current="status.phase == 'Ready'",
    in_progress="status.phase == 'Pending'",
    failed="status.phase == 'Broken'",
)
GADGET = Rule("example.com/v2", kind="Gadget", current="status.gadgetReady == true")


def obj(api_version: str, kind: str, *, status: Any = None, generation: int = 1) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default", "generation": generation},
    }
    if status is not None:
        doc["status"] = status
    return doc


def synced(value: str) -> dict[str, Any]:
    return {"conditions": [{"type": "Synced", "status": value}]}


HEALTH = CustomHealth.compile([SEALED, WIDGETS, GADGET])


@pytest.mark.parametrize(
    ("doc", "status", "says"),
    [
        (obj("bitnami.com/v1alpha1", "SealedSecret", status=synced("True")), "Current", "current"),
        (obj("bitnami.com/v1alpha1", "SealedSecret", status=synced("False")), "Failed", "failed"),
        (obj("bitnami.com/v1alpha1", "SealedSecret", status={"conditions": []}), "Failed", ""),
        (
            obj("bitnami.com/v1alpha1", "SealedSecret", status=synced("Unknown")),
            "InProgress",
            "not true yet",
        ),
        # The version is ignored: the rule is for the group.
        (obj("bitnami.com/v1", "SealedSecret", status=synced("True")), "Current", ""),
        # A group-only rule covers every kind of the group...
        (obj("example.com/v1", "Widget", status={"phase": "Ready"}), "Current", ""),
        (obj("example.com/v1", "Sprocket", status={"phase": "Broken"}), "Failed", ""),
        # ... inProgress is looked at first, then failed, then current ...
        (obj("example.com/v1", "Widget", status={"phase": "Pending"}), "InProgress", "inProgress"),
        # ... but a rule naming the kind wins over it.
        (obj("example.com/v1", "Gadget", status={"gadgetReady": True}), "Current", ""),
        (obj("example.com/v1", "Gadget", status={"phase": "Ready"}), "Unknown", "gadgetReady"),
        # An unobserved generation is InProgress whatever the expressions say.
        (
            obj(
                "example.com/v1",
                "Widget",
                status={"phase": "Ready", "observedGeneration": 1},
                generation=2,
            ),
            "InProgress",
            "generation is 2, but latest observed generation is 1",
        ),
        # A field the object lacks yet: Unknown, with the error (the wait goes on).
        (obj("bitnami.com/v1alpha1", "SealedSecret"), "Unknown", 'No value with name "status"'),
    ],
)
def test_a_covered_object_gets_the_status_of_its_rule(
    doc: dict[str, Any], status: str, says: str
) -> None:
    result = HEALTH.assess(doc)
    assert result is not None
    assert result[0] == status
    assert says in result[1]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("apps/v1", "Deployment"), ("v1", "ConfigMap"), ("other.com/v1", "SealedSecret")],
)
def test_an_object_no_rule_covers_is_left_to_the_built_in_rules(
    api_version: str, kind: str
) -> None:
    assert HEALTH.assess(obj(api_version, kind, status={})) is None


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        ([SEALED, SEALED], "healthCheckExprs[1]: a second rule for SealedSecret.bitnami.com"),
        ([WIDGETS, Rule("example.com/v2", current="true")], "a second rule for group example.com"),
        ([Rule("a.io/v1", current="status.(")], "healthCheckExprs[0].current: failed to parse"),
        (
            [Rule("a.io/v1", current="true", failed="status ==")],
            "healthCheckExprs[0].failed: failed to parse the CEL expression 'status =='",
        ),
    ],
)
def test_rules_that_cannot_work_are_refused_naming_each(rules: list[Rule], says: str) -> None:
    with pytest.raises(InvalidHealthChecks) as caught:
        CustomHealth.compile(rules)
    assert says in str(caught.value)
