"""Validation errors that name the file, document, object and field, and what was expected.

Exception tree::

    ValueError
     └── InvalidObjects      one or more FieldError, all errors of a file at once

:func:`field_errors` turns a pydantic ``ValidationError`` into FieldErrors,
rewording pydantic's messages into the vocabulary of a Kubernetes user.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

__all__ = ["FieldError", "InvalidObjects", "field_errors", "format_path"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class FieldError:
    """One problem in one document.

    ``index`` counts documents of the file from 0 (None when the file itself
    is the problem); the message counts from 1, as people do.
    """

    source: str
    index: int | None
    object: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.source
        if self.index is not None:
            where += f": document {self.index + 1}"
        if self.object:
            where += f" ({self.object})"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"


class InvalidObjects(ValueError):
    """Objects refused by validation; ``errors`` holds every problem found."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def format_path(loc: Iterable[int | str]) -> str:
    """``("spec", "patches", 0, "patch")`` -> ``spec.patches[0].patch``."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue  # pydantic's marker for "the key itself"; the message names it
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def _describe(value: object, *, redact: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, date):
        return "a timestamp (quote it to make it a string)"
    kind = {int: "integer", float: "number", str: "string"}.get(type(value), type(value).__name__)
    if redact:
        return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind} {shown}"


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "int_type": "an integer",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else Any
        else:
            return tp


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """Field names (aliases) of the model found at ``loc`` inside ``model``, if any."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found = [f for n, f in tp.model_fields.items() if part in (n, f.alias)]
            if not found:
                return []
            tp = found[0].annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _unknown_field(name: str, known: list[str]) -> str:
    message = f'unknown field "{name}"'
    by_case = [k for k in known if k.lower() == name.lower() or k == to_camel(name)]
    close = by_case or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f'{message}: did you mean "{close[0]}"?' if close else message


def _message(error: Any, model: type[BaseModel], *, redact: bool) -> str:
    type_ = error["type"]
    loc = error["loc"]
    if type_ == "missing":
        return "required field is missing"
    if type_ == "extra_forbidden":
        return _unknown_field(str(loc[-1]), _fields_at(model, loc[:-1]))
    if type_ in ("value_error", "assertion_error") and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    got = _describe(error["input"], redact=redact)
    if type_ in _EXPECTED:
        hint = ""
        if type_ == "string_type" and isinstance(error["input"], int | float) and not redact:
            hint = f': quote it, e.g. "{error["input"]}"'
        return f"expected {_EXPECTED[type_]}, got {got}{hint}"
    if type_ == "literal_error":
        expected = str(error["ctx"]["expected"]).replace("'", '"')
        return f"expected {expected}, got {got}"
    text = str(error["msg"])
    return text[:1].lower() + text[1:]


def field_errors(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    source: str,
    index: int | None,
    obj: str | None,
    skip: Iterable[str] = (),
    redact: bool = False,
) -> list[FieldError]:
    """One FieldError per pydantic error; ``skip`` drops top-level fields checked elsewhere.

    With ``redact`` (Secrets), the offending values are never quoted back.
    """
    skipped = set(skip)
    out: list[FieldError] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if loc and loc[0] in skipped:
            continue
        message = _message(error, model, redact=redact)
        out.append(FieldError(source, index, obj, format_path(loc), message))
    return out
