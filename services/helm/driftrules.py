"""Which objects and fields of a release drift detection looks at (``spec.driftDetection``).

Pure: no I/O. Flux's helm-controller leaves out of its diff:

- an object labelled or annotated ``helm.toolkit.fluxcd.io/driftDetection:
  disabled`` (value compared case-insensitively), in the release manifest or
  on the cluster: it is *excluded*, listed as such and never drift;
- an object an ``ignore[]`` rule covers with the empty pointer ``""`` (the
  whole document): excluded too;
- the fields at the other pointers of ``ignore[]`` rules whose ``target``
  (if any) matches the object: left out of the comparison, as the kustomize
  service's ``spec.ignore`` does (``shared.kube.driftignore``, used as is).

Flux sources: internal/action/diff.go (ExclusionSelector, ignore rules),
fluxcd/pkg ssa/jsondiff/unstructured.go (IgnorePathRoot), ssa/utils AnyInMetadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.kube.driftignore import IgnoreRule, InvalidIgnoreRule, RuleSpec, Target, compile_rules

__all__ = [
    "DRIFT_DETECTION_KEY",
    "ROOT_POINTER",
    "DriftRules",
    "InvalidIgnoreRule",
    "compile_drift_rules",
    "disabled_by_metadata",
]

DRIFT_DETECTION_KEY = "helm.toolkit.fluxcd.io/driftDetection"
ROOT_POINTER = ""  # an ignore path that leaves the whole object out


def disabled_by_metadata(obj: Mapping[str, Any] | None) -> bool:
    """Whether ``obj`` opts out with ``helm.toolkit.fluxcd.io/driftDetection: disabled``."""
    meta = (obj or {}).get("metadata") or {}
    for where in ("labels", "annotations"):
        value = (meta.get(where) or {}).get(DRIFT_DETECTION_KEY)
        if isinstance(value, str) and value.lower() == "disabled":
            return True
    return False


@dataclass(frozen=True)
class _PathsOnly:
    """A rule of ``ignore[]`` with its root pointers taken out, for ``compile_rules``."""

    paths: Sequence[str]
    target: Any


@dataclass(frozen=True)
class DriftRules:
    """``driftDetection.ignore`` compiled: whole-object rules apart from field rules."""

    fields: tuple[IgnoreRule, ...] = ()
    # Targets of rules holding the root pointer; None stands for "every object".
    whole: tuple[Target | None, ...] = ()

    def excludes(self, obj: Mapping[str, Any]) -> str:
        """Why ``obj`` (as desired, or as live) is left out of the diff; "" when it is not."""
        if disabled_by_metadata(obj):
            return f"{DRIFT_DETECTION_KEY} is disabled"
        if any(target is None or target.matches(obj) for target in self.whole):
            return "an ignore rule covers the whole object"
        return ""


def compile_drift_rules(rules: Sequence[RuleSpec]) -> DriftRules:
    """Compile ``driftDetection.ignore``; InvalidIgnoreRule names the bad field.

    The root pointer ``""`` is Flux's way to ignore a whole object; every
    other pointer must be a field pointer (``/spec/replicas``).
    """
    whole: list[Target | None] = []
    rest: list[_PathsOnly] = []
    for index, rule in enumerate(rules):
        paths = [p for p in rule.paths if p != ROOT_POINTER]
        if len(paths) < len(rule.paths):
            try:
                whole.append(Target.compile(rule.target) if rule.target is not None else None)
            except InvalidIgnoreRule as err:
                raise InvalidIgnoreRule(f"ignore[{index}].{err}") from err
        # Kept even when empty, so compile_rules numbers the rules as the user does.
        rest.append(_PathsOnly(paths, rule.target))
    fields = tuple(rule for rule in compile_rules(rest) if rule.paths)
    return DriftRules(fields=fields, whole=tuple(whole))
