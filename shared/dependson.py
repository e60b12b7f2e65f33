"""Whether one ``dependsOn`` entry lets an object go ahead (§3.3 step 3), as Flux decides.

Pure: the two documents as the store holds them go in, a reason to wait (or
None) comes out. The built-in check wants the dependency Ready at its current
generation and, when both read the same source (Kustomizations), applied at the
revision about to be built; a HelmRelease has no sourceRef, so for it only the
first half applies, as in helm-controller. A ``readyExpr`` replaces that
check: a CEL expression over ``self`` (the object being reconciled) and ``dep``
(the dependency)
that must be true. With ``additive`` (Flux's ``AdditiveCELDependencyCheck``
gate) both must pass.

Exception tree::

    ValueError
     └── CelError (shared.cel)
          ├── InvalidExpression   the readyExpr does not compile: stalls
          └── EvaluationError     it failed on these documents: retried
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.api.kustomize import READY_EXPR_VARIABLES
from shared.cel import Expression, compile_bool

__all__ = ["compile_ready_expr", "not_ready_reason", "source_of"]


def compile_ready_expr(text: str) -> Expression:
    """A readyExpr, type-checked against ``self`` and ``dep`` (InvalidExpression if not)."""
    return compile_bool(text, variables=READY_EXPR_VARIABLES)


def source_of(doc: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The (kind, namespace, name) of a Kustomization document's source; None without one."""
    ref = doc["spec"].get("sourceRef")
    if not isinstance(ref, Mapping):
        return None
    return ref["kind"], ref.get("namespace") or doc["metadata"]["namespace"], ref["name"]


def _label(doc: Mapping[str, Any]) -> str:
    return f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"


def _builtin(self_doc: Mapping[str, Any], dep: Mapping[str, Any], revision: str) -> str | None:
    status = dep.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    current = status.get("observedGeneration") == dep["metadata"].get("generation")
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    if not (conditions and current and ready):
        return f"dependency '{_label(dep)}' is not ready"
    source = source_of(self_doc)
    same_source = source is not None and source_of(dep) == source
    if same_source and status.get("lastAppliedRevision") != revision:
        return f"dependency '{_label(dep)}' is not ready at revision {revision}"
    return None


def not_ready_reason(
    self_doc: Mapping[str, Any],
    dep: Mapping[str, Any],
    *,
    revision: str,
    ready_expr: Expression | None = None,
    additive: bool = False,
) -> str | None:
    """Why ``self_doc`` must wait for ``dep``, or None when it may go ahead.

    ``revision`` is the source revision about to be built; an EvaluationError
    from ``ready_expr`` propagates (Flux retries it).
    """
    if ready_expr is not None:
        if not ready_expr.evaluate({"self": dict(self_doc), "dep": dict(dep)}):
            return f"dependency '{_label(dep)}' is not ready according to readyExpr eval"
        if not additive:
            return None
    return _builtin(self_doc, dep, revision)
