"""Label selectors: kubectl's ``-l`` syntax and Kubernetes ``LabelSelector`` dicts, as one type.

Pure: no Redis, no I/O. The store filters lists with it and fan-out matches
Clusters with it, so both read selectors exactly as kubectl and the API server do:

- ``a=b``, ``a==b``: label ``a`` is ``b``; ``a!=b``: ``a`` is absent or not ``b``;
- ``a in (x,y)``, ``a notin (x,y)``: set membership (``notin`` also matches absent);
- ``a``: label present; ``!a``: label absent;
- requirements are joined by ``,`` and all must hold; an empty selector matches everything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

__all__ = [
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "as_selector",
    "matches_label_selector",
    "parse_selector",
    "selector_from_dict",
    "selector_from_match_labels",
]

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
_OPERATORS: tuple[Operator, ...] = ("In", "NotIn", "Exists", "DoesNotExist")

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"^{_NAME}$")
_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TOKEN_RE = re.compile(r"\s*(?:(?P<op>!=|==|=|!|,|\(|\))|(?P<word>[^\s!=,()]+))")


class SelectorError(ValueError):
    """A label selector that cannot be parsed or is not valid."""


@dataclass(frozen=True)
class Requirement:
    """One condition on one label key; ``values`` is sorted and empty for (Does)Exists."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if len(self.values) == 1:
            op = "=" if self.operator == "In" else "!="
            return f"{self.key}{op}{self.values[0]}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """All of ``requirements`` must hold; no requirements selects everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether ``labels`` (None means no labels) satisfy every requirement."""
        present = labels or {}
        return all(req.matches(present) for req in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector has no requirements and so selects everything."""
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


def _check_key(key: str, where: str) -> None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX_RE.match(prefix)):
        raise SelectorError(
            f"{where}: label key {key!r} has an invalid prefix: expected a DNS subdomain "
            "such as 'example.com'"
        )
    if not _NAME_RE.match(name):
        raise SelectorError(
            f"{where}: label key {key!r} is not valid: expected at most 63 characters of "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )


def _check_value(value: str, where: str) -> None:
    if value and not _NAME_RE.match(value):
        raise SelectorError(
            f"{where}: label value {value!r} is not valid: expected at most 63 characters of "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )


def _requirement(key: str, operator: Operator, values: list[str], where: str) -> Requirement:
    _check_key(key, where)
    for value in values:
        _check_value(value, where)
    if operator in ("In", "NotIn") and not values:
        raise SelectorError(f"{where}: operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"{where}: operator {operator} takes no values")
    return Requirement(key, operator, tuple(sorted(set(values))))


class _Parser:
    """Recursive descent over kubectl selector tokens."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
        pos = 0
        while pos < len(text):
            match = _TOKEN_RE.match(text, pos)
            if match is None:  # only trailing whitespace is left
                break
            kind = "op" if match.group("op") else "word"
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            pos = match.end()
        self.index = 0

    def fail(self, expected: str) -> SelectorError:
        if self.index < len(self.tokens):
            _, tok, pos = self.tokens[self.index]
            found = f"{tok!r} at position {pos}"
        else:
            found = "the end"
        return SelectorError(f"label selector {self.text!r}: expected {expected}, found {found}")

    def peek(self) -> tuple[str, str] | None:
        if self.index < len(self.tokens):
            kind, tok, _ = self.tokens[self.index]
            return kind, tok
        return None

    def take(self, kind: str, expected: str, value: str | None = None) -> str:
        nxt = self.peek()
        if nxt is None or nxt[0] != kind or (value is not None and nxt[1] != value):
            raise self.fail(expected)
        self.index += 1
        return nxt[1]

    def parse(self) -> Selector:
        requirements: list[Requirement] = []
        if self.peek() is None:
            return Selector()
        while True:
            requirements.append(self.requirement())
            if self.peek() is None:
                return Selector(tuple(requirements))
            self.take("op", "',' between requirements", ",")

    def requirement(self) -> Requirement:
        where = f"label selector {self.text!r}"
        if self.peek() == ("op", "!"):
            self.index += 1
            key = self.take("word", "a label key after '!'")
            return _requirement(key, "DoesNotExist", [], where)
        key = self.take("word", "a label key")
        nxt = self.peek()
        if nxt is None or nxt == ("op", ","):
            return _requirement(key, "Exists", [], where)
        if nxt in (("op", "="), ("op", "==")) or nxt == ("op", "!="):
            self.index += 1
            operator: Operator = "NotIn" if nxt[1] == "!=" else "In"
            after = self.peek()
            value = "" if after is None or after == ("op", ",") else self.take("word", "a value")
            return _requirement(key, operator, [value], where)
        if nxt in (("word", "in"), ("word", "notin")):
            self.index += 1
            self.take("op", f"'(' after '{nxt[1]}'", "(")
            values = [self.take("word", "a value")]
            while self.peek() == ("op", ","):
                self.index += 1
                values.append(self.take("word", "a value after ','"))
            self.take("op", "')' or ',' in the value list", ")")
            return _requirement(key, "In" if nxt[1] == "in" else "NotIn", values, where)
        raise self.fail(f"an operator (=, ==, !=, in, notin) or ',' after {key!r}")


def parse_selector(text: str) -> Selector:
    """Parse a kubectl-style selector such as ``"a=b,c!=d,e in (x,y),!f,g"``."""
    return _Parser(text).parse()


def selector_from_match_labels(
    labels: Mapping[str, str], *, where: str = "matchLabels"
) -> Selector:
    """A selector requiring every ``key: value`` of ``labels``."""
    reqs = []
    for key, value in sorted(labels.items()):
        if not isinstance(value, str):
            raise SelectorError(f"{where}.{key}: expected a string value, got {value!r}")
        reqs.append(_requirement(key, "In", [value], where))
    return Selector(tuple(reqs))


def selector_from_dict(spec: Mapping[str, object], *, where: str = "selector") -> Selector:
    """A selector from a Kubernetes ``LabelSelector`` ``{matchLabels, matchExpressions}``."""
    unknown = sorted(set(spec) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise SelectorError(
            f"{where}: unknown field(s) {', '.join(unknown)}: "
            "expected matchLabels and/or matchExpressions"
        )
    match_labels = spec.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError(f"{where}.matchLabels: expected a mapping of label key to value")
    reqs = list(selector_from_match_labels(match_labels, where=f"{where}.matchLabels").requirements)
    expressions = spec.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError(f"{where}.matchExpressions: expected a list")
    for i, expr in enumerate(expressions):
        at = f"{where}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            raise SelectorError(f"{at}: expected a mapping with key, operator and values")
        key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if not isinstance(key, str):
            raise SelectorError(f"{at}.key: expected a label key")
        if operator not in _OPERATORS:
            raise SelectorError(
                f"{at}.operator: {operator!r} is not one of {', '.join(_OPERATORS)}"
            )
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError(f"{at}.values: expected a list of strings")
        reqs.append(_requirement(key, cast(Operator, operator), values, at))
    return Selector(tuple(reqs))


def as_selector(value: str | Mapping[str, object] | Selector | None) -> Selector:
    """Coerce a kubectl string, a matchLabels dict, a LabelSelector dict or None to a Selector."""
    if value is None:
        return Selector()
    if isinstance(value, Selector):
        return value
    if isinstance(value, str):
        return parse_selector(value)
    # A matchLabels dict has only string values; a LabelSelector's are a dict and a list.
    if all(isinstance(v, str) for v in value.values()):
        return selector_from_match_labels(cast(Mapping[str, str], value))
    return selector_from_dict(value)


def matches_label_selector(
    selector: Mapping[str, object] | str | Selector, labels: Mapping[str, str] | None
) -> bool:
    """Whether ``labels`` match a LabelSelector dict (or kubectl string); ``{}`` matches all."""
    return as_selector(selector).matches(labels)
