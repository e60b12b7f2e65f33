"""Rebuild a lost inventory from the owner labels that every applied object carries.

An owner's per-cluster inventory is kept by its caller (in Redis). When it is missing (Redis
lost its data, or this is the first apply) or incomplete (the task that applied a
revision died before recording what it applied), objects that left Git would never
be pruned. ``adopt`` finds them instead: one label-selector list, across all
namespaces, per kind of the new build plus a fixed set of common kinds, for
objects carrying the owner's two labels (``<group>/name`` and ``/namespace``,
``owner.py``). Kinds outside that set (a custom resource no longer in the build) are not
found; kinds the cluster does not serve or the identity may not list are skipped.

The lists ask for metadata only and may be answered from the API server's watch
cache: an object created an instant ago may be missed, and is found next time.
Bounded: at most ``len(kinds)`` lists, paged ``PAGE`` items at a time, and at most
``MAX_OBJECTS`` objects. Pruning still checks each live object's owner labels and
prune annotations before deleting it (``prune.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from shared.kube.client import METADATA_LIST, KubeClient, ResourceInfo
from shared.kube.errors import ApiError, UnknownKindError
from shared.kube.inventory import Inventory, ObjectRef
from shared.kube.owner import Owner
from shared.kube.parallel import run_all

__all__ = ["COMMON_KINDS", "MAX_OBJECTS", "adopt"]

# (apiVersion, kind) listed besides the kinds of the build: what apps are usually made of.
COMMON_KINDS: tuple[tuple[str, str], ...] = (
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("v1", "Namespace"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
)
PAGE = 500
MAX_OBJECTS = 20_000
# Not allowed to list it, or it cannot be listed: nothing of that kind can be adopted.
_SKIPPED_STATUS = frozenset({401, 403, 404, 405})


def _kinds(objects: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    built = [(str(o.get("apiVersion", "")), str(o.get("kind", ""))) for o in objects]
    return list(dict.fromkeys([*built, *COMMON_KINDS]))


def _list(client: KubeClient, info: ResourceInfo, selector: str) -> Iterable[dict[str, Any]]:
    # Metadata only, from the API server's watch cache (resourceVersion 0): names are
    # all adoption needs, and prune reads each object afresh before deleting it.
    query = {"labelSelector": selector, "limit": str(PAGE), "resourceVersion": "0"}
    while True:
        try:
            listing = client.request("GET", info.path(), query=query, accept=METADATA_LIST)
        except ApiError as exc:
            if exc.status in _SKIPPED_STATUS:
                return
            raise
        yield from listing.get("items") or []
        token = (listing.get("metadata") or {}).get("continue")
        if not token:
            return
        query.pop("resourceVersion", None)  # a continued list names none
        query["continue"] = str(token)


def _resources(client: KubeClient, objects: Iterable[Mapping[str, Any]]) -> list[ResourceInfo]:
    """The resources to list: one per group and kind the cluster serves."""
    kinds = _kinds(objects)
    client.prefetch(kinds)  # a first contact asks for each group version: side by side
    found: dict[tuple[str, str], ResourceInfo] = {}
    for api_version, kind in kinds:
        try:
            info = client.resource(api_version, kind)
        except (UnknownKindError, ApiError):
            continue
        found.setdefault((info.group, info.kind), info)  # another version is listed already
    return list(found.values())


def _owned(client: KubeClient, info: ResourceInfo, selector: str) -> list[ObjectRef]:
    refs = []
    for item in _list(client, info, selector):
        meta = item.get("metadata") or {}
        namespace = str(meta.get("namespace") or "") if info.namespaced else ""
        name = str(meta.get("name") or "")
        refs.append(ObjectRef(info.group, info.kind, namespace, name, info.version))
        if len(refs) >= MAX_OBJECTS:
            break
    return refs


def adopt(client: KubeClient, owner: Owner, objects: Iterable[Mapping[str, Any]]) -> Inventory:
    """What ``owner`` has on this cluster by its labels (KubeError when unreachable).

    The kinds are listed side by side (``parallel.py``): one round trip, not twenty.
    """
    selector = owner.selector
    infos = _resources(client, objects)
    found = run_all([partial(_owned, client, info, selector) for info in infos])
    return Inventory.from_refs([ref for refs in found for ref in refs][:MAX_OBJECTS])
