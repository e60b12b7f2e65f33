"""The loader: text to JSON data, one document at a time, or a DocumentError that says where."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from shared.yaml.compose import StackComposer
from shared.yaml.construct import JsonConstructor, JsonResolver
from shared.yaml.limits import LimitExceeded, at, check_aliases

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml: the same rules, slower
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str | bytes) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


__all__ = ["DocumentError", "iter_documents", "load", "load_all"]


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


class _Loader(StackComposer, _Parser, JsonConstructor, JsonResolver):
    def __init__(self, stream: str | bytes) -> None:
        _Parser.__init__(self, stream)
        StackComposer.__init__(self)
        JsonConstructor.__init__(self)
        JsonResolver.__init__(self)


def _message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, LimitExceeded):
        return exc.message
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid"
        detail = f"{problem} ({exc.context})" if exc.problem and exc.context else problem
        return f"invalid YAML{at(mark)}: {detail}"
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
            loader.aliases = 0
            node = loader.get_node()
            if node is None:
                break
            if loader.aliases:
                check_aliases(node)
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
