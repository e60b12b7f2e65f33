"""A worker reuses one client per kubeconfig and identity, and builds anew when either changes."""

from __future__ import annotations

import yaml

from shared.kube.clients import cached_client
from shared.kube.kubeconfig import ServiceAccount


def kubeconfig(token: str, server: str = "https://127.0.0.1:1") -> str:
    return yaml.safe_dump(
        {
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


def test_the_same_kubeconfig_and_identity_get_the_same_client() -> None:
    text = kubeconfig("reuse-me")
    assert cached_client(text) is cached_client(text)
    app = ServiceAccount("apps", "deployer")
    assert cached_client(text, impersonate=app) is cached_client(text, impersonate=app)


def test_a_rotated_token_another_identity_or_server_gets_its_own_client() -> None:
    first = cached_client(kubeconfig("old-token"))
    assert cached_client(kubeconfig("new-token")) is not first
    assert cached_client(kubeconfig("old-token"), impersonate=ServiceAccount("a", "b")) is not first
    assert cached_client(kubeconfig("old-token", "https://127.0.0.2:1")) is not first
    assert cached_client(kubeconfig("old-token"), timeout=5.0) is not first
