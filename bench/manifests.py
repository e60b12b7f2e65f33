"""The objects a scenario applies: sources, Kustomizations, HelmReleases, Clusters, notify and
image kinds."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from shared import yaml

__all__ = [
    "FLEET",
    "NAMESPACE",
    "NOTIFICATION",
    "alert",
    "app_files",
    "cluster_docs",
    "configmap_name",
    "git_repository",
    "helm_release",
    "helm_repository",
    "image_policy",
    "image_repository",
    "image_update_automation",
    "kubeconfig_secret",
    "kustomization",
    "provider",
    "receiver_docs",
    "registry_login",
]

NAMESPACE = "flux-system"
# Every benchmark Cluster has this label; a Kustomization without another selector selects it.
FLEET = {"bench": "yes"}
Doc = dict[str, Any]


def configmap_name(index: int) -> str:
    """The name of the ``index``-th ConfigMap of the app (before any namePrefix)."""
    return f"cm-{index}"


def app_files(objects: int, value: str, *, path: str = "app") -> dict[str, str]:
    """An app of ``objects`` ConfigMaps (no namespace: the Kustomization sets it)."""
    names = [configmap_name(i) for i in range(objects)]
    files = {f"{path}/kustomization.yaml": "resources:\n" + "".join(f"- {n}.yaml\n" for n in names)}
    for name in names:
        files[f"{path}/{name}.yaml"] = (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
            f"data:\n  value: {value!r}\n"
        )
    return files


def git_repository(name: str, url: str, *, interval: str) -> Doc:
    """A GitRepository on branch main."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"interval": interval, "url": url, "ref": {"branch": "main"}},
    }


def helm_repository(name: str, url: str, *, interval: str) -> Doc:
    """A HelmRepository (an HTTP chart repository's index)."""
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"interval": interval, "url": url},
    }


def helm_release(
    name: str,
    *,
    chart: str,
    repository: str,
    interval: str,
    target_namespace: str = "default",
    selector: dict[str, str] | None = None,
) -> Doc:
    """A HelmRelease of ``chart`` from HelmRepository ``repository``, released as ``name``.

    Released on the Clusters that ``selector`` matches (all benchmark Clusters by default).
    """
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "interval": interval,
            "releaseName": name,
            "targetNamespace": target_namespace,
            "chart": {
                "spec": {
                    "chart": chart,
                    "sourceRef": {"kind": "HelmRepository", "name": repository},
                }
            },
            "clusterSelector": {"matchLabels": selector or FLEET},
        },
    }


def kustomization(
    name: str,
    *,
    source: str,
    interval: str,
    path: str = "./app",
    target_namespace: str = "default",
    name_prefix: str | None = None,
    selector: dict[str, str] | None = None,
) -> Doc:
    """A pruning Kustomization of ``path``, applied to the Clusters that ``selector`` matches."""
    spec: Doc = {
        "interval": interval,
        "retryInterval": "5s",
        "path": path,
        "prune": True,
        "targetNamespace": target_namespace,
        "sourceRef": {"kind": "GitRepository", "name": source},
    }
    if name_prefix:
        spec["namePrefix"] = name_prefix
    spec["clusterSelector"] = {"matchLabels": selector or FLEET}
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def kubeconfig_secret(name: str, kubeconfig: Path, *, server: str | None = None) -> Doc:
    """A Secret holding ``kubeconfig`` under ``value`` (the key sluice and Flux both read).

    ``server`` replaces the kubeconfig's server URL (a latency proxy's address).
    """
    text = kubeconfig.read_bytes()
    if server is not None:
        config = yaml.load(text, source=str(kubeconfig))
        config["clusters"][0]["cluster"]["server"] = server
        text = yaml.dump(config).encode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"value": base64.b64encode(text).decode()},
    }


def cluster_docs(
    name: str, kubeconfig: Path, labels: dict[str, str], *, server: str | None = None
) -> list[Doc]:
    """A kubeconfig Secret and the Cluster object that uses it (labelled ``FLEET`` too).

    ``server`` replaces the kubeconfig's server URL in the Secret (a latency proxy's address).
    """
    secret = f"{name}-kubeconfig"
    return [
        kubeconfig_secret(secret, kubeconfig, server=server),
        {
            "apiVersion": "fleet.sluice.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {**FLEET, **labels}},
            "spec": {"kubeConfig": {"secretRef": {"name": secret}}},
        },
    ]


NOTIFICATION = "notification.toolkit.fluxcd.io/v1beta3"


def provider(name: str, address: str, *, timeout: str | None = None) -> Doc:
    """A ``generic`` Provider: each notice is POSTed as Flux's event JSON to ``address``."""
    spec: Doc = {"type": "generic", "address": address}
    if timeout is not None:
        spec["timeout"] = timeout
    return {
        "apiVersion": NOTIFICATION,
        "kind": "Provider",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def alert(name: str, *, provider: str, kind: str) -> Doc:
    """An Alert sending every event (info and up) of every ``kind`` object to ``provider``."""
    return {
        "apiVersion": NOTIFICATION,
        "kind": "Alert",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "providerRef": {"name": provider},
            "eventSeverity": "info",
            "eventSources": [{"kind": kind, "name": "*"}],
        },
    }


def receiver_docs(name: str, *, source: str, token: str) -> list[Doc]:
    """A github Receiver asking for ``source``'s reconcile on a push, and its token Secret."""
    secret = f"{name}-token"
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": NAMESPACE},
            "data": {"token": base64.b64encode(token.encode()).decode()},
        },
        {
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "type": "github",
                "events": ["push"],
                "secretRef": {"name": secret},
                "resources": [{"kind": "GitRepository", "name": source}],
            },
        },
    ]


IMAGE = "image.toolkit.fluxcd.io/v1"


def registry_login(name: str, *, host: str, username: str, password: str) -> Doc:
    """A dockerconfigjson Secret with one registry login, as ``kubectl create secret
    docker-registry`` makes it."""
    config = {"auths": {host: {"username": username, "password": password}}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


def image_repository(name: str, image: str, *, interval: str, secret: str | None = None) -> Doc:
    """An ImageRepository scanning ``image``'s tags (pulling with ``secret``'s login)."""
    spec: Doc = {"image": image, "interval": interval}
    if secret is not None:
        spec["secretRef"] = {"name": secret}
    return {
        "apiVersion": IMAGE,
        "kind": "ImageRepository",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def image_policy(name: str, *, repository: str, semver: str) -> Doc:
    """An ImagePolicy choosing the highest tag of ``repository`` in the semver range."""
    return {
        "apiVersion": IMAGE,
        "kind": "ImagePolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "imageRepositoryRef": {"name": repository},
            "policy": {"semver": {"range": semver}},
        },
    }


def image_update_automation(name: str, *, source: str, interval: str, path: str = "./app") -> Doc:
    """An ImageUpdateAutomation rewriting the setter markers under ``path`` in ``source``'s
    main branch, committing and pushing to main."""
    return {
        "apiVersion": IMAGE,
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "interval": interval,
            "sourceRef": {"kind": "GitRepository", "name": source},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "sluice bench", "email": "bench@sluice.invalid"}},
                "push": {"branch": "main"},
            },
            "update": {"path": path, "strategy": "Setters"},
        },
    }
