"""A Provider and its Secrets, read from the store: where to send (Target) and how (Transport).

As Flux's notifier factory: the Secret's ``address``, ``username`` override
the spec's, ``token``, ``password`` and ``headers`` (a YAML map) come only
from it; ``proxySecretRef`` gives a proxy (``address``, ``username``,
``password``), ``certSecretRef`` a CA (``ca.crt``) and a client certificate
(``tls.crt``, ``tls.key``). A missing Secret or key is a ``TargetError``
naming the field, never showing a value.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from services.notify.notice import Target
from shared.api.provider import Provider
from shared.keys import ObjectKey
from shared.scopes import resolve
from shared.store import Store

__all__ = ["TargetError", "Transport", "resolve_provider"]


class TargetError(Exception):
    """The Provider cannot be sent to as it is configured (names the field; no value)."""


@dataclass(frozen=True)
class Transport:
    """How to reach the endpoint: timeout, TLS material and proxy, all secret-bearing."""

    timeout: float
    ca_pem: str | None = field(default=None, repr=False)
    client_cert_pem: str | None = field(default=None, repr=False)
    client_key_pem: str | None = field(default=None, repr=False)
    proxy: str | None = field(default=None, repr=False)


def _secret(
    store: Store, provider: Provider, name: str, *, scope: str, field_: str
) -> dict[str, str]:
    _, doc = resolve(store, ObjectKey("Secret", provider.namespace, name), scope)
    if doc is None:
        raise TargetError(f"secret '{provider.namespace}/{name}' named in {field_} not found")
    return {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}


def _headers(text: str) -> dict[str, str]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TargetError("the secretRef's 'headers' key is not a YAML map") from err
    if not isinstance(loaded, dict):
        raise TargetError("the secretRef's 'headers' key must be a map of header names to values")
    return {str(k): str(v) for k, v in loaded.items()}


def _proxy(store: Store, provider: Provider, *, scope: str) -> str | None:
    ref = provider.spec.proxy_secret_ref
    if ref is None:
        return provider.spec.proxy
    data = _secret(store, provider, ref.name, scope=scope, field_="spec.proxySecretRef")
    address = data.get("address", "")
    if not address.startswith(("http://", "https://")):
        raise TargetError("the proxySecretRef's 'address' key must be an http:// or https:// URL")
    user = data.get("username")
    if not user:
        return address
    parts = urlsplit(address)
    auth = quote(user, safe="") + (
        ":" + quote(data["password"], safe="") if data.get("password") else ""
    )
    return urlunsplit(parts._replace(netloc=f"{auth}@{parts.netloc}"))


def resolve_provider(
    store: Store, provider: Provider, *, scope: str = ""
) -> tuple[Target, Transport]:
    """The Target and Transport of ``provider`` (stored in ``scope``)."""
    spec = provider.spec
    data: dict[str, str] = {}
    if spec.secret_ref is not None:
        data = _secret(store, provider, spec.secret_ref.name, scope=scope, field_="spec.secretRef")
    target = Target(
        type=spec.type,
        address=data.get("address", spec.address or "").strip(),
        name=provider.name,
        namespace=provider.namespace,
        uid=provider.metadata.uid or "",
        channel=spec.channel or "",
        username=data.get("username", spec.username or ""),
        token=data.get("token", "").strip(),
        password=data.get("password", ""),
        headers=_headers(data["headers"]) if "headers" in data else {},
        commit_status_expr=spec.commit_status_expr or "",
    )
    ca = client_cert = client_key = None
    if spec.cert_secret_ref is not None:
        certs = _secret(
            store, provider, spec.cert_secret_ref.name, scope=scope, field_="spec.certSecretRef"
        )
        ca = certs.get("ca.crt") or certs.get("caFile")
        client_cert, client_key = certs.get("tls.crt"), certs.get("tls.key")
        if bool(client_cert) != bool(client_key):
            raise TargetError("the certSecretRef needs both 'tls.crt' and 'tls.key', or neither")
        if not (ca or client_cert):
            raise TargetError("the certSecretRef has neither 'ca.crt' nor 'tls.crt'/'tls.key'")
    transport = Transport(
        timeout=spec.timeout_seconds,
        ca_pem=ca,
        client_cert_pem=client_cert,
        client_key_pem=client_key,
        proxy=_proxy(store, provider, scope=scope) or data.get("proxy") or None,
    )
    return target, transport
