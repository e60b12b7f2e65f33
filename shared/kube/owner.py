"""The toolkit object that owns applied objects, marked by Flux's two owner labels.

Each toolkit group labels what it applies with its own pair: a Kustomization's
objects carry ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace``, a
HelmRelease's ``helm.toolkit.fluxcd.io/name`` and ``/namespace``. Prune and
adopt find and check ownership by these labels only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HELM_GROUP", "KUSTOMIZE_GROUP", "Owner"]

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"


@dataclass(frozen=True, kw_only=True)
class Owner:
    """One owner: its kind, its API group (the label prefix), name and namespace."""

    kind: str
    group: str
    name: str
    namespace: str

    @classmethod
    def kustomization(cls, name: str, namespace: str) -> Owner:
        """A Kustomization as owner (labels ``kustomize.toolkit.fluxcd.io/...``)."""
        return cls(kind="Kustomization", group=KUSTOMIZE_GROUP, name=name, namespace=namespace)

    @classmethod
    def helm_release(cls, name: str, namespace: str) -> Owner:
        """A HelmRelease as owner (labels ``helm.toolkit.fluxcd.io/...``)."""
        return cls(kind="HelmRelease", group=HELM_GROUP, name=name, namespace=namespace)

    @property
    def labels(self) -> dict[str, str]:
        """The owner labels set on every applied object."""
        return {f"{self.group}/name": self.name, f"{self.group}/namespace": self.namespace}

    @property
    def selector(self) -> str:
        """The label selector for this owner's objects."""
        return ",".join(f"{k}={v}" for k, v in self.labels.items())

    def owns(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` still carries this owner's two labels."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(labels.get(k) == v for k, v in self.labels.items())

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"
