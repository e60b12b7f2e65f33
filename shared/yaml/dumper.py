"""The dumper: block YAML that any reader, kustomize and kubectl included, reads back the same."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

try:
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]

__all__ = ["dump", "dump_all"]


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
