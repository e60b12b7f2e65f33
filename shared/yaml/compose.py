"""Node graphs from parser events, built with a stack of open collections instead of recursion."""

from __future__ import annotations

from typing import Any

from yaml.composer import Composer, ComposerError
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shared.yaml.limits import MAX_DEPTH, LimitExceeded, at

__all__ = ["StackComposer"]


class StackComposer(Composer):
    """Builds each document's node graph with a stack of open collections, not recursion.

    PyYAML's composer recurses once per level (so does libyaml's, in C); this
    one counts the open collections and refuses the one past MAX_DEPTH. It
    runs on the parser's events (``get_event``), which the loader mixes in.
    """

    aliases = 0

    def compose_document(self) -> Node:
        self.get_event()  # type: ignore[attr-defined]  # DOCUMENT-START
        root = self._compose_root()
        self.get_event()  # type: ignore[attr-defined]  # DOCUMENT-END
        self.anchors = {}
        return root

    def _compose_root(self) -> Node:
        get_event = self.get_event  # type: ignore[attr-defined]
        open_nodes: list[Node] = []
        keys: list[Node | None] = []  # per open mapping: the key waiting for its value
        while True:
            event = get_event()
            kind = type(event)
            node: Node
            if kind is ScalarEvent:
                tag = self._tag(event, ScalarNode, event.value)
                node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
                self._anchor(event, node)
            elif kind is AliasEvent:
                if event.anchor not in self.anchors:
                    problem = f"found undefined alias {event.anchor!r}"
                    raise ComposerError(None, None, problem, event.start_mark)
                node = self.anchors[event.anchor]
                self.aliases += 1
            elif kind is SequenceStartEvent or kind is MappingStartEvent:
                if len(open_nodes) == MAX_DEPTH:
                    where = at(event.start_mark)
                    raise LimitExceeded(f"nested too deeply (more than {MAX_DEPTH} levels){where}")
                cls = SequenceNode if kind is SequenceStartEvent else MappingNode
                tag = self._tag(event, cls, None)
                node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
                self._anchor(event, node)
                open_nodes.append(node)
                keys.append(None)
                continue
            else:  # the end of the innermost open collection
                node = open_nodes.pop()
                keys.pop()
                node.end_mark = event.end_mark
            if not open_nodes:
                return node
            parent = open_nodes[-1]
            if isinstance(parent, SequenceNode):
                parent.value.append(node)
            elif keys[-1] is None:
                keys[-1] = node
            else:
                parent.value.append((keys[-1], node))
                keys[-1] = None

    def _tag(self, event: Any, kind: type[Node], value: str | None) -> str:
        if event.tag is None or event.tag == "!":
            return self.resolve(kind, value, event.implicit)  # type: ignore[attr-defined,no-any-return]
        return event.tag  # type: ignore[no-any-return]

    def _anchor(self, event: Any, node: Node) -> None:
        # YAML 1.2 and Kubernetes let an anchor be defined again: later aliases
        # take the newest (PyYAML's own composer refuses it).
        if event.anchor is not None:
            self.anchors[event.anchor] = node
