"""The one YAML loader and dumper of sluice: every file, build output and kubeconfig goes here.

sluice reads YAML the way Kubernetes does, because the documents it reads are
the ones a user also gives to kubectl, kustomize and the API server, which
turn YAML into JSON before anything looks at it:

- the result is JSON data: mappings with string keys, lists, strings,
  numbers, booleans and null. Unquoted dates and times stay strings
  (``day: 2024-01-01`` is ``"2024-01-01"``), as after Kubernetes' YAML to
  JSON step; non-string keys become their JSON text (``1: a`` and
  ``true: b`` give the keys ``"1"`` and ``"true"``); tags that have no JSON
  form (``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``) are refused.
- a key given twice in one mapping is refused. kubectl (strict decoding,
  its default), kustomize and sigs.k8s.io/yaml's strict mode refuse it too,
  and keeping the last one silently drops half of a spec. Keys merged in with
  ``<<`` may still be overridden, as YAML's merge key intends.
- anchors and aliases work, and every alias is an independent copy, as in
  the JSON that Kubernetes sees.
- empty documents (``---`` alone, comments only) are skipped.

Hostile input gets an error, never a crash: collections nested more than
:data:`MAX_DEPTH` levels deep (the parser and every later step recurse once
per level), aliases that expand a document by more than
:data:`MAX_ALIAS_NODES` nodes (an "alias bomb" of aliases of aliases), and
aliases that contain themselves are refused before any data is built.
:func:`shared.jsondoc.load_json` keeps the same depth rule for JSON.

The scanner and parser are libyaml's (CParser) when PyYAML has it. The
composer is PyYAML's Python one: libyaml's composer recurses in C once per
level, so a megabyte of ``[`` ends the process with a segmentation fault
before any limit could be checked.

Exceptions::

    ValueError
     └── DocumentError    a document cannot be read; names the source and document
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

try:
    from yaml import CSafeDumper as _BaseDumper
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml: the same rules, slower
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str | bytes) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "DocumentError",
    "dump",
    "dump_all",
    "iter_documents",
    "load",
    "load_all",
]

# Real manifests nest 20 to 60 levels (CRD schemas are the deepest). Every
# step after the loader that walks a document recurses two or three Python
# frames per level (deepcopy, the API client's serializer, json), so 100
# levels stay far below Python's limit of 1000 frames, even inside Celery.
MAX_DEPTH = 100
# Nodes that aliases may add to one document: an anchor reused a few dozen
# times adds hundreds; ten aliases of ten aliases nine times over add 10**9.
MAX_ALIAS_NODES = 100_000

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_NOT_JSON = ("binary", "set", "omap", "pairs")


class DocumentError(ValueError):
    """A document cannot be read. ``index`` counts the non-empty documents before it from 0.

    ``message`` says what is wrong and where in the text (line and column);
    ``str()`` adds the source and the document number, counted from 1. It
    never quotes the text, which may hold credentials (a kubeconfig).
    """

    def __init__(self, message: str, *, source: str, index: int | None = None) -> None:
        self.message = message
        self.source = source
        self.index = index
        where = source if index is None else f"{source}: document {index + 1}"
        super().__init__(f"{where}: {message}")


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _Refused(yaml.YAMLError):
    """A document over one of the limits; ``message`` already says where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Composer(Composer):
    """PyYAML's composer, counting nesting so that it refuses before it recurses too far.

    It runs on the parser's events (``check_event``, ``peek_event``), which the
    loader class mixes in.
    """

    depth = 0
    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):  # type: ignore[attr-defined]
            self.aliases += 1
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor: Any) -> Any:
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self.depth -= 1

    def compose_mapping_node(self, anchor: Any) -> Any:
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self.depth -= 1

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[attr-defined]
            raise _Refused(f"nested too deeply (more than {MAX_DEPTH} levels){_at(mark)}")


class _Constructor(SafeConstructor):
    """SafeConstructor building JSON data only, refusing duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[str, Any]:  # type: ignore[override]
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = _json_key(self.construct_object(key_node, deep=deep), key_node)
            if key in seen:
                raise ConstructorError(None, None, f'duplicate key "{key}"', key_node.start_mark)
            seen.add(key)
        # Merged keys come first, so the mapping's own keys override them.
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=deep), key_node)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_timestamp_string(self, node: ScalarNode) -> str:
        return str(self.construct_scalar(node))

    def construct_not_json(self, node: Node) -> None:
        raise ConstructorError(
            None,
            None,
            f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} has no JSON form",
            node.start_mark,
        )


_Constructor.add_constructor(_TIMESTAMP, _Constructor.construct_timestamp_string)  # type: ignore[type-var]
for _tag in _NOT_JSON:
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _Constructor.construct_not_json)  # type: ignore[type-var]


def _json_key(key: Any, node: Node) -> str:
    """A mapping key as Kubernetes' YAML to JSON step writes it."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise ConstructorError(
        None, None, "a mapping key must be a string or a number", node.start_mark
    )


class _Resolver(Resolver):
    """YAML 1.1 scalars as PyYAML reads them, except that dates and times stay strings."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}


class _Loader(_Composer, _Parser, _Constructor, _Resolver):
    def __init__(self, stream: str | bytes) -> None:
        _Parser.__init__(self, stream)
        _Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


def _check_aliases(root: Node) -> None:
    """Refuse a graph whose aliases make a cycle, nest too deep, or expand it too far.

    Walks the node graph once (no recursion), with the size and depth of each
    node as if every alias were a copy of its anchor's node.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    unique: set[int] = set()
    stack: list[tuple[Node, Iterator[Node]]] = []
    on_path: set[int] = set()

    def children(node: Node) -> Iterator[Node]:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                yield key
                yield value
        elif isinstance(node, CollectionNode):
            yield from node.value

    stack.append((root, children(root)))
    on_path.add(id(root))
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is not None:
            unique.add(id(child))
            if id(child) in on_path:
                raise _Refused(f"an alias contains its own anchor{_at(child.start_mark)}")
            if id(child) not in size:
                stack.append((child, children(child)))
                on_path.add(id(child))
            continue
        stack.pop()
        on_path.discard(id(node))
        kids = list(children(node))
        size[id(node)] = 1 + sum(size[id(k)] for k in kids)
        nested = isinstance(node, CollectionNode)
        depth[id(node)] = int(nested) + max((depth[id(k)] for k in kids), default=0)
        if depth[id(node)] > MAX_DEPTH:
            raise _Refused(
                f"nested too deeply (more than {MAX_DEPTH} levels) once aliases are expanded"
                f"{_at(node.start_mark)}"
            )
        if size[id(node)] - len(unique) > MAX_ALIAS_NODES:
            raise _Refused(
                f"aliases expand the document by more than {MAX_ALIAS_NODES} nodes"
                f"{_at(node.start_mark)}"
            )


def _message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, _Refused):
        return exc.message
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid"
        detail = f"{problem} ({exc.context})" if exc.problem and exc.context else problem
        return f"invalid YAML{_at(mark)}: {detail}"
    return f"invalid YAML: {exc}"


def _text(data: str | bytes, source: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text (byte {exc.start})", source=source) from None


def iter_documents(data: str | bytes, *, source: str) -> Iterator[Any]:
    """Each non-empty document of ``data`` in order; DocumentError at the first bad one.

    ``source`` names the text in errors (a file path, "kustomize build of ./apps").
    """
    loader = _Loader(_text(data, source))
    index = 0
    try:
        while loader.check_node():
            loader.depth = loader.aliases = 0
            node = loader.get_node()
            if node is None:
                break
            if loader.aliases:
                _check_aliases(node)
            doc = loader.construct_document(node)
            if doc is None:
                continue
            # Aliases share one Python object: copy so that each is its own, as in JSON.
            yield json.loads(json.dumps(doc)) if loader.aliases else doc
            index += 1
    except yaml.YAMLError as exc:
        raise DocumentError(_message(exc), source=source, index=index) from None
    finally:
        loader.dispose()


def load_all(data: str | bytes, *, source: str) -> list[Any]:
    """The non-empty documents of ``data``; DocumentError names the first bad one."""
    return list(iter_documents(data, source=source))


def load(data: str | bytes, *, source: str) -> Any:
    """The single document of ``data`` (None when empty); more than one is an error."""
    docs = load_all(data, source=source)
    if len(docs) > 1:
        raise DocumentError("expected a single YAML document, found several", source=source)
    return docs[0] if docs else None


class _Dumper(_BaseDumper):
    """Block style; strings that would read back as another type are quoted."""


def dump(value: Any, *, sort_keys: bool = False) -> str:
    """One document as block YAML: keys in their order, Unicode as is, lines never folded."""
    # Folding a long line could split a ${...} expression over two lines.
    text: str = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=sort_keys,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )
    return text


def dump_all(values: Iterable[Any], *, sort_keys: bool = False) -> str:
    """Several documents, separated by ``---``, each as :func:`dump` writes it."""
    text: str = yaml.dump_all(
        list(values),
        Dumper=_Dumper,
        sort_keys=sort_keys,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )
    return text
