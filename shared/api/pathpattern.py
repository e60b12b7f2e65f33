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
    """A parsed ``pathPattern``: the alias it reads, and the directories it matches.

    ``pieces`` are the pattern's literal texts and ``{name}`` captures; a capture
    matches one or more characters but ``/``. Adjacent or repeated captures make a
    backtracking regex try every split of a name (exponential in the number of
    captures), so :meth:`captures` matches in linear time instead, with the
    submatches Go's regexp (RE2, leftmost-first and greedy) gives source-watcher.
    """

    def __init__(self, alias: str, pattern: str, pieces: list[tuple[str, bool]]) -> None:
        self.alias = alias
        self.pattern = pattern
        self.pieces = pieces
        self.names = [text for text, capture in pieces if capture]

    def captures(self, directory: str) -> dict[str, str] | None:
        """The captured segments when ``directory`` (relative, ``/``-separated) matches."""
        feasible = self._feasible(directory)
        if not feasible[0][0]:
            return None
        found: dict[str, str] = {}
        at = 0
        for i, (text, capture) in enumerate(self.pieces):
            if not capture:
                at += len(text)
                continue
            # Greedy, as RE2's leftmost-first submatches: the longest capture the rest can follow.
            end = max(
                k for k in range(at + 1, _segment_end(directory, at) + 1) if feasible[i + 1][k]
            )
            found[text] = directory[at:end]
            at = end
        return found

    def _feasible(self, text: str) -> list[list[bool]]:
        """``[i][j]``: pieces ``i..`` match ``text[j:]`` exactly; O(pieces x len(text))."""
        n = len(text)
        rows = [[False] * (n + 1) for _ in range(len(self.pieces) + 1)]
        rows[-1][n] = True
        for i in range(len(self.pieces) - 1, -1, -1):
            piece, capture = self.pieces[i]
            after, row = rows[i + 1], rows[i]
            if not capture:
                for j in range(n + 1):
                    row[j] = text.startswith(piece, j) and after[j + len(piece)]
                continue
            # A capture at j can end at any k in (j, end of j's segment]: count
            # reachable ends from the right so each j is O(1).
            reachable = 0
            for j in range(n, -1, -1):
                if j < n and text[j] == "/":
                    reachable = 0
                row[j] = reachable > 0
                if after[j] and j > 0 and text[j - 1] != "/":
                    reachable += 1
        return rows


def _segment_end(text: str, start: int) -> int:
    """The index of the first ``/`` at or after ``start`` (``len(text)`` when none)."""
    end = text.find("/", start)
    return len(text) if end < 0 else end


def parse_path_pattern(text: str) -> PathPattern:
    """``"@alias/apps/{app}"`` parsed; TemplateError says what is wrong."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise TemplateError(f'"{text}": expected "@<alias>/<pattern>", e.g. "@repo/apps/{{app}}"')
    alias, pattern = match.group(1), match.group(3)
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise TemplateError(f'"{text}": the pattern must stay inside @{alias}')
    names: list[str] = []
    pieces = _pieces(pattern)
    for piece, capture in pieces:
        if not capture:
            continue
        if piece in names:
            raise TemplateError(f'"{text}": capture "{{{piece}}}" is used twice')
        if not _LABEL_KEY.fullmatch(piece) or len(piece) > 63:
            # Each capture labels the generated ExternalArtifacts: a label key.
            raise TemplateError(f'"{text}": capture "{{{piece}}}" is not a valid label key')
        names.append(piece)
    return PathPattern(alias, pattern, pieces)
