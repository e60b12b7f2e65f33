"""CEL expressions as Flux compiles and evaluates them (fluxcd/pkg/runtime/cel).

Pure: no Redis, no I/O. An expression is compiled once (and cached by its
text) and evaluated against plain JSON data, the objects as the API server or
the store holds them. Two ways to compile, as Flux has:

- with declared ``variables`` (``dependsOn[].readyExpr``: ``self`` and ``dep``):
  type-checked, so a reference to anything else is refused when compiled, and
  the result must be a bool;
- without (``healthCheckExprs``): parsed only, and the object's own top-level
  fields are the variables (``status.conditions...``), since a custom resource
  need not have ``spec`` or ``status``. Such an expression can fail only when
  evaluated: a field the object lacks, or a result that is not a bool.

The environment carries the extensions Flux's does that the library has:
strings, encoders and optional types (``obj.?field.orValue(x)``).

Exception tree::

    ValueError
     └── CelError                 names the expression
          ├── InvalidExpression   refused when compiled: syntax, undeclared name, type
          └── EvaluationError     failed when evaluated: missing field, not a bool
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cel_expr_python import cel

# The library (a native module, ~11 MiB resident) is imported by the functions
# that compile and evaluate, not here: every process that loads the API models
# imports this module, and only objects that hold expressions need CEL.

__all__ = [
    "CelError",
    "EvaluationError",
    "Expression",
    "InvalidExpression",
    "compile_bool",
]


class CelError(ValueError):
    """A CEL expression that cannot be used; ``expression`` is its text."""

    def __init__(self, expression: str, message: str) -> None:
        self.expression = expression
        super().__init__(message)


class InvalidExpression(CelError):
    """The expression does not compile (Flux's reason: InvalidCELExpression)."""


class EvaluationError(CelError):
    """The expression compiled but could not be evaluated against this data."""


def _extensions() -> list[cel.CelExtensionBase]:
    from cel_expr_python.ext import ext_encoders, ext_optional, ext_strings

    return [ext_strings.ExtStrings(), ext_encoders.ExtEncoders(), ext_optional.ExtOptional()]


@cache
def _environment(variables: tuple[str, ...] | None) -> cel.Env:
    from cel_expr_python import cel

    declared = {name: cel.Type.DYN for name in variables or ()}
    return cel.NewEnv(variables=declared, extensions=_extensions())


_STATUS_PREFIXES = ("INVALID_ARGUMENT: ", "NOT_FOUND: ", "UNKNOWN: ", "ERROR: ", "<input>:")


def _detail(error: object) -> str:
    """The library's message on one line, without status codes or the caret drawing."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
    changed = True
    while changed:
        changed = False
        for prefix in _STATUS_PREFIXES:
            if text.startswith(prefix):
                text, changed = text.removeprefix(prefix), True
    return text.removesuffix(" [INVALID_ARGUMENT]").replace(" (in container '')", "")


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression that yields a bool."""

    text: str
    variables: tuple[str, ...] | None
    _program: cel.Expression = field(repr=False, compare=False)

    def evaluate(self, data: Mapping[str, Any]) -> bool:
        """The expression's value with ``data`` bound as its variables."""
        from cel_expr_python import cel

        if self.variables is not None:
            missing = [name for name in self.variables if name not in data]
            if missing:
                raise EvaluationError(self.text, f"no value for {', '.join(missing)}")
        try:
            result = self._program.eval(data=dict(data))
        except RuntimeError as err:
            raise EvaluationError(
                self.text, f"failed to evaluate the CEL expression '{self.text}': {_detail(err)}"
            ) from err
        kind = result.type()
        if kind == cel.Type.ERROR:
            raise EvaluationError(
                self.text,
                f"failed to evaluate the CEL expression '{self.text}': {_detail(result.value())}",
            )
        if kind != cel.Type.BOOL:
            raise EvaluationError(
                self.text,
                f"the CEL expression '{self.text}' gave {kind.name().lower()} "
                f"{result.plain_value()!r}, expected a bool",
            )
        return bool(result.value())


# User specs hold the expressions: bounded, though a fleet has few distinct ones.
@lru_cache(maxsize=1024)
def _compile(text: str, variables: tuple[str, ...] | None) -> Expression:
    from cel_expr_python import cel

    try:
        program = _environment(variables).compile(text, disable_check=variables is None)
    except RuntimeError as err:
        raise InvalidExpression(
            text, f"failed to parse the CEL expression '{text}': {_detail(err)}"
        ) from err
    if variables is not None:
        returns = program.return_type()
        if returns != cel.Type.BOOL:
            raise InvalidExpression(
                text,
                f"the CEL expression '{text}' must give a bool, but gives {returns.name().lower()}",
            )
    return Expression(text, variables, program)


def compile_bool(text: str, *, variables: Sequence[str] | None = None) -> Expression:
    """Compile ``text`` (cached); with ``variables`` it is type-checked against them."""
    if not text.strip():
        raise InvalidExpression(text, "the CEL expression is empty")
    return _compile(text, tuple(variables) if variables is not None else None)
