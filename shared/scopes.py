"""Cluster scopes: which stored object a reference names, and which Cluster a scope targets.

One sluice serves many clusters; a Flux fleet repository gives each its own
folder whose Kustomizations share names. So every stored object lives in a
scope (``ObjectKey.scope``)::

    fleet-wide scope ("")          Cluster/flux-system/staging, Cluster/flux-system/production,
      |                            their kubeconfig Secrets, shared sources, fan-out objects
      +-- scope "staging"          GitRepository/flux-system/flux-system, Kustomization/.../apps
      +-- scope "production"       GitRepository/flux-system/flux-system, Kustomization/.../apps

The rules, in one place:

- Objects a Kustomization's build stores go into that Kustomization's scope.
- In a Cluster's scope the only target is that Cluster (a Cluster object of the
  fleet-wide scope, found in the object's namespace, else ``flux-system``,
  else ``default``); ``spec.clusters`` / ``clusterSelector`` choose among it alone.
  ``spec.kubeConfig`` still names a kubeconfig Secret directly.
- A reference (sourceRef, dependsOn, postBuild.substituteFrom,
  decryption.secretRef, kubeConfig.secretRef, ...) resolves inside the
  referring object's scope. Only sources, Secrets and ConfigMaps fall back to
  the fleet-wide scope when the scope has none of that name: one
  GitRepository, one set of credentials or variables may serve every cluster.
  A ``dependsOn`` never leaves its scope: ``apps`` waits for the ``infra`` of
  its own cluster, never another's.
- Names are unique per scope; two scopes may hold ``flux-system/apps`` at once.
"""

from __future__ import annotations

from typing import Any

from shared.keys import FLEET, ObjectKey
from shared.store import Store

__all__ = [
    "CLUSTER_NAMESPACES",
    "FALLBACK_KINDS",
    "candidates",
    "resolve",
    "scope_cluster",
    "scope_cluster_keys",
]

# Kinds a scoped reference may find in the fleet-wide scope when its own scope has none.
FALLBACK_KINDS = frozenset(
    {
        "GitRepository",
        "OCIRepository",
        "Bucket",
        "HelmRepository",
        "HelmChart",
        "ExternalArtifact",
        "Secret",
        "ConfigMap",
    }
)
# Where a scope's Cluster is looked for after the object's own namespace.
CLUSTER_NAMESPACES = ("flux-system", "default")


def candidates(ref: ObjectKey, scope: str) -> tuple[ObjectKey, ...]:
    """The keys a reference from an object of ``scope`` may name, in the order tried."""
    own = ref.in_scope(scope)
    if scope == FLEET or ref.kind not in FALLBACK_KINDS:
        return (own,)
    return (own, ref.in_scope(FLEET))


def resolve(store: Store, ref: ObjectKey, scope: str) -> tuple[ObjectKey, dict[str, Any] | None]:
    """The key and document a reference names (the first candidate that exists).

    When none exists: the key in the referring object's own scope, and None.
    """
    keys = candidates(ref, scope)
    for key in keys:
        doc = store.get(key)
        if doc is not None:
            return key, doc
    return keys[0], None


def scope_cluster_keys(scope: str, namespace: str) -> tuple[ObjectKey, ...]:
    """Where the Cluster of ``scope`` may be stored, in the order looked at."""
    spaces = dict.fromkeys((namespace, *CLUSTER_NAMESPACES))
    return tuple(ObjectKey("Cluster", ns, scope) for ns in spaces)


def scope_cluster(store: Store, scope: str, namespace: str) -> dict[str, Any] | None:
    """The Cluster object a scope targets, or None when it is not registered (yet)."""
    for key in scope_cluster_keys(scope, namespace):
        doc = store.get(key)
        if doc is not None:
            return doc
    return None
