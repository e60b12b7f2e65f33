"""sluice-helm's declaration: no kinds and no tasks yet, so no worker runs for it."""

from __future__ import annotations

from shared.plugins import Service

__all__ = ["SERVICE"]

SERVICE = Service(name="helm")
