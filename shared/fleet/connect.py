"""A client for one target cluster: its kubeconfig Secret from the store, then the API client.

Every per-cluster run and ``sluice diff`` connect this way; the kubeconfig is
checked by ``shared.kube.kubeconfig`` before anything is sent. The client is the
worker's shared one for that kubeconfig and identity (``shared.kube.clients``):
callers don't close it.
"""

from __future__ import annotations

import base64

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

__all__ = ["clusters_for", "connect_target"]


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


def connect_target(
    store: Store,
    namespace: str,
    target: Target,
    *,
    service_account: str | None,
    settings: Settings,
    scope: str = FLEET,
) -> KubeClient:
    """The shared client for ``target``, impersonating ``service_account`` of ``namespace``.

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
    impersonate = ServiceAccount(namespace, account) if account else None
    return cached_client(
        base64.b64decode(value).decode(),
        impersonate=impersonate,
        allow_http=settings.allow_http_clusters,
        timeout=settings.cluster_timeout,
    )
