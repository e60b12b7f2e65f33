"""Flux's postBuild substitution: bash-like ``${var}`` expansion over each built object's YAML.

Follows fluxcd/pkg/envsubst as kustomize-controller v1.9 runs it:

- only braced forms expand; ``$var`` stays as written and ``$$`` is a literal ``$``
  (so ``$${var}`` gives ``${var}``);
- ``${v}``, ``${#v}``, ``${v^}``, ``${v^^}``, ``${v,}``, ``${v,,}``, ``${v:n}``, ``${v:n:len}``,
  ``${v#p}``, ``${v##p}``, ``${v%p}``, ``${v%%p}``, ``${v/p/r}``, ``${v//p/r}``, ``${v/#p/r}``,
  ``${v/%p/r}`` and the defaults ``${v:-d}``, ``${v:=d}``, ``${v-d}``, ``${v=d}``; as in Flux, a
  default also replaces a set but empty value, and ``${v:+d}``/``${v:?d}`` act as ``${v:-d}``;
- defaults and patterns may nest expressions: ``${a:=${b}-x}``;
- strict mode (Flux 2.9's default): an unset variable without a default is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from services.kustomize.manifests import BuildFailed, dump_object, load_documents, object_ref

__all__ = [
    "SUBSTITUTE_KEY",
    "ExpansionError",
    "PostBuild",
    "SubstitutionError",
    "expand",
    "substitute_object",
    "substitute_objects",
]

SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
_NAME_PATTERN = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
_NAME_RE = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_DEFAULT_OPS = frozenset({"-", "=", "?", "+", ":-", ":=", ":?", ":+"})
_INT_RE = re.compile(r"^[+-]?[0-9]+$")


class SubstitutionError(BuildFailed):
    """postBuild substitution failed: an invalid variable name, an unset variable, bad syntax."""


class ExpansionError(ValueError):
    """An expression in the text cannot be parsed or refers to an unset variable."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class PostBuild:
    """``spec.postBuild`` with substituteFrom already read: each entry's data, in list order."""

    substitute: Mapping[str, str] = field(default_factory=dict)
    substitute_from: tuple[Mapping[str, str], ...] = ()
    strategy: Literal["WithVariables", "Always"] = "WithVariables"
    strict: bool = True

    def variables(self) -> dict[str, str]:
        """Merged variables, later sources winning and inline ``substitute`` last; names checked."""
        sources = [
            (f"postBuild.substituteFrom[{i}]", data) for i, data in enumerate(self.substitute_from)
        ]
        sources.append(("postBuild.substitute", self.substitute))
        merged: dict[str, str] = {}
        for where, data in sources:
            for name, value in data.items():
                if not _NAME_RE.match(name):
                    raise SubstitutionError(
                        f"{where}: variable name {name!r} is invalid, must match '{_NAME_PATTERN}'"
                    )
                # Flux strips newlines so a value cannot break the YAML around it.
                merged[name] = str(value).replace("\n", "")
        return merged

    def enabled(self, variables: Mapping[str, str]) -> bool:
        """Whether substitution runs at all: with variables, or always when asked."""
        return bool(variables) or self.strategy == "Always"

    def cache_key(self) -> dict[str, Any] | None:
        """What of postBuild changes the rendered output; None when substitution is off."""
        variables = self.variables()
        if not self.enabled(variables):
            return None
        return {"variables": variables, "strategy": self.strategy, "strict": self.strict}


@dataclass(frozen=True)
class _Expr:
    param: str
    op: str
    args: tuple[_Node, ...]
    at: int  # offset of "${" in the text, for error messages


_Node = str | _Expr


class _Parser:
    """Recursive descent over the envsubst grammar; ``pos`` indexes ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def fail(self, message: str) -> ExpansionError:
        return ExpansionError(message, self.pos)

    def parse(self) -> list[_Node]:
        nodes: list[_Node] = []
        chunk: list[str] = []
        while self.pos < len(self.text):
            dollar = self.text.find("$", self.pos)
            dollar = len(self.text) if dollar < 0 else dollar
            chunk.append(self.text[self.pos : dollar])
            self.pos = dollar
            if dollar == len(self.text):
                break
            after = self.peek(1)
            if after == "{":
                nodes.append("".join(chunk))
                chunk = []
                nodes.append(self.expression())
            else:  # "$$" is one literal "$"; a lone "$" stays
                chunk.append("$")
                self.pos += 2 if after == "$" else 1
        nodes.append("".join(chunk))
        return nodes

    def expression(self) -> _Expr:
        start = self.pos
        self.pos += 2  # "${"
        if self.peek() == "#":
            self.pos += 1
            return self.close(_Expr(self.name(), "#len", (), start))
        name = self.name()
        char = self.peek()
        if char == ":":
            if self.peek(1) in ("=", "-", "?", "+"):
                self.pos += 2
                return self.default(name, ":" + self.text[self.pos - 1], start)
            self.pos += 1
            return self.substring(name, start)
        if char in ("=", "-"):
            self.pos += 1
            return self.default(name, char, start)
        if char in ("+", "?"):
            hint = f"use ${{{name}:-default}}"
            raise self.fail(f"unsupported expansion '${{{name}{char}...}}': {hint}")
        if char in (",", "^"):
            op = self.run(",^", limit=2)
            return self.close(_Expr(name, op, (), start))
        if char == "/":
            return self.replace(name, start)
        if char in ("#", "%"):
            op = self.run(char, limit=2)
            arg = self.param("}", escapes=False)
            return self.close(_Expr(name, op, (arg,), start))
        return self.close(_Expr(name, "", (), start))

    def name(self) -> str:
        begin = self.pos
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.pos += 1
        if self.pos == begin:
            raise self.fail("unable to parse variable name")
        return self.text[begin : self.pos]

    def run(self, chars: str, *, limit: int) -> str:
        begin = self.pos
        while self.peek() and self.peek() in chars and self.pos - begin < limit:
            self.pos += 1
        return self.text[begin : self.pos]

    def close(self, expr: _Expr) -> _Expr:
        if self.peek() != "}":
            self.pos = expr.at
            raise self.fail("missing closing brace")
        self.pos += 1
        return expr

    def param(self, stops: str, *, escapes: bool) -> _Node:
        """One argument: a nested expression, or text up to a stop character or ``${``."""
        if self.peek() == "$" and self.peek(1) == "{":
            return self.expression()
        chunk: list[str] = []
        while self.pos < len(self.text):
            char, nxt = self.peek(), self.peek(1)
            if char in stops or (char == "$" and nxt == "{"):
                break
            if escapes and ((char == "\\" and nxt in ("/", "\\")) or (char == "$" and nxt == "$")):
                chunk.append(nxt)
                self.pos += 2
                continue
            chunk.append(char)
            self.pos += 1
        if not chunk:
            raise self.fail("unable to parse substitution within function")
        return "".join(chunk)

    def default(self, name: str, op: str, start: int) -> _Expr:
        args: list[_Node] = []
        while self.peek() != "}":
            if not self.peek():
                self.pos = start
                raise self.fail("missing closing brace")
            args.append(self.param("}", escapes=False))
        self.pos += 1
        return _Expr(name, op, tuple(args), start)

    def substring(self, name: str, start: int) -> _Expr:
        args = [self.param(":}", escapes=False)]
        if self.peek() == ":":
            self.pos += 1
            args.append(self.param("}", escapes=False))
        return self.close(_Expr(name, ":", tuple(args), start))

    def replace(self, name: str, start: int) -> _Expr:
        self.pos += 1  # "/"
        op = "/"
        if self.peek() in ("/", "#", "%"):
            op += self.peek()
            self.pos += 1
        pattern = "" if self.peek() in ("/", "}") else self.param("/}", escapes=True)
        args: list[_Node] = [pattern]
        if self.peek() == "/":
            self.pos += 1
            if self.peek() != "}":
                args.append(self.param("}", escapes=True))
        return self.close(_Expr(name, op, tuple(args), start))


def _glob(pattern: str) -> re.Pattern[str]:
    # Shell pattern as envsubst reads it: '*' also matches '/', '\x' quotes x.
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    rx = _glob(pattern)
    # Candidates run from the longest to the shortest non-empty part, as in envsubst.
    lengths = range(len(value), 0, -1)
    parts = [value[:n] if prefix else value[len(value) - n :] for n in lengths]
    matches = [part for part in parts if rx.fullmatch(part)]
    if not matches:
        return value
    cut = len(matches[0] if longest else matches[-1])
    return value[cut:] if prefix else value[: len(value) - cut]


def _substring(value: str, args: Sequence[str]) -> str:
    # Bash needs a space before a negative offset (${v: -3}); ${v:-3} is a default.
    offset = args[0].strip()
    if not _INT_RE.match(offset):
        return value
    pos = int(offset)
    pos = max(len(value) + pos, 0) if pos < 0 else pos
    if len(args) == 1:
        return value[pos:]
    if not _INT_RE.match(args[1].strip()):
        return value
    length = int(args[1].strip())
    if length < 0:
        end = len(value) + length
        return value[pos:end] if end >= pos else ""
    return value[pos : pos + length]


def _replace(value: str, op: str, args: Sequence[str]) -> str:
    pattern, repl = args[0], (args[1] if len(args) > 1 else "")
    if op == "//":
        return value.replace(pattern, repl)
    if op == "/#":
        return repl + value[len(pattern) :] if value.startswith(pattern) else value
    if op == "/%":
        return value[: len(value) - len(pattern)] + repl if value.endswith(pattern) else value
    return value.replace(pattern, repl, 1)


def _apply(op: str, value: str, args: Sequence[str]) -> str:
    if op in _DEFAULT_OPS:
        return value if value else "".join(args)
    if op == "#len":
        return str(len(value))
    casing = {
        ",": value[:1].lower() + value[1:],
        ",,": value.lower(),
        "^": value[:1].upper() + value[1:],
        "^^": value.upper(),
    }
    if op in casing:
        return casing[op]
    if op == ":":
        return _substring(value, args)
    if op in ("#", "##", "%", "%%"):
        return _trim(value, args[0], prefix=op[0] == "#", longest=len(op) == 2)
    if op.startswith("/"):
        return _replace(value, op, args)
    return value


def expand(text: str, lookup: Callable[[str], str | None], *, strict: bool = True) -> str:
    """Expand every ``${...}`` in ``text``; ``lookup`` returns None for an unset variable."""

    def evaluate(node: _Node) -> str:
        if isinstance(node, str):
            return node
        # Arguments are expanded first, as envsubst does, even when unused.
        args = [evaluate(arg) for arg in node.args]
        value = lookup(node.param)
        if value is None:
            if strict and node.op not in _DEFAULT_OPS:
                raise ExpansionError(
                    f"variable not set (strict mode): {json.dumps(node.param)}", node.at
                )
            value = ""
        return _apply(node.op, value, args)

    return "".join(evaluate(node) for node in _Parser(text).parse())


def _line_at(text: str, position: int) -> str:
    start = text.rfind("\n", 0, max(position, 0)) + 1
    end = text.find("\n", start)
    return text[start : end if end != -1 else len(text)].strip()


def _disabled(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    marks = (meta.get("labels") or {}, meta.get("annotations") or {})
    return any(mark.get(SUBSTITUTE_KEY) == "disabled" for mark in marks)


def substitute_object(
    obj: Mapping[str, Any], variables: Mapping[str, str], *, strict: bool = True
) -> dict[str, Any]:
    """``obj`` with its YAML text expanded and parsed again; SubstitutionError names the object."""
    text = dump_object(obj)
    if "$" not in text:
        return dict(obj)
    ref = object_ref(obj)
    try:
        result = expand(text, variables.get, strict=strict)
    except ExpansionError as exc:
        raise SubstitutionError(
            f"postBuild substitution failed for {ref}: {exc} (in {_line_at(text, exc.position)!r})"
        ) from exc
    if result == text:
        return dict(obj)
    try:
        docs = load_documents(result, source="the substituted YAML")
    except BuildFailed as exc:
        raise SubstitutionError(f"postBuild substitution failed for {ref}: {exc}") from exc
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise SubstitutionError(
            f"postBuild substitution failed for {ref}: the result is not one YAML object"
        )
    substituted: dict[str, Any] = json.loads(json.dumps(docs[0], default=str))
    return substituted


def substitute_objects(
    objects: Sequence[Mapping[str, Any]], post_build: PostBuild
) -> list[dict[str, Any]]:
    """Substitute every object except those marked ``substitute: disabled`` (label/annotation)."""
    variables = post_build.variables()
    if not post_build.enabled(variables):
        return [dict(obj) for obj in objects]
    return [
        dict(obj) if _disabled(obj) else substitute_object(obj, variables, strict=post_build.strict)
        for obj in objects
    ]
