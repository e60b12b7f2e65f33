"""A Cluster's kubeconfig from the store is checked before any byte leaves for its server.

A real listener stands where the kubeconfig points; the refused kubeconfigs
must never reach it, while an allowed one does (so the listener is known to work).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from shared.api import Cluster, Kustomization, parse_as
from shared.fleet.connect import connect_target
from shared.fleet.targets import select_targets
from shared.keys import ObjectKey
from shared.kube.errors import KubeconfigError, KubeError
from shared.secrets import SecretCipher
from shared.settings import Settings
from shared.store import Store
from tests.helpers import eventually

NAMESPACE = "flux-system"


@dataclass
class Listener:
    """A TCP server on loopback that records every connection and what was sent on it."""

    sock: socket.socket
    received: list[bytes] = field(default_factory=list)
    accepted: int = 0

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed by the fixture
            self.accepted += 1
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    self.received.append(conn.recv(65536))


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    server = Listener(sock)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield server
    sock.close()
    thread.join(timeout=5)


@pytest.fixture
def store(redis_client: redis.Redis) -> Store:
    return Store(redis_client, SecretCipher(SecretCipher.generate_key()))


def _register(store: Store, name: str, user: dict[str, Any], server: str) -> Kustomization:
    """A Cluster, its kubeconfig Secret, and a Kustomization targeting it, all in the store."""
    kubeconfig = {
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": name, "user": "u"}}],
        "current-context": "x",
    }
    value = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
    meta = {"name": f"{name}-kubeconfig", "namespace": NAMESPACE}
    store.apply({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": {"value": value}})
    store.apply(
        {
            "apiVersion": "fleet.sluice.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"kubeConfig": {"secretRef": {"name": f"{name}-kubeconfig"}}},
        }
    )
    _, ks = store.apply(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": NAMESPACE},
            "spec": {
                "interval": "1m",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "clusters": [name],
            },
        }
    )
    return parse_as(ks, Kustomization)


def _connect(store: Store, ks: Kustomization, *, allow_http: bool) -> None:
    clusters = [parse_as(c, Cluster) for c in store.list("Cluster", NAMESPACE)]
    (target,) = select_targets(ks.spec, clusters).targets
    settings = Settings(cluster_timeout=2, allow_http_clusters=allow_http)
    client = connect_target(store, NAMESPACE, target, service_account=None, settings=settings)
    try:
        client.get({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    finally:
        client.close()


@pytest.mark.parametrize("allow_http", [False, True])
def test_a_cluster_with_a_token_file_on_an_http_server_never_hears_from_sluice(
    store: Store, listener: Listener, tmp_path: Path, allow_http: bool
) -> None:
    token = tmp_path / "token"
    token.write_text("read-from-a-worker-file")
    ks = _register(store, "edge", {"tokenFile": str(token)}, f"http://127.0.0.1:{listener.port}")
    with pytest.raises(KubeconfigError, match=r"user\.tokenFile: .* user\.token"):
        _connect(store, ks, allow_http=allow_http)
    assert listener.accepted == 0 and listener.received == []
    assert store.get(ObjectKey("Cluster", NAMESPACE, "edge")) is not None


def test_an_http_server_is_refused_without_the_setting_and_reached_with_it(
    store: Store, listener: Listener
) -> None:
    ks = _register(store, "edge", {"token": "inline"}, f"http://127.0.0.1:{listener.port}")
    with pytest.raises(KubeconfigError, match="SLUICE_ALLOW_HTTP_CLUSTERS"):
        _connect(store, ks, allow_http=False)
    assert listener.accepted == 0
    # With the setting the very same kubeconfig does reach the listener.
    with pytest.raises(KubeError):
        _connect(store, ks, allow_http=True)
    eventually(lambda: listener.received or None, timeout=10)
    assert listener.received[0].startswith(b"GET /api/v1")
