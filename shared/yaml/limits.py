"""The limits every YAML document is held to, checked on its node graph before any data is built.

Nesting is counted while the graph is composed (:mod:`shared.yaml.compose`);
aliases can make a small graph stand for a huge or cyclic document, so a
graph with aliases is walked once more here, as if each alias were a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import CollectionNode, MappingNode, Node

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "LimitExceeded", "at", "check_aliases"]

# Real manifests nest 20 to 60 levels (CRD schemas are the deepest). Every
# step after the loader that walks a document recurses two or three Python
# frames per level (deepcopy, the API client's serializer, json), so 100
# levels stay far below Python's limit of 1000 frames, even inside Celery.
MAX_DEPTH = 100
# Nodes that aliases may add to one document: an anchor reused a few dozen
# times adds hundreds; ten aliases of ten aliases nine times over add 10**9.
MAX_ALIAS_NODES = 100_000


class LimitExceeded(yaml.YAMLError):
    """A document over one of the limits; ``message`` already says where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def at(mark: Any) -> str:
    """`` at line L, column C`` for a position in the text, or "" without one."""
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def check_aliases(root: Node) -> None:
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
                raise LimitExceeded(f"an alias contains its own anchor{at(child.start_mark)}")
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
            raise LimitExceeded(
                f"nested too deeply (more than {MAX_DEPTH} levels) once aliases are expanded"
                f"{at(node.start_mark)}"
            )
        if size[id(node)] - len(unique) > MAX_ALIAS_NODES:
            raise LimitExceeded(
                f"aliases expand the document by more than {MAX_ALIAS_NODES} nodes"
                f"{at(node.start_mark)}"
            )
