"""Drift ignore rules (``spec.ignore[]``): fields left to others, as Flux's SSA manager does.

Pure: no I/O. A rule names JSON pointers (RFC 6901, ``~1`` for ``/``) and
optionally a target (regexes over group, version, kind, name, namespace, each
matched whole; label and annotation selectors). For an object that already
exists, apply then:

- compares live and dry-run objects without the ignored paths, so a change
  only there is not drift and nothing is patched (``without_paths``);
- when it patches for another reason, resolves each ignored path whose live
  and dry-run values differ (``resolve_payload``): if another *Apply* field
  manager owns the field, it is stripped from the payload so that manager
  keeps it; otherwise (sluice alone applied it, someone changed it with an
  Update such as ``kubectl edit``) the live value is copied into the payload,
  so it is kept and sluice still owns the field.

Objects being created are applied whole. Rules are matched against the
dry-run object, as Flux does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.labels import Selector, SelectorError, parse_selector

__all__ = [
    "IgnoreRule",
    "InvalidIgnoreRule",
    "RuleSpec",
    "Target",
    "TargetSpec",
    "compile_rules",
    "ignored_paths",
    "lookup",
    "owned_by_other_applier",
    "parse_pointer",
    "resolve_payload",
    "without_paths",
]

Obj = Mapping[str, Any]


class TargetSpec(Protocol):
    """A ``target`` selector as the API model holds it."""

    @property
    def group(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def label_selector(self) -> str | None: ...
    @property
    def annotation_selector(self) -> str | None: ...


class RuleSpec(Protocol):
    """A ``spec.ignore[]`` entry as the API model holds it."""

    @property
    def paths(self) -> Sequence[str]: ...
    @property
    def target(self) -> TargetSpec | None: ...


class InvalidIgnoreRule(ValueError):
    """An ignore rule with a bad pointer, regex or selector; the message names the field."""


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """``/metadata/annotations/a~1b`` -> ``("metadata", "annotations", "a/b")``."""
    if not pointer.startswith("/") or pointer == "/":
        raise InvalidIgnoreRule(
            f"invalid JSON pointer {pointer!r}: expected '/field/...', e.g. '/spec/replicas'"
        )
    if re.search(r"~[^01]|~$", pointer):
        raise InvalidIgnoreRule(f"invalid JSON pointer {pointer!r}: '~' must be '~0' or '~1'")
    return tuple(s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/"))


def _anchored(field: str, pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(f"^(?:{pattern})$")
    except re.error as err:
        raise InvalidIgnoreRule(f"target.{field}: invalid regex {pattern!r}: {err}") from err


def _selector(field: str, text: str | None) -> Selector | None:
    if not text:
        return None
    try:
        return parse_selector(text)
    except SelectorError as err:
        raise InvalidIgnoreRule(f"target.{field}: {err}") from err


@dataclass(frozen=True)
class Target:
    """Which objects a rule covers; an unset field matches everything."""

    group: re.Pattern[str] | None = None
    version: re.Pattern[str] | None = None
    kind: re.Pattern[str] | None = None
    name: re.Pattern[str] | None = None
    namespace: re.Pattern[str] | None = None
    labels: Selector | None = None
    annotations: Selector | None = None

    @classmethod
    def compile(cls, spec: TargetSpec) -> Target:
        """From a ``target`` selector model; InvalidIgnoreRule names the bad field."""
        return cls(
            group=_anchored("group", spec.group),
            version=_anchored("version", spec.version),
            kind=_anchored("kind", spec.kind),
            name=_anchored("name", spec.name),
            namespace=_anchored("namespace", spec.namespace),
            labels=_selector("labelSelector", spec.label_selector),
            annotations=_selector("annotationSelector", spec.annotation_selector),
        )

    def matches(self, obj: Obj) -> bool:
        """Whether ``obj`` is one of the rule's objects."""
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        meta = obj.get("metadata") or {}
        for pattern, value in (
            (self.group, group),
            (self.version, version),
            (self.kind, str(obj.get("kind", ""))),
            (self.name, str(meta.get("name") or "")),
            (self.namespace, str(meta.get("namespace") or "")),
        ):
            if pattern is not None and not pattern.match(value):
                return False
        if self.labels is not None and not self.labels.matches(meta.get("labels") or {}):
            return False
        annotations = meta.get("annotations") or {}
        return self.annotations is None or self.annotations.matches(annotations)


@dataclass(frozen=True)
class IgnoreRule:
    """Compiled ``spec.ignore[]`` entry: pointers and the objects they apply to."""

    paths: tuple[str, ...]
    target: Target | None = None


def compile_rules(rules: Sequence[RuleSpec]) -> tuple[IgnoreRule, ...]:
    """Compile ``spec.ignore`` models (``paths``, ``target``); InvalidIgnoreRule names the field."""
    compiled = []
    for index, rule in enumerate(rules):
        try:
            for pointer in rule.paths:
                parse_pointer(pointer)
            target = Target.compile(rule.target) if rule.target is not None else None
        except InvalidIgnoreRule as err:
            raise InvalidIgnoreRule(f"ignore[{index}].{err}") from err
        compiled.append(IgnoreRule(tuple(rule.paths), target))
    return tuple(compiled)


def ignored_paths(rules: Sequence[IgnoreRule], obj: Obj) -> tuple[str, ...]:
    """Every ignored pointer that applies to ``obj``, in rule order, without repeats."""
    found: dict[str, None] = {}
    for rule in rules:
        if rule.target is None or rule.target.matches(obj):
            found.update(dict.fromkeys(rule.paths))
    return tuple(found)


def _index(node: Any, segment: str) -> int | None:
    if isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
        return int(segment)
    return None


def lookup(obj: Obj, segments: Sequence[str]) -> tuple[bool, Any]:
    """(found, value) at ``segments`` of ``obj``."""
    node: Any = obj
    for segment in segments:
        if isinstance(node, Mapping) and segment in node:
            node = node[segment]
        elif (i := _index(node, segment)) is not None:
            node = node[i]
        else:
            return False, None
    return True, node


def _parent(obj: Any, segments: Sequence[str]) -> Any:
    found, parent = lookup(obj, segments[:-1])
    return parent if found else None


def _remove(obj: dict[str, Any], segments: Sequence[str]) -> None:
    parent, last = _parent(obj, segments), segments[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif (i := _index(parent, last)) is not None:
        del parent[i]


def _replace(obj: dict[str, Any], segments: Sequence[str], value: Any) -> None:
    parent, last = _parent(obj, segments), segments[-1]
    if isinstance(parent, dict) and last in parent:
        parent[last] = copy.deepcopy(value)
    elif (i := _index(parent, last)) is not None:
        parent[i] = copy.deepcopy(value)


def without_paths(obj: Obj, paths: Sequence[str]) -> dict[str, Any]:
    """A copy of ``obj`` without the fields at ``paths`` (missing ones are no matter)."""
    out = copy.deepcopy(dict(obj))
    # Deepest and highest list index first, so removing one cannot shift another.
    for segments in sorted((parse_pointer(p) for p in paths), key=_removal_order, reverse=True):
        _remove(out, segments)
    return out


def _removal_order(segments: tuple[str, ...]) -> tuple[int, tuple[int | str, ...]]:
    return len(segments), tuple(int(s) if s.isdigit() else s for s in segments)


# --- field ownership (metadata.managedFields, fieldsV1) ---------------------


def _apply_entries(live: Obj) -> list[tuple[str, Mapping[str, Any]]]:
    """(manager, fieldsV1) of every Apply entry of the main resource."""
    entries = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, Mapping) or entry.get("subresource"):
            continue
        fields = entry.get("fieldsV1")
        if entry.get("operation") == "Apply" and isinstance(fields, Mapping):
            entries.append((str(entry.get("manager", "")), fields))
    return entries


def _walk(fields: Mapping[str, Any], segments: Sequence[str]) -> Mapping[str, Any] | None:
    node: Mapping[str, Any] = fields
    for segment in segments:
        child = node.get(segment)
        if not isinstance(child, Mapping):
            return None
        node = child
    return node


def _list_key(
    live: Obj,
    path: Sequence[str],
    index: int,
    parent: Sequence[str],
    entries: Sequence[tuple[str, Mapping[str, Any]]],
) -> str | None:
    """The ``k:{...}`` key of the list item at ``index``, from any manager's fieldsV1."""
    found, items = lookup(live, path)
    if not found or not isinstance(items, list) or index >= len(items):
        return None
    item = items[index]
    if not isinstance(item, Mapping):
        return None
    for _, fields in entries:
        node = _walk(fields, parent) or {}
        for key in node:
            if not key.startswith("k:"):
                continue
            try:
                wanted = json.loads(key[2:])
            except ValueError:
                continue
            if isinstance(wanted, Mapping) and all(item.get(k) == v for k, v in wanted.items()):
                return str(key)
    return None


def _fields_path(
    live: Obj, pointer: str, entries: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[str] | None:
    """``/spec/replicas`` -> ``["f:spec", "f:replicas"]``; list indexes become ``k:{...}``."""
    out: list[str] = []
    path: list[str] = []
    for segment in parse_pointer(pointer):
        if segment.isdigit():
            key = _list_key(live, path, int(segment), out, entries)
            if key is None:
                return None
            out.append(key)
        else:
            out.append(f"f:{segment}")
        path.append(segment)
    return out


def owned_by_other_applier(live: Obj, pointer: str, field_manager: str) -> bool:
    """Whether an Apply manager other than ``field_manager`` owns the field at ``pointer``."""
    entries = _apply_entries(live)
    segments = _fields_path(live, pointer, entries)
    if not segments:
        return False  # not resolvable in managedFields: as Flux, treat sluice as the owner
    for manager, fields in entries:
        if manager == field_manager:
            continue
        parent = _walk(fields, segments[:-1]) if len(segments) > 1 else fields
        if parent is not None and segments[-1] in parent:
            return True
    return False


def resolve_payload(
    payload: Obj, *, live: Obj, dry_run: Obj, paths: Sequence[str], field_manager: str
) -> dict[str, Any]:
    """The payload to apply to an existing object, with each drifted ignored path resolved."""
    out = copy.deepcopy(dict(payload))
    for pointer in paths:
        segments = parse_pointer(pointer)
        live_found, live_value = lookup(live, segments)
        dry_found, dry_value = lookup(dry_run, segments)
        if (live_found, live_value) == (dry_found, dry_value):
            continue
        if owned_by_other_applier(live, pointer, field_manager) or not live_found:
            _remove(out, segments)
        else:
            _replace(out, segments, live_value)
    return out
