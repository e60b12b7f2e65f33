"""``spec.valuesFiles``: merge values files in order into the values a packaged chart carries.

As source-controller does: each file is a YAML mapping; later files win, maps
merge key by key and anything else (lists, scalars, null) replaces
(fluxcd/pkg ``transform.MergeMaps``). The merge replaces the chart's
``values.yaml``, written with sorted keys as Helm's ``Values.Encode`` does, and
only when it differs from what the chart already has. Paths are relative to a
root (the source artifact, or the chart for a chart from a Helm repository) and
must stay inside it.

Exceptions::

    ValuesFilesError   a file is missing (unless ignored), escapes the root, or is no mapping
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.helmvalues import merge_maps
from shared.yaml import DocumentError, dump, load

__all__ = ["MergedValues", "ValuesFilesError", "inside", "merge_values_files"]

# Flux's limit for one chart file (helm.MaxChartFileSize).
MAX_VALUES_FILE_BYTES = 5 << 20


class ValuesFilesError(ValueError):
    """A values file cannot be merged; the message names it."""


@dataclass(frozen=True)
class MergedValues:
    """The merged values and the files that contributed, in order."""

    values: dict[str, Any]
    files: tuple[str, ...]

    def encode(self) -> bytes:
        """The values.yaml bytes: empty for no values, else YAML with sorted keys."""
        return dump(self.values, sort_keys=True).encode() if self.values else b""


def inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` with every link resolved, or None when that leaves ``root``."""
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, relative.lstrip("/")))
    if os.path.commonpath([real_root, target]) != real_root:
        return None
    return Path(target)


def merge_values_files(root: Path, paths: Sequence[str], *, ignore_missing: bool) -> MergedValues:
    """Merge ``paths`` (relative to ``root``) in order; ValuesFilesError names a bad one."""
    merged: dict[str, Any] = {}
    found: list[str] = []
    for path in paths:
        target = inside(root, path)
        if target is None:
            raise ValuesFilesError(f"values file '{path}' leaves the source root")
        if not target.exists():
            if ignore_missing:
                continue
            raise ValuesFilesError(f"no values file found at path '{path}' (reference '{path}')")
        if not target.is_file():
            raise ValuesFilesError(f"values file '{path}' is not a regular file")
        if target.stat().st_size > MAX_VALUES_FILE_BYTES:
            raise ValuesFilesError(
                f"values file '{path}' is larger than {MAX_VALUES_FILE_BYTES} bytes"
            )
        try:
            values = load(target.read_text(encoding="utf-8"), source=path)
        except (DocumentError, UnicodeDecodeError) as err:
            raise ValuesFilesError(f"unmarshaling values from '{path}' failed: {err}") from None
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ValuesFilesError(
                f"unmarshaling values from '{path}' failed: expected a mapping at the top, "
                f"got a {type(values).__name__}"
            )
        merged = merge_maps(merged, values)
        found.append(path)
    return MergedValues(merged, tuple(found))
