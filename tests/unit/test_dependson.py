"""dependsOn: the built-in readiness check, and readyExpr replacing (or adding to) it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.cel import EvaluationError, InvalidExpression
from shared.dependson import compile_ready_expr, not_ready_reason

REVISION = "main@sha1:" + "a" * 40


def ks(
    name: str,
    *,
    source: str = "repo",
    ready: str | None = "True",
    generation: int = 1,
    observed: int = 1,
    applied: str = REVISION,
    version: str = "v1",
) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed, "lastAppliedRevision": applied}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {
            "name": name,
            "namespace": "apps",
            "generation": generation,
            "labels": {"app/version": version},
        },
        "spec": {"sourceRef": {"kind": "GitRepository", "name": source}},
        "status": status,
    }


def assert_reason(found: str | None, expected: str | None) -> None:
    if expected is None:
        assert found is None
    else:
        assert found is not None and expected in found, found


SELF = ks("frontend")
SAME_VERSION = "dep.metadata.labels['app/version'] == self.metadata.labels['app/version']"


@pytest.mark.parametrize(
    ("dep", "reason"),
    [
        (ks("backend"), None),
        (ks("backend", ready="False"), "dependency 'apps/backend' is not ready"),
        (ks("backend", ready=None), "dependency 'apps/backend' is not ready"),
        (ks("backend", generation=2), "dependency 'apps/backend' is not ready"),
        (ks("backend", applied="old"), f"is not ready at revision {REVISION}"),
        # Another source: its revision is not ours to compare.
        (ks("backend", source="other", applied="old"), None),
    ],
)
def test_the_built_in_check_wants_the_dependency_ready_and_current(
    dep: dict[str, Any], reason: str | None
) -> None:
    assert_reason(not_ready_reason(SELF, dep, revision=REVISION), reason)


@pytest.mark.parametrize(
    ("dep", "additive", "reason"),
    [
        # readyExpr replaces the built-in check: a not-Ready dependency may do.
        (ks("backend", ready="False"), False, None),
        (ks("backend", version="v2"), False, "not ready according to readyExpr eval"),
        # With the additive gate both must pass.
        (ks("backend", ready="False"), True, "dependency 'apps/backend' is not ready"),
        (ks("backend"), True, None),
    ],
)
def test_ready_expr_decides_instead_of_the_built_in_check(
    dep: dict[str, Any], additive: bool, reason: str | None
) -> None:
    expr = compile_ready_expr(SAME_VERSION)
    found = not_ready_reason(SELF, dep, revision=REVISION, ready_expr=expr, additive=additive)
    assert_reason(found, reason)


def test_a_ready_expr_with_an_unknown_variable_does_not_compile() -> None:
    with pytest.raises(InvalidExpression, match="undeclared reference to 'deps"):
        compile_ready_expr("self.metadata.generation == deps.metadata.generation")


def test_a_ready_expr_that_fails_on_the_documents_raises() -> None:
    expr = compile_ready_expr("dep.status.missing == 'x'")
    with pytest.raises(EvaluationError, match="Key not found"):
        not_ready_reason(SELF, ks("backend"), revision=REVISION, ready_expr=expr)
