"""A client for one target cluster: its kubeconfig Secret from the store, then the API client.

Every per-cluster run and ``sluice diff`` connect this way; the kubeconfig is
checked by ``shared.kube.kubeconfig`` before anything is sent. The client is the
worker's shared one for that kubeconfig and identity (``shared.kube.clients``):
callers don't close it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from shared.api import Cluster, parse_as
from shared.fleet.targets import DEFAULT_CLUSTER, Target
from shared.keys import FLEET, ObjectKey
from shared.kube.client import KubeClient
from shared.kube.clients import cached_client
from shared.kube.errors import KubeconfigError
from shared.kube.kubeconfig import ServiceAccount
from shared.scopes import resolve, scope_cluster
from shared.settings import Settings
from shared.store import Store

__all__ = ["TargetAccess", "clusters_for", "connect_target", "target_access"]


def clusters_for(store: Store, key: ObjectKey) -> tuple[list[Cluster], str]:
    """The Clusters ``key`` may target, and its default target's name (``shared.scopes``).

    Fleet-wide: the Clusters of its namespace, default ``default``. In a
    Cluster's scope: that Cluster alone, default the scope's name.
    """
    if key.scope == FLEET:
        docs = store.list("Cluster", key.namespace)
        return [parse_as(d, Cluster) for d in docs], DEFAULT_CLUSTER
    doc = scope_cluster(store, key.scope, key.namespace)
    return ([] if doc is None else [parse_as(doc, Cluster)]), key.scope


@dataclass(frozen=True)
class TargetAccess:
    """How to reach a target: its kubeconfig text and the service account to act as.

    For a tool that needs the kubeconfig itself (``helm``), written to a private file.
    """

    kubeconfig: str = field(repr=False)
    impersonate: ServiceAccount | None
    allow_http: bool
    timeout: float

    def client(self) -> KubeClient:
        """The worker's shared client for this access (not to be closed by the caller)."""
        return cached_client(
            self.kubeconfig,
            impersonate=self.impersonate,
            allow_http=self.allow_http,
            timeout=self.timeout,
        )


def target_access(
    store: Store,
    namespace: str,
    target: Target,
    *,
    service_account: str | None,
    settings: Settings,
    scope: str = FLEET,
) -> TargetAccess:
    """``target``'s kubeconfig from the store, impersonating ``service_account`` of ``namespace``.

    Without one, the installation's ``default_service_account`` is impersonated when
    set (Flux's --default-service-account), so a tenant can't apply as the
    kubeconfig's own user by leaving the field out.
    """
    ref = ObjectKey("Secret", target.secret_namespace or namespace, target.secret_name)
    where = f"kubeconfig Secret '{ref.namespace}/{ref.name}'"
    if target.secret_scope is None:
        _, secret = resolve(store, ref, scope)
    else:
        secret = store.get(ref.in_scope(target.secret_scope))
    if secret is None:
        raise KubeconfigError(f"{where} not found")
    value = (secret.get("data") or {}).get(target.secret_key)
    if value is None:
        raise KubeconfigError(f"{where} has no key '{target.secret_key}'")
    account = service_account or settings.default_service_account
    return TargetAccess(
        base64.b64decode(value).decode(),
        ServiceAccount(namespace, account) if account else None,
        settings.allow_http_clusters,
        settings.cluster_timeout,
    )


def connect_target(
    store: Store,
    namespace: str,
    target: Target,
    *,
    service_account: str | None,
    settings: Settings,
    scope: str = FLEET,
) -> KubeClient:
    """The shared client for ``target`` (``target_access``)."""
    access = target_access(
        store, namespace, target, service_account=service_account, settings=settings, scope=scope
    )
    return access.client()
