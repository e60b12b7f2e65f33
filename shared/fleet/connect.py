"""A client for one target cluster: its kubeconfig Secret from the store, then the API client.

Every per-cluster run and ``sluice diff`` connect this way; the kubeconfig is
checked by ``shared.kube.kubeconfig`` before anything is sent.
"""

from __future__ import annotations

import base64

from shared.fleet.targets import Target
from shared.keys import ObjectKey
from shared.kube.client import KubeClient
from shared.kube.errors import KubeconfigError
from shared.kube.kubeconfig import ServiceAccount, client_from_kubeconfig
from shared.settings import Settings
from shared.store import Store

__all__ = ["connect_target"]


def connect_target(
    store: Store,
    namespace: str,
    target: Target,
    *,
    service_account: str | None,
    settings: Settings,
) -> KubeClient:
    """A client for ``target``, impersonating ``service_account`` of ``namespace``.

    Without one, the installation's ``default_service_account`` is impersonated when
    set (Flux's --default-service-account), so a tenant can't apply as the
    kubeconfig's own user by leaving the field out.
    """
    where = f"kubeconfig Secret '{namespace}/{target.secret_name}'"
    secret = store.get(ObjectKey("Secret", namespace, target.secret_name))
    if secret is None:
        raise KubeconfigError(f"{where} not found")
    value = (secret.get("data") or {}).get(target.secret_key)
    if value is None:
        raise KubeconfigError(f"{where} has no key '{target.secret_key}'")
    account = service_account or settings.default_service_account
    impersonate = ServiceAccount(namespace, account) if account else None
    return client_from_kubeconfig(
        base64.b64decode(value).decode(),
        impersonate=impersonate,
        allow_http=settings.allow_http_clusters,
        timeout=settings.cluster_timeout,
    )
