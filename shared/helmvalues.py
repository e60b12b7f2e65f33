"""Helm values merged as Flux merges them (fluxcd/pkg chartutil ``MergeMaps``).

Both a HelmChart's ``valuesFiles`` (sluice-source) and a HelmRelease's
``valuesFrom`` and ``values`` (sluice-helm) merge this way, so it lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["merge_maps"]


def merge_maps(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """``b`` merged over ``a``: nested mappings merge, any other value replaces.

    Neither argument is changed. As in Flux, a value taken whole from either
    side (a list, or a mapping the other side lacks) is shared, not copied.
    """
    out: dict[str, Any] = dict(a)
    for key, value in b.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merge_maps(current, value)
        else:
            out[key] = value
    return out
