"""JSON data from YAML nodes, as Kubernetes' YAML to JSON step makes it."""

from __future__ import annotations

import json
from typing import Any

from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

__all__ = ["JsonConstructor", "JsonResolver"]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_NOT_JSON = ("binary", "set", "omap", "pairs")


class JsonConstructor(SafeConstructor):
    """SafeConstructor building JSON data only, refusing duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[str, Any]:  # type: ignore[override]
        own = {id(key) for key, _ in node.value if key.tag != _MERGE}
        # Merged pairs come first, so the mapping's own keys override them.
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = _json_key(self.construct_object(key_node, deep=deep), key_node)
            if id(key_node) in own:
                if key in seen:
                    problem = f'duplicate key "{key}"'
                    raise ConstructorError(None, None, problem, key_node.start_mark)
                seen.add(key)
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


JsonConstructor.add_constructor(_TIMESTAMP, JsonConstructor.construct_timestamp_string)  # type: ignore[type-var]
for _tag in _NOT_JSON:
    JsonConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", JsonConstructor.construct_not_json)  # type: ignore[type-var]


def _json_key(key: Any, node: Node) -> str:
    """A mapping key as Kubernetes' YAML to JSON step writes it."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise ConstructorError(
        None, None, "a mapping key must be a string or a number", node.start_mark
    )


class JsonResolver(Resolver):
    """YAML 1.1 scalars as PyYAML reads them, except that dates and times stay strings."""


JsonResolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
