"""ObjectKey: how every process names one object (store keys, leases, events, tasks).

An object lives in a *scope*: the fleet-wide scope (``scope == ""``), where
every object stored before scopes existed lives, or the scope of one Cluster
(``scope == "staging"``). The text form is the whole key, so every Redis key,
lease, due time, event and task argument built from ``str(key)`` is distinct
per scope with no other change::

    Kustomization/flux-system/apps            the fleet-wide scope (as before scopes)
    staging:Kustomization/flux-system/apps    the scope of the Cluster "staging"

A kind is letters and digits and a Cluster name a DNS name, so neither holds
``:`` and the prefix never reads as part of a kind; it never meets the
``@cluster`` suffix of a per-cluster task key (``staging:Kind/ns/name@staging``)
either, so both round-trip through ``parse``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["FLEET", "SCOPE_SEPARATOR", "ObjectKey"]

FLEET = ""  # the fleet-wide scope
SCOPE_SEPARATOR = ":"


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Kind, namespace, name (and scope) of one stored object; messages carry these."""

    kind: str
    namespace: str
    name: str
    scope: str = FLEET

    def __str__(self) -> str:
        path = f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.scope}{SCOPE_SEPARATOR}{path}" if self.scope else path

    def in_scope(self, scope: str) -> ObjectKey:
        """The same kind, namespace and name in ``scope``."""
        return self if scope == self.scope else replace(self, scope=scope)

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """Parse ``[scope:]Kind/namespace/name`` as written by ``str()``."""
        scope, sep, path = text.partition(SCOPE_SEPARATOR)
        if not sep:
            scope, path = FLEET, text
        parts = path.split("/")
        if (
            len(parts) != 3
            or not all(parts)
            or (sep and not scope)
            or "/" in scope
            or SCOPE_SEPARATOR in path
        ):
            raise ValueError(f"object key {text!r}: expected [cluster:]Kind/namespace/name")
        return cls(parts[0], parts[1], parts[2], scope)

    @classmethod
    def of(cls, obj: dict[str, object], scope: str = FLEET) -> ObjectKey:
        """The key of an object document (``kind`` plus ``metadata.namespace/name``)."""
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise ValueError("object has no metadata")
        return cls(
            str(obj["kind"]),
            str(meta.get("namespace") or "default"),
            str(meta["name"]),
            scope,
        )
