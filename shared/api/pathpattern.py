"""The ``{name}`` captures of an ArtifactGenerator's ``pathPattern``, and the templates using them.

``pathPattern: "@repo/apps/{app}/envs/{env}"`` matches directories of the
source ``repo``; each ``{name}`` captures one path segment. Artifact names,
``from`` and ``to`` may then use ``{app}``, ``{env}``: :func:`render` fills them.
The grammar is source-watcher's: a capture name is ``[A-Za-z_][A-Za-z0-9_]*``,
used once in the pattern; a brace without its pair is an error.
"""

from __future__ import annotations

import re

__all__ = ["PathPattern", "TemplateError", "parse_path_pattern", "render", "template_names"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_KEY = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_PATTERN = re.compile(r"@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)", re.DOTALL)


class TemplateError(ValueError):
    """A pattern or template whose braces, names or values do not fit."""


def _pieces(template: str) -> list[tuple[str, bool]]:
    """``template`` as (text, is_capture) pieces; TemplateError on a bad brace or name."""
    pieces: list[tuple[str, bool]] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == "{":
            end = template.find("}", i + 1)
            if end < 0:
                raise TemplateError(f'"{template}": the "{{" at offset {i} has no closing brace')
            name = template[i + 1 : end]
            if not _NAME.fullmatch(name):
                raise TemplateError(
                    f'"{template}": capture "{{{name}}}" must be a name matching '
                    "[A-Za-z_][A-Za-z0-9_]*"
                )
            pieces.append((name, True))
            i = end + 1
        elif c == "}":
            raise TemplateError(f'"{template}": the "}}" at offset {i} has no opening brace')
        else:
            braces = (j for j in (template.find("{", i), template.find("}", i)) if j >= 0)
            end = min(braces, default=len(template))
            pieces.append((template[i:end], False))
            i = end
    return pieces


def template_names(template: str) -> list[str]:
    """The capture names ``template`` uses, in order."""
    return [text for text, capture in _pieces(template) if capture]


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]``."""
    out = []
    for text, capture in _pieces(template):
        if capture and text not in values:
            raise TemplateError(f'"{template}": "{{{text}}}" is not captured by pathPattern')
        out.append(values[text] if capture else text)
    return "".join(out)


class PathPattern:
    """A parsed ``pathPattern``: the alias it reads, and the regex of the directories it matches."""

    def __init__(self, alias: str, pattern: str, regex: re.Pattern[str], names: list[str]) -> None:
        self.alias = alias
        self.pattern = pattern
        self.regex = regex
        self.names = names

    def captures(self, directory: str) -> dict[str, str] | None:
        """The captured segments when ``directory`` (relative, ``/``-separated) matches."""
        match = self.regex.fullmatch(directory)
        return None if match is None else {n: match.group(n) for n in self.names}


def parse_path_pattern(text: str) -> PathPattern:
    """``"@alias/apps/{app}"`` parsed; TemplateError says what is wrong."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise TemplateError(f'"{text}": expected "@<alias>/<pattern>", e.g. "@repo/apps/{{app}}"')
    alias, pattern = match.group(1), match.group(3)
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise TemplateError(f'"{text}": the pattern must stay inside @{alias}')
    regex = ""
    names: list[str] = []
    for piece, capture in _pieces(pattern):
        if not capture:
            regex += re.escape(piece)
        elif piece in names:
            raise TemplateError(f'"{text}": capture "{{{piece}}}" is used twice')
        elif not _LABEL_KEY.fullmatch(piece) or len(piece) > 63:
            # Each capture labels the generated ExternalArtifacts: a label key.
            raise TemplateError(f'"{text}": capture "{{{piece}}}" is not a valid label key')
        else:
            names.append(piece)
            regex += f"(?P<{piece}>[^/]+)"
    return PathPattern(alias, pattern, re.compile(regex), names)
