"""A worker's cluster clients, kept between runs: one per kubeconfig and identity.

Building a client costs a TLS context (CA and client key loaded), and its first
requests pay a TCP and TLS handshake and API discovery: on a cluster 20 ms away
that is several round trips before the first object is read. A worker keeps
each client it built, keyed by a digest of everything the client was built
from (kubeconfig text, impersonated account, http allowance, timeout), so the
next run on that cluster reuses its open connections and discovery cache. A
changed kubeconfig Secret (a rotated token or certificate) digests differently
and gets a new client. The least recently used client beyond ``MAX_CLIENTS``
is closed: its idle connections drop, a request still in flight finishes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from shared.kube.client import KubeClient
from shared.kube.kubeconfig import ServiceAccount, client_from_kubeconfig

__all__ = ["MAX_CLIENTS", "cached_client"]

MAX_CLIENTS = 64

_lock = threading.Lock()
_clients: OrderedDict[str, KubeClient] = OrderedDict()


def _digest(
    text: str, *, impersonate: ServiceAccount | None, allow_http: bool, timeout: float
) -> str:
    who = impersonate.username if impersonate is not None else ""
    parts = (text, who, str(allow_http), repr(timeout))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def cached_client(
    text: str,
    *,
    impersonate: ServiceAccount | None = None,
    allow_http: bool = False,
    timeout: float = 30.0,
) -> KubeClient:
    """This process's client for kubeconfig ``text`` as ``impersonate``; built on first use.

    Not to be closed by the caller: other runs share it.
    """
    key = _digest(text, impersonate=impersonate, allow_http=allow_http, timeout=timeout)
    with _lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    # Built outside the lock (it parses and loads keys); a racing twin is dropped.
    built = client_from_kubeconfig(
        text, impersonate=impersonate, allow_http=allow_http, timeout=timeout
    )
    with _lock:
        client = _clients.setdefault(key, built)
        _clients.move_to_end(key)
        evicted = [_clients.popitem(last=False)[1] for _ in range(len(_clients) - MAX_CLIENTS)]
    for old in [*evicted, *([built] if client is not built else [])]:
        old.close()
    return client
