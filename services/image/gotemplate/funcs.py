"""The functions a template may call: Go's builtins, and the Sprig functions commit messages use.

Flux gives its templates ``sprig.HermeticTxtFuncMap()`` (over 70 functions).
sluice implements Go's builtins (``and or not len index print printf println
eq ne lt le gt ge``) and the Sprig string and list helpers that Flux's
documentation and commit messages use; a template naming any other function
fails to parse, naming the function and its position
(UnsupportedTemplateError). Each function declares its Go parameter types so
a wrong argument fails as Go's does ("wrong type for value; expected
string; got int").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.image.gotemplate.printf import sprintf
from services.image.gotemplate.values import (
    MISSING,
    GoMap,
    GoStruct,
    format_value,
    go_type_name,
    sprint,
    sprintln,
)
from shared.goregexp import InvalidRegexp, compile_go

__all__ = ["FUNCTIONS", "MAX_STRING", "FunctionError", "GoFunc", "is_true", "strval"]

# No function builds a string longer than a commit message could be.
MAX_STRING = 1 << 20


class FunctionError(ValueError):
    """A function refused its arguments (Go: "error calling NAME: ...")."""


@dataclass(frozen=True)
class GoFunc:
    """A callable with Go's parameter kinds: "string", "int", "bool", "float", "any"."""

    call: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None  # kind of a trailing ...parameter
    lazy: bool = False  # and/or: arguments are thunks, evaluated left to right as needed


def is_true(value: Any) -> bool:
    """Go template truth: false, 0, nil, empty string/slice/map and no value are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def strval(value: Any) -> str:
    """Sprig's strval: strings as they are, Stringers by String(), the rest as %v."""
    return value if isinstance(value, str) else format_value(value)


def _strslice(value: Any) -> list[str]:
    if value is None or value is MISSING:
        return []
    if isinstance(value, list | tuple):
        return [strval(item) for item in value if item is not None]
    return [strval(value)]


def _list(value: Any, name: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    raise FunctionError(f"cannot {name} on type {type(value).__name__}")


def _empty(value: Any) -> bool:
    if isinstance(value, GoStruct):
        return False
    return not is_true(value)


def _and(*thunks: Callable[[], Any]) -> Any:
    value: Any = None
    for thunk in thunks:
        value = thunk()
        if not is_true(value):
            return value
    return value


def _or(*thunks: Callable[[], Any]) -> Any:
    value: Any = None
    for thunk in thunks:
        value = thunk()
        if is_true(value):
            return value
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def _incompatible(first: Any, second: Any) -> FunctionError:
    return FunctionError(
        f"incompatible types for comparison: {go_type_name(first)} and {go_type_name(second)}"
    )


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FunctionError("missing argument for comparison")
    for other in others:
        if _kind(first) != _kind(other):
            if first is not MISSING and other is not MISSING:
                raise _incompatible(first, other)
            continue
        if _kind(first) == "other":
            for value in (first, other):
                if isinstance(value, list | tuple | Mapping):
                    shown = format_value(value)
                    raise FunctionError(f"non-comparable type {shown}: {go_type_name(value)}")
            if type(first) is not type(other):
                raise _incompatible(first, other)
        if first == other:
            return True
    return False


def _ordered(first: Any, second: Any) -> tuple[Any, Any]:
    kind = _kind(first)
    if kind in ("bool", "other"):
        raise FunctionError("invalid type for comparison")
    if kind != _kind(second):
        raise _incompatible(first, second)
    return first, second


def _lt(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x < y)


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    raise FunctionError(f"len of type {type(value).__name__}")


def _index(item: Any, *indexes: Any) -> Any:
    for index in indexes:
        if isinstance(item, Mapping) and not isinstance(item, GoMap):
            if not isinstance(index, str):
                raise FunctionError(f"value has type {go_type_name(index)}; should be string")
            item = item.get(index, MISSING)
        elif isinstance(item, Mapping):
            item = item.get(index, MISSING)
        elif isinstance(item, list | tuple | str):
            if not isinstance(index, int) or isinstance(index, bool):
                raise FunctionError(f"cannot index slice/array with type {type(index).__name__}")
            if not 0 <= index < len(item):
                raise FunctionError(f"index out of range: {index}")
            item = item.encode()[index] if isinstance(item, str) else item[index]
        else:
            raise FunctionError(f"can't index item of type {type(item).__name__}")
    return item


def _trunc(count: int, text: str) -> str:
    if count < 0 and len(text) + count > 0:
        return text[len(text) + count :]
    if count >= 0 and len(text) > count:
        return text[:count]
    return text


def _substr(start: int, end: int, text: str) -> str:
    if start < 0:
        return text[:end]
    if end < 0 or end > len(text):
        return text[start:]
    return text[start:end]


def _regex(pattern: str) -> Any:
    try:
        return compile_go(pattern)
    except InvalidRegexp as error:
        raise FunctionError(f"error parsing regexp: {error}") from None


def _title(text: str) -> str:
    out, previous = [], " "
    for char in text:
        out.append(char.upper() if not (previous.isalnum() or previous == "_") else char)
        previous = char
    return "".join(out)


def _uniq(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items, "uniq"):
        if item not in out:
            out.append(item)
    return out


def _default(default: Any, *given: Any) -> Any:
    return default if not given or _empty(given[0]) else given[0]


def _bounded(size: int) -> None:
    if size > MAX_STRING:
        raise FunctionError(f"result over {MAX_STRING} characters")


def _repeat(count: int, text: str) -> str:
    _bounded(max(count, 0) * len(text))
    return text * max(count, 0)


def _indent(spaces: int, text: str) -> str:
    _bounded(spaces * (text.count("\n") + 1) + len(text))
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


# Go parameter types: string, int, interface{} ("any"), bool, reflect.Value ("value": what
# the comparison builtins take, so they see a missing key as Go's invalid value).
_S, _I, _A, _B, _V = "string", "int", "any", "bool", "value"

FUNCTIONS: Mapping[str, GoFunc] = {
    # Go's builtins
    "and": GoFunc(_and, (_V,), variadic=_V, lazy=True),
    "or": GoFunc(_or, (_V,), variadic=_V, lazy=True),
    "not": GoFunc(lambda value: not is_true(value), (_V,)),
    "len": GoFunc(_len, (_V,)),
    "index": GoFunc(_index, (_V,), variadic=_V),
    "print": GoFunc(sprint, variadic=_A),
    "println": GoFunc(sprintln, variadic=_A),
    "printf": GoFunc(sprintf, (_S,), variadic=_A),
    "eq": GoFunc(_eq, (_V,), variadic=_V),
    "ne": GoFunc(lambda a, b: not _eq(a, b), (_V, _V)),
    "lt": GoFunc(_lt, (_V, _V)),
    "le": GoFunc(lambda a, b: _lt(a, b) or _eq(a, b), (_V, _V)),
    "gt": GoFunc(lambda a, b: not (_lt(a, b) or _eq(a, b)), (_V, _V)),
    "ge": GoFunc(lambda a, b: not _lt(a, b), (_V, _V)),
    # Sprig: strings
    "lower": GoFunc(str.lower, (_S,)),
    "upper": GoFunc(str.upper, (_S,)),
    "title": GoFunc(_title, (_S,)),
    "trim": GoFunc(lambda s: s.strip(" \t\n\r\v\f"), (_S,)),
    "trimAll": GoFunc(lambda cut, s: s.strip(cut), (_S, _S)),
    "trimPrefix": GoFunc(lambda prefix, s: s.removeprefix(prefix), (_S, _S)),
    "trimSuffix": GoFunc(lambda suffix, s: s.removesuffix(suffix), (_S, _S)),
    "replace": GoFunc(lambda old, new, s: s.replace(old, new), (_S, _S, _S)),
    "contains": GoFunc(lambda sub, s: sub in s, (_S, _S)),
    "hasPrefix": GoFunc(lambda prefix, s: s.startswith(prefix), (_S, _S)),
    "hasSuffix": GoFunc(lambda suffix, s: s.endswith(suffix), (_S, _S)),
    "repeat": GoFunc(_repeat, (_I, _S)),
    "trunc": GoFunc(_trunc, (_I, _S)),
    "substr": GoFunc(_substr, (_I, _I, _S)),
    "nospace": GoFunc(lambda s: "".join(s.split()), (_S,)),
    "indent": GoFunc(_indent, (_I, _S)),
    "nindent": GoFunc(lambda spaces, s: "\n" + _indent(spaces, s), (_I, _S)),
    "quote": GoFunc(
        lambda *v: " ".join(sprintf("%q", strval(x)) for x in v if x is not None), variadic=_A
    ),
    "squote": GoFunc(
        lambda *v: " ".join(f"'{strval(x)}'" for x in v if x is not None), variadic=_A
    ),
    "cat": GoFunc(lambda *v: " ".join(strval(x) for x in v if x is not None), variadic=_A),
    "toString": GoFunc(strval, (_A,)),
    "join": GoFunc(lambda sep, v: sep.join(_strslice(v)), (_S, _A)),
    "splitList": GoFunc(lambda sep, s: s.split(sep) if sep else list(s), (_S, _S)),
    "sha256sum": GoFunc(lambda s: hashlib.sha256(s.encode()).hexdigest(), (_S,)),
    "regexMatch": GoFunc(lambda rx, s: _regex(rx).search(s) is not None, (_S, _S)),
    # Sprig: defaults and lists
    "default": GoFunc(_default, (_A,), variadic=_A),
    "empty": GoFunc(_empty, (_A,)),
    "coalesce": GoFunc(lambda *v: next((x for x in v if not _empty(x)), None), variadic=_A),
    "ternary": GoFunc(lambda yes, no, test: yes if test else no, (_A, _A, _B)),
    "list": GoFunc(lambda *v: list(v), variadic=_A),
    "first": GoFunc(lambda v: (_list(v, "first") or [None])[0], (_A,)),
    "last": GoFunc(lambda v: (_list(v, "last") or [None])[-1], (_A,)),
    "uniq": GoFunc(_uniq, (_A,)),
    "has": GoFunc(lambda needle, v: needle in _list(v, "has"), (_A, _A)),
    "sortAlpha": GoFunc(lambda v: sorted(_strslice(v)), (_A,)),
}
