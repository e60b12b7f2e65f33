"""Ignore rules for source trees: now ``shared.sourceignore`` (the CLI archives with them)."""

from __future__ import annotations

from shared.sourceignore import (
    DEFAULT_EXCLUDES,
    SOURCEIGNORE,
    VCS_EXCLUDES,
    IgnoreMatcher,
    Layer,
    build_matcher,
)

__all__ = [
    "DEFAULT_EXCLUDES",
    "SOURCEIGNORE",
    "VCS_EXCLUDES",
    "IgnoreMatcher",
    "Layer",
    "build_matcher",
]
