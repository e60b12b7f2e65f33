"""CEL expressions as Flux compiles and evaluates them (fluxcd/pkg/runtime/cel).

Pure: no Redis, no I/O. An expression is compiled once (and cached by its
text) and evaluated against plain JSON data, the objects as the API server or
the store holds them. Two ways to compile, as Flux has:

- with declared ``variables`` (``dependsOn[].readyExpr``: ``self`` and ``dep``):
  type-checked, so a reference to anything else is refused when compiled, and
  the result must be a bool (``compile_bool``) or, for a Provider's
  ``commitStatusExpr`` (``event``, ``provider``, ``alert``), a string
  (``compile_string``);
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
          └── EvaluationError     failed when evaluated: missing field, wrong result type
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
    "StringExpression",
    "compile_bool",
    "compile_string",
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
class _Compiled:
    """A compiled CEL expression; subclasses name the type its result must have."""

    text: str
    variables: tuple[str, ...] | None
    _program: cel.Expression = field(repr=False, compare=False)

    _RESULT = "bool"  # the cel.Type name the result must have

    def _result(self, data: Mapping[str, Any]) -> Any:
        """The expression's plain value with ``data`` bound, checked against ``_RESULT``."""
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
        if kind != getattr(cel.Type, self._RESULT.upper()):
            raise EvaluationError(
                self.text,
                f"the CEL expression '{self.text}' gave {kind.name().lower()} "
                f"{result.plain_value()!r}, expected a {self._RESULT}",
            )
        return result.value()


class Expression(_Compiled):
    """A compiled CEL expression that yields a bool."""

    def evaluate(self, data: Mapping[str, Any]) -> bool:
        """The expression's value with ``data`` bound as its variables."""
        return bool(self._result(data))


class StringExpression(_Compiled):
    """A compiled CEL expression that yields a string (a commit status context)."""

    _RESULT = "string"

    def evaluate(self, data: Mapping[str, Any]) -> str:
        """The expression's value with ``data`` bound as its variables."""
        return str(self._result(data))


# User specs hold the expressions: bounded, though a fleet has few distinct ones.
@lru_cache(maxsize=1024)
def _compile(
    text: str, variables: tuple[str, ...] | None, kind: type[_Compiled] = Expression
) -> _Compiled:
    from cel_expr_python import cel

    try:
        program = _environment(variables).compile(text, disable_check=variables is None)
    except RuntimeError as err:
        raise InvalidExpression(
            text, f"failed to parse the CEL expression '{text}': {_detail(err)}"
        ) from err
    if variables is not None:
        returns = program.return_type()
        # As Flux's WithOutputType: exact, so a bare field (dyn) is refused too.
        if returns != getattr(cel.Type, kind._RESULT.upper()):
            raise InvalidExpression(
                text,
                f"the CEL expression '{text}' must give a {kind._RESULT}, "
                f"but gives {returns.name().lower()}",
            )
    return kind(text, variables, program)


def compile_bool(text: str, *, variables: Sequence[str] | None = None) -> Expression:
    """Compile ``text`` (cached); with ``variables`` it is type-checked against them."""
    if not text.strip():
        raise InvalidExpression(text, "the CEL expression is empty")
    compiled = _compile(text, tuple(variables) if variables is not None else None)
    assert isinstance(compiled, Expression)
    return compiled


def compile_string(text: str, *, variables: Sequence[str]) -> StringExpression:
    """Compile ``text`` (cached), type-checked against ``variables``, to give a string.

    As Flux compiles a Provider's ``commitStatusExpr`` (``WithOutputType(StringType)``
    with the struct variables ``event``, ``alert``, ``provider``).
    """
    if not text.strip():
        raise InvalidExpression(text, "the CEL expression is empty")
    compiled = _compile(text, tuple(variables), StringExpression)
    assert isinstance(compiled, StringExpression)
    return compiled
