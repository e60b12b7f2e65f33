"""A Go text/template interpreter for the subset commit message templates use.

Flux renders ``spec.git.commit.messageTemplate`` with Go's text/template
and Sprig. No well-kept Python package runs Go templates: the PyPI ones
either wrap Go through cgo (a Go toolchain in every worker, and data passed
as JSON, which loses methods like ``.Changed.Objects`` and Go's printing of
structs) or are unmaintained. So sluice interprets them: the lexer, parser
and executor follow Go's ``text/template`` (trim markers, comments,
pipelines, variables, if/else if/range/with/break/continue, field chains,
map and method access, Go's truth and fmt printing), with Go's builtins and
the Sprig functions in ``funcs``. Anything else (``define``, ``template``,
``block``, another function) is refused when the template is parsed, with
an error naming the line: ``UnsupportedTemplateError``.

Use: ``Template.parse(text, name=...)`` then ``template.render(data)``;
data are Python stand-ins for Go values (``values.GoStruct``, ``GoMap``,
dict, list, str, int, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.image.gotemplate.errors import (
    TemplateError,
    TemplateExecError,
    TemplateParseError,
    UnsupportedTemplateError,
)
from services.image.gotemplate.execute import execute
from services.image.gotemplate.funcs import FUNCTIONS
from services.image.gotemplate.parse import ListNode, parse
from services.image.gotemplate.values import MISSING, GoMap, GoStruct

__all__ = [
    "MISSING",
    "GoMap",
    "GoStruct",
    "Template",
    "TemplateError",
    "TemplateExecError",
    "TemplateParseError",
    "UnsupportedTemplateError",
]


@dataclass(frozen=True)
class Template:
    """A parsed template, ready to render any number of times."""

    name: str
    text: str
    tree: ListNode

    @classmethod
    def parse(cls, text: str, *, name: str) -> Template:
        """Parse ``text``. Raises TemplateParseError (UnsupportedTemplateError) naming the line."""
        return cls(name=name, text=text, tree=parse(text, name=name, functions=FUNCTIONS))

    def render(self, data: Any) -> str:
        """The output for ``data``. Raises TemplateExecError as Go words it."""
        return execute(self.tree, data, name=self.name, text=self.text, functions=FUNCTIONS)
