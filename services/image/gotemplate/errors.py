"""The errors of the Go template interpreter, worded as Go's text/template words them.

TemplateError (ValueError)
├── TemplateParseError        the text is not a template ("template: NAME:LINE: ...")
│   └── UnsupportedTemplateError   valid Go, but outside the subset sluice runs
└── TemplateExecError         running it failed ("template: NAME:LINE:COL: executing ...")
"""

from __future__ import annotations

__all__ = [
    "TemplateError",
    "TemplateExecError",
    "TemplateParseError",
    "UnsupportedTemplateError",
]


class TemplateError(ValueError):
    """A Go template could not be parsed or run; the message says where."""


class TemplateParseError(TemplateError):
    """The template text does not parse (Go's parse error, with the line)."""


class UnsupportedTemplateError(TemplateParseError):
    """A Go construct (define, template, block, an unknown function...) sluice does not run."""


class TemplateExecError(TemplateError):
    """Running the template failed (Go's exec error, with line:column and the node)."""
