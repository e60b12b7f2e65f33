"""`sluice apply` refuses CEL expressions and drift ignore rules that cannot work."""

from __future__ import annotations

from typing import Any

import pytest

from shared.api import validate


def kustomization(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            **spec,
        },
    }


SEALED = {
    "apiVersion": "bitnami.com/v1alpha1",
    "kind": "SealedSecret",
    "current": "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True')",
    "failed": "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'False')",
}


def test_flux_documented_expressions_are_accepted() -> None:
    doc = kustomization(
        wait=True,
        healthCheckExprs=[SEALED, {"apiVersion": "example.com/v1", "current": "true"}],
        dependsOn=[
            {
                "name": "backend",
                "readyExpr": (
                    "dep.metadata.labels['app/version'] == self.metadata.labels['app/version'] "
                    "&& dep.status.conditions.filter(e, e.type == 'Ready')"
                    ".all(e, e.status == 'True')"
                ),
            }
        ],
        ignore=[
            {"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}},
            {"paths": ["/metadata/annotations/external-dns.alpha.kubernetes.io~1hostname"]},
        ],
    )
    assert validate(doc) == []


@pytest.mark.parametrize(
    ("spec", "field", "says"),
    [
        (
            {"healthCheckExprs": [{**SEALED, "current": "status.conditions.filter(e,"}]},
            "spec.healthCheckExprs[0].current",
            "failed to parse the CEL expression 'status.conditions.filter(e,'",
        ),
        (
            {"healthCheckExprs": [{**SEALED, "inProgress": "status.phase =="}]},
            "spec.healthCheckExprs[0].inProgress",
            "Syntax error",
        ),
        (
            {"healthCheckExprs": [{**SEALED, "failed": "status.phase = 'x'"}]},
            "spec.healthCheckExprs[0].failed",
            "Syntax error",
        ),
        (
            {"healthCheckExprs": [SEALED, {**SEALED, "apiVersion": "bitnami.com/v1"}]},
            "spec.healthCheckExprs",
            "entries 0 and 1 are both for kind SealedSecret of group bitnami.com",
        ),
        (
            {"dependsOn": [{"name": "a"}, {"name": "b", "readyExpr": "deps.status.ready"}]},
            "spec.dependsOn[1].readyExpr",
            "undeclared reference to 'deps.status.ready'",
        ),
        (
            {"dependsOn": [{"name": "b", "readyExpr": "dep.metadata.name"}]},
            "spec.dependsOn[0].readyExpr",
            "must give a bool",
        ),
        (
            {"ignore": [{"paths": ["spec/replicas"]}]},
            "spec.ignore[0].paths",
            "invalid JSON pointer 'spec/replicas'",
        ),
        (
            {"ignore": [{"paths": ["/spec"], "target": {"kind": "Deploy("}}]},
            "spec.ignore[0].target",
            "target.kind: invalid regex",
        ),
        (
            {"ignore": [{"paths": ["/spec"], "target": {"labelSelector": "a in (b"}}]},
            "spec.ignore[0].target",
            "target.labelSelector",
        ),
    ],
)
def test_an_expression_or_rule_that_cannot_work_is_refused_naming_its_field(
    spec: dict[str, Any], field: str, says: str
) -> None:
    errors = validate(kustomization(**spec))
    assert [e.field for e in errors] == [field], errors
    assert says in errors[0].message
