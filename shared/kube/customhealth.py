"""Health of objects whose kind has ``healthCheckExprs``: CEL rules, as Flux reads them.

Pure: no Redis, no I/O. ``CustomHealth.compile`` turns a Kustomization's
``spec.healthCheckExprs[]`` into rules by (group, kind); ``assess`` judges one
object by the rule of its kind, or says None when no rule covers it, so the
built-in kstatus rules apply. As fluxcd/pkg/runtime/cel does:

- a rule matches by API group only (the version is ignored); a rule without
  ``kind`` covers every kind of its group, and one naming the kind wins over it;
- two rules for one (group, kind) are refused;
- an object whose ``status.observedGeneration`` (an integer) differs from its
  ``metadata.generation`` is InProgress;
- then ``inProgress``, ``failed`` and ``current`` are evaluated in that order,
  with the object's top-level fields as variables, and the first that is true
  decides; when none is, the object is InProgress;
- an expression that cannot be evaluated (a field the object lacks yet) leaves
  the object Unknown with the error, so a wait goes on until its timeout.

Results use kstatus's status words (Current, InProgress, Failed, Unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shared.cel import CelError, Expression, compile_bool

__all__ = [
    "CURRENT",
    "FAILED",
    "IN_PROGRESS",
    "UNKNOWN",
    "CustomHealth",
    "CustomStatus",
    "HealthCheckExprs",
    "HealthRule",
    "InvalidHealthChecks",
]

CustomStatus = Literal["Current", "InProgress", "Failed", "Unknown"]
CURRENT: CustomStatus = "Current"
IN_PROGRESS: CustomStatus = "InProgress"
FAILED: CustomStatus = "Failed"
UNKNOWN: CustomStatus = "Unknown"


class HealthCheckExprs(Protocol):
    """One ``healthCheckExprs[]`` entry, as the API model holds it."""

    @property
    def api_version(self) -> str: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def current(self) -> str: ...
    @property
    def in_progress(self) -> str | None: ...
    @property
    def failed(self) -> str | None: ...


class InvalidHealthChecks(ValueError):
    """Rules that cannot be used; ``problems`` names each by its index and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def group_of(api_version: str) -> str:
    """The API group of an apiVersion: ``apps/v1`` -> ``apps``, ``v1`` -> ``""``."""
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class HealthRule:
    """The compiled expressions of one kind (or of every kind of a group: ``kind`` None)."""

    group: str
    kind: str | None
    current: Expression
    in_progress: Expression | None = None
    failed: Expression | None = None

    def assess(self, obj: Mapping[str, Any]) -> tuple[CustomStatus, str]:
        """The status of ``obj`` by this rule, and why."""
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        generation = meta.get("generation") if isinstance(meta, Mapping) else None
        observed = status.get("observedGeneration") if isinstance(status, Mapping) else None
        if _is_int(generation) and _is_int(observed) and generation != observed:
            return IN_PROGRESS, (
                f"generation is {generation}, but latest observed generation is {observed}"
            )
        data = dict(obj)
        for name, expr, result in (
            ("inProgress", self.in_progress, IN_PROGRESS),
            ("failed", self.failed, FAILED),
            ("current", self.current, CURRENT),
        ):
            if expr is None:
                continue
            try:
                if expr.evaluate(data):
                    return result, f"healthCheckExprs {name} is true: {expr.text}"
            except CelError as err:
                return UNKNOWN, f"healthCheckExprs {name}: {err}"
        return IN_PROGRESS, f"healthCheckExprs current is not true yet: {self.current.text}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _compile(entry: HealthCheckExprs, index: int, problems: list[str]) -> HealthRule | None:
    compiled: dict[str, Expression | None] = {}
    for name, text in (
        ("current", entry.current),
        ("inProgress", entry.in_progress),
        ("failed", entry.failed),
    ):
        if text is None or (name != "current" and not text):
            compiled[name] = None
            continue
        try:
            compiled[name] = compile_bool(text)
        except CelError as err:
            problems.append(f"healthCheckExprs[{index}].{name}: {err}")
    current = compiled.get("current")
    if problems or current is None:
        return None
    return HealthRule(
        group_of(entry.api_version),
        entry.kind or None,
        current,
        in_progress=compiled.get("inProgress"),
        failed=compiled.get("failed"),
    )


@dataclass(frozen=True)
class CustomHealth:
    """The ``healthCheckExprs`` rules of one object, by (group, kind or None)."""

    rules: Mapping[tuple[str, str | None], HealthRule]

    @classmethod
    def compile(cls, entries: Sequence[HealthCheckExprs]) -> CustomHealth:
        """Compile every entry, or InvalidHealthChecks naming every bad one."""
        rules: dict[tuple[str, str | None], HealthRule] = {}
        problems: list[str] = []
        for index, entry in enumerate(entries):
            key = (group_of(entry.api_version), entry.kind or None)
            if key in rules:
                what = f"{key[1]}.{key[0]}" if key[1] else f"group {key[0] or 'core'}"
                problems.append(f"healthCheckExprs[{index}]: a second rule for {what}")
                continue
            found: list[str] = []
            rule = _compile(entry, index, found)
            problems += found
            if rule is not None:
                rules[key] = rule
        if problems:
            raise InvalidHealthChecks(problems)
        return cls(rules)

    def rule_for(self, api_version: str, kind: str) -> HealthRule | None:
        """The rule for a kind: its own, else its group's, else None."""
        group = group_of(api_version)
        return self.rules.get((group, kind)) or self.rules.get((group, None))

    def assess(self, obj: Mapping[str, Any]) -> tuple[CustomStatus, str] | None:
        """The status of ``obj`` by its kind's rule; None when no rule covers the kind."""
        rule = self.rule_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        return rule.assess(obj) if rule is not None else None
