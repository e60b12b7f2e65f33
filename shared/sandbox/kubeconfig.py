"""Kubeconfig files for sandbox clusters: server, embedded CA, a bearer token."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from shared import yaml
from shared.sandbox.certs import ADMIN_USER, RESTRICTED_USER, Credentials

__all__ = ["kubeconfig_document", "write_cluster_kubeconfigs", "write_kubeconfig"]


def kubeconfig_document(
    *,
    cluster: str,
    server: str,
    ca_pem: bytes,
    user: str,
    token: str,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user and one current context."""
    context: dict[str, str] = {"cluster": cluster, "user": user}
    if namespace:
        context["namespace"] = namespace
    name = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }


def write_kubeconfig(
    path: Path,
    *,
    cluster: str,
    server: str,
    ca_pem: bytes,
    user: str,
    token: str,
    namespace: str | None = None,
) -> Path:
    """Write a kubeconfig readable only by its owner (it holds a token); return its path."""
    doc = kubeconfig_document(
        cluster=cluster, server=server, ca_pem=ca_pem, user=user, token=token, namespace=namespace
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(yaml.dump(doc))
    tmp.replace(path)
    return path


def write_cluster_kubeconfigs(
    cluster: str,
    *,
    server: str,
    creds: Credentials,
    admin: Path,
    restricted: Path,
    namespace: str,
) -> None:
    """Write one sandbox cluster's two kubeconfigs: the admin's, and the restricted user's."""
    ca_pem = creds.ca_cert.read_bytes()
    write_kubeconfig(
        admin,
        cluster=cluster,
        server=server,
        ca_pem=ca_pem,
        user=ADMIN_USER,
        token=creds.admin_token,
    )
    write_kubeconfig(
        restricted,
        cluster=cluster,
        server=server,
        ca_pem=ca_pem,
        user=RESTRICTED_USER,
        token=creds.restricted_token,
        namespace=namespace,
    )
