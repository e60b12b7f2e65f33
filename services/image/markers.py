"""Flux's setter markers in one YAML text: which values they mark, and the text with new values.

A marker is a YAML line comment after a scalar value that kyaml's
``fieldmeta`` reads as a setter reference (Flux registers the short hand
``$imagepolicy``)::

    image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
    tag: 1.0.0 # {"$imagepolicy": "flux-system:app:tag"}

The comment, less its leading ``#`` characters, must be a whole JSON object
of string values whose ``$imagepolicy`` names a setter; kyaml's long form
``{"$ref": "#/definitions/io.k8s.cli.setters.<setter>"}`` is read too. Only
scalar *values* are set (mapping values and sequence items, never keys or
aliases), as kyaml's setters walk the tree; a marker naming a setter nobody
defines (a policy without ``latestRef``) is left alone.

Flux re-serialises every file it changes (kyaml); sluice instead splices the
new value over the old scalar's exact span, so every other byte (comments,
quotes, indentation, CRLF line ends) stays. The written value keeps the old
scalar's quote style; a plain value that YAML 1.1 would read as a non-string
(``1.10``, ``true``) is double-quoted as kyaml's ``FormatNonStringStyle``
does, and one that cannot be written plain is single-quoted as the YAML
emitter does. Flux's quirks that sluice leaves out, on purpose: it turns CRLF
into LF and re-indents the whole file; a plain ``5`` set to ``v6`` comes out
as ``!!int v6``. Block scalars (``|``, ``>``) are not set. Like kyaml, a
value without a line comment may be marked by its head comment: one comment
line right above a sequence item or above a value on its own line, or after a
lone ``-`` (see ``_head_comment``; one case Flux also sets, a blank line
between that comment and the first item of a sequence, is left alone).

Every rule here was checked against kyaml v0.21 (Flux's) on the same texts:
the same values change, to the same values, in the same objects.

Documents are read as kyaml's ``ByteReader`` reads them: an empty document
is skipped; a document that is not a mapping makes the whole file unusable
(Flux lists it among its "problem files" and leaves it); a file holding one
``List`` (or ``ResourceList``) with ``items`` is unwrapped, so each item is
its own object and markers outside the items are not applied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from services.image.yamlvalues import render_scalar

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml: the same events, slower
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


__all__ = [
    "MARKER_TOKEN",
    "Edit",
    "ObjectId",
    "TextRewrite",
    "UnreadableYAML",
    "marker_setter",
    "rewrite_text",
]

# Flux reads only files that contain this (quotes included) before parsing.
MARKER_TOKEN = '"$imagepolicy"'
_SHORT_HAND = "$imagepolicy"
_LONG_FORM_PREFIX = "#/definitions/io.k8s.cli.setters."
# What may follow a scalar on its line for the rest to be its line comment.
_LINE_COMMENT = re.compile(r"[ \t]+#([^\r\n]*)(?=\r|\n|$)")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_LIST_KINDS = frozenset({"List", "ResourceList"})


class UnreadableYAML(ValueError):
    """The text is not YAML kyaml would read (Flux's "problem file"); the message says where."""


@dataclass(frozen=True, order=True)
class ObjectId:
    """An object as Flux identifies it (kyaml's ResourceIdentifier); fields may be empty.

    The field order is Go's (TypeMeta, then NameMeta): Go's templates sort map
    keys of this type field by field in that order.
    """

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""


@dataclass(frozen=True)
class Edit:
    """One marked value that changed: where, which setter, and the values before and after."""

    line: int  # 1-based, the line the old value starts on
    setter: str
    old_value: str
    new_value: str
    object: ObjectId


@dataclass(frozen=True)
class TextRewrite:
    """The text with every marked value set, and the values that changed (in text order)."""

    text: str
    edits: tuple[Edit, ...] = ()


def marker_setter(comment: str) -> str | None:
    """The setter a line comment (``# ...``, or without its ``#``) names, or None.

    >>> marker_setter('# {"$imagepolicy": "flux-system:app:tag"}')
    'flux-system:app:tag'
    """
    try:
        data = json.loads(comment.lstrip("#"))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    # kyaml reads the short hand into map[string]string: any other value type fails it.
    if all(isinstance(value, str) for value in data.values()) and data.get(_SHORT_HAND):
        return str(data[_SHORT_HAND])
    ref = data.get("$ref")
    if isinstance(ref, str) and ref.startswith(_LONG_FORM_PREFIX):
        return ref.removeprefix(_LONG_FORM_PREFIX) or None
    return None


def rewrite_text(text: str, setters: Mapping[str, str]) -> TextRewrite:
    """Set every value marked with a setter in ``setters`` (setter name -> value) in ``text``.

    Raises UnreadableYAML when kyaml would refuse the text (Flux skips the file).
    """
    documents = list(_documents(text))
    unwrap = len(documents) == 1 and documents[0].is_list
    spans: list[tuple[int, int, str]] = []
    edits: list[Edit] = []
    for document in documents:
        for found in document.marked:
            item = found.path[1] if unwrap and _under_items(found.path) else None
            if unwrap and item is None:
                continue  # kyaml hands on only the List's items
            value = setters.get(found.setter)
            if value is None or value == found.value:
                continue
            obj = document.object_id(() if item is None else ("items", item))
            replacement = render_scalar(value, style=found.style, flow=found.flow)
            spans.append((found.start, found.end, replacement))
            edits.append(
                Edit(
                    line=text.count("\n", 0, found.start) + 1,
                    setter=found.setter,
                    old_value=found.value,
                    new_value=value,
                    object=obj,
                )
            )
    out = text
    for start, end, replacement in sorted(spans, reverse=True):
        out = out[:start] + replacement + out[end:]
    return TextRewrite(text=out, edits=tuple(edits))


def _under_items(path: tuple[Any, ...]) -> bool:
    return len(path) >= 2 and path[0] == "items" and isinstance(path[1], int)


@dataclass(frozen=True)
class _Marked:
    path: tuple[Any, ...]
    setter: str
    value: str
    style: str  # "" plain, "'" or '"'
    flow: bool
    start: int
    end: int


@dataclass
class _Document:
    """What one document holds: its marked scalars and the scalars that identify objects."""

    root_is_mapping: bool = False
    empty: bool = True
    marked: list[_Marked] = field(default_factory=list)
    # Scalar values at identity paths (apiVersion, kind, metadata.name, ...), nulls as "".
    scalars: dict[tuple[Any, ...], str] = field(default_factory=dict)
    root_fields: set[str] = field(default_factory=set)

    @property
    def is_list(self) -> bool:
        kind = self.scalars.get(("kind",), "")
        return kind in _LIST_KINDS and bool({"items", "functionConfig"} & self.root_fields)

    def object_id(self, prefix: tuple[Any, ...]) -> ObjectId:
        def get(*path: str) -> str:
            return self.scalars.get((*prefix, *path), "")

        return ObjectId(
            api_version=get("apiVersion"),
            kind=get("kind"),
            name=get("metadata", "name"),
            namespace=get("metadata", "namespace"),
        )


@dataclass
class _Frame:
    path: tuple[Any, ...]
    mapping: bool
    flow: bool
    index: int = 0  # items seen (a mapping counts keys and values)
    key: Any = None


def _identity_path(path: tuple[Any, ...]) -> bool:
    tail = path[2:] if _under_items(path) else path
    return tail in {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


def _documents(text: str) -> Iterator[_Document]:
    parser = _Parser(text)
    stack: list[_Frame] = []
    document = _Document()
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, yaml.StreamEndEvent):
                break
            if isinstance(event, yaml.DocumentStartEvent):
                document, stack = _Document(), []
                continue
            if isinstance(event, yaml.DocumentEndEvent):
                if not document.empty and not document.root_is_mapping:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise UnreadableYAML(f"line {line}: a document that is not a mapping")
                yield document
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
                _advance(stack)
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            is_key = bool(stack) and stack[-1].mapping and stack[-1].index % 2 == 0
            path = _child_path(stack)
            if not stack:
                document.root_is_mapping = isinstance(event, yaml.MappingStartEvent)
                is_null = isinstance(event, yaml.ScalarEvent) and (
                    event.value in _NULLS and not event.style
                )
                tag = getattr(event, "tag", None)
                document.empty = is_null and event.anchor is None and tag is None
            if len(stack) == 1 and stack[0].mapping and not is_key:
                document.root_fields.add(stack[0].key)
            if isinstance(event, yaml.CollectionStartEvent):
                flow = bool(event.flow_style) or (bool(stack) and stack[-1].flow)
                stack.append(
                    _Frame(path=path, mapping=isinstance(event, yaml.MappingStartEvent), flow=flow)
                )
                continue
            if isinstance(event, yaml.ScalarEvent):
                if is_key:
                    stack[-1].key = event.value
                elif stack:
                    item = not stack[-1].mapping
                    _read_value(document, event, path, text, flow=stack[-1].flow, item=item)
            elif is_key:  # an alias as a key
                stack[-1].key = None
            _advance(stack)
    except yaml.YAMLError as error:
        raise UnreadableYAML(str(error)) from error


def _child_path(stack: list[_Frame]) -> tuple[Any, ...]:
    if not stack:
        return ()
    top = stack[-1]
    return (*top.path, top.key if top.mapping else top.index)


def _advance(stack: list[_Frame]) -> None:
    if stack:
        stack[-1].index += 1


def _read_value(
    document: _Document,
    event: yaml.ScalarEvent,
    path: tuple[Any, ...],
    text: str,
    *,
    flow: bool,
    item: bool,
) -> None:
    if _identity_path(path):
        plain_null = not event.style and event.value in _NULLS
        document.scalars[path] = "" if plain_null else event.value
    if event.style in ("|", ">") or event.start_mark is None or event.end_mark is None:
        return
    end = event.end_mark.index
    start = _value_start(text, event.start_mark.index, end)
    # kyaml reads the line comment; only when there is none, the head comment.
    line_comment = _LINE_COMMENT.match(text, end)
    comment = line_comment.group(1) if line_comment else _head_comment(text, start, item=item)
    setter = marker_setter(comment) if comment is not None else None
    if setter is None:
        return
    document.marked.append(
        _Marked(
            path=path,
            setter=setter,
            value=event.value,
            style=event.style or "",
            flow=flow,
            start=start,
            end=end,
        )
    )


_DASH_PREFIX = re.compile(r"[ \t]*-[ \t]+")
_DASH_COMMENT = re.compile(r"([ \t]*)-[ \t]+#(.*)")
_COMMENT_LINE = re.compile(r"([ \t]*)#(.*)")


def _head_comment(text: str, start: int, *, item: bool) -> str | None:
    """The one comment line go-yaml gives the scalar as its head comment, if any.

    Found empirically against kyaml v0.21 (what Flux links): a comment line right
    above a sequence item (not more indented than its dash), right above a value
    that starts its own line, or after a lone dash (``- # ...``) with the value on
    a following line. Two comment lines make a comment that is no JSON, as in Flux.
    """
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[line_start:start]
    if prefix.strip() and not (item and _DASH_PREFIX.fullmatch(prefix)):
        return None  # a value after its key on the same line: the comment is the key's
    column = len(prefix) - len(prefix.lstrip(" \t"))
    lines = text[:line_start].replace("\r\n", "\n").split("\n")[:-1]
    above = lines[-1] if lines else ""
    if not prefix.strip():  # the value starts its own line: "- # c" may be further up
        index = len(lines) - 1
        while index >= 0 and not lines[index].strip():
            index -= 1
        dash = _DASH_COMMENT.fullmatch(lines[index]) if index >= 0 else None
        if item and dash:
            return dash.group(2)
    comment = _COMMENT_LINE.fullmatch(above)
    if comment is None or len(comment.group(1)) > column:
        return None
    if len(lines) > 1 and _COMMENT_LINE.fullmatch(lines[-2]):
        return None
    return comment.group(2)


def _value_start(text: str, start: int, end: int) -> int:
    """Where the scalar itself starts: the event's start includes an anchor and a tag."""
    index = start
    while index < end and text[index] in "&!":
        while index < end and text[index] not in " \t\r\n":
            index += 1
        while index < end and text[index] in " \t\r\n":
            index += 1
    return index
