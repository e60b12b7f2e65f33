"""Apply stages and the order of objects within a stage, as kustomize-controller (§3.6).

Pure: objects are plain dicts. The stages are applied in turn:

1. ``definitions``: CustomResourceDefinitions, Namespaces and ClusterRoles, then
   waited on, so the kinds and namespaces later objects need exist;
2. ``classes``: kinds ending in ``Class`` (StorageClass, IngressClass, ...), waited on;
3. ``custom``: the kinds given as ``custom_kinds`` (Flux's ``--custom-apply-stage-kinds``);
4. ``resources``: everything else.

Within a stage objects follow Flux's kind order, then group, kind, namespace, name.
Prune deletes in the reverse of the same order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.kube.inventory import ObjectRef

__all__ = [
    "CLASSES",
    "CLUSTER_DEFINITION_KINDS",
    "CUSTOM",
    "DEFINITIONS",
    "KIND_ORDER",
    "RESOURCES",
    "Stage",
    "prune_order",
    "sort_key",
    "sort_objects",
    "stage_of",
    "stages",
]

CLUSTER_DEFINITION_KINDS = frozenset({"CustomResourceDefinition", "Namespace", "ClusterRole"})

# "" marks where every kind not listed goes.
KIND_ORDER: tuple[str, ...] = (
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
    "",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
_RANK = {kind: i for i, kind in enumerate(KIND_ORDER)}
_OTHERS = _RANK[""]

DEFINITIONS, CLASSES, CUSTOM, RESOURCES = "definitions", "classes", "custom", "resources"
_STAGE_NAMES = (DEFINITIONS, CLASSES, CUSTOM, RESOURCES)

T = TypeVar("T", bound=Mapping[str, Any])


@dataclass(frozen=True)
class Stage(Generic[T]):
    """Objects applied together; ``wait`` says whether they must be ready before the next."""

    name: str
    objects: tuple[T, ...]
    wait: bool


def _group_kind(obj: Mapping[str, Any] | ObjectRef) -> tuple[str, str]:
    if isinstance(obj, ObjectRef):
        return obj.group, obj.kind
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, str(obj.get("kind", ""))


def stage_of(
    obj: Mapping[str, Any] | ObjectRef, *, custom_kinds: Collection[tuple[str, str]] = ()
) -> str:
    """The stage name of one object; ``custom_kinds`` holds ``(group, kind)`` pairs."""
    group, kind = _group_kind(obj)
    # Flux decides the first two stages by kind alone, whatever the group.
    if kind in CLUSTER_DEFINITION_KINDS:
        return DEFINITIONS
    if kind.endswith("Class"):
        return CLASSES
    if (group, kind) in custom_kinds:
        return CUSTOM
    return RESOURCES


def sort_key(obj: Mapping[str, Any] | ObjectRef) -> tuple[int, str, str, str, str]:
    """Flux's apply order: kind rank, then group, kind, namespace, name."""
    ref = obj if isinstance(obj, ObjectRef) else ObjectRef.from_object(obj)
    rank = _RANK.get(ref.kind, _OTHERS)
    return rank, ref.group, ref.kind, ref.namespace, ref.name


def sort_objects(objects: Iterable[T]) -> list[T]:
    """Objects in apply order (stable for equal keys)."""
    return sorted(objects, key=sort_key)


def stages(
    objects: Iterable[T], *, custom_kinds: Collection[tuple[str, str]] = ()
) -> list[Stage[T]]:
    """The non-empty stages, in apply order, each sorted."""
    buckets: dict[str, list[T]] = {name: [] for name in _STAGE_NAMES}
    for obj in objects:
        buckets[stage_of(obj, custom_kinds=custom_kinds)].append(obj)
    return [
        Stage(name, tuple(sort_objects(buckets[name])), wait=name in (DEFINITIONS, CLASSES))
        for name in _STAGE_NAMES
        if buckets[name]
    ]


def prune_order(refs: Sequence[ObjectRef]) -> list[ObjectRef]:
    """Deletion order: the reverse of apply order, so namespaces and CRDs go last."""
    staged = sorted(refs, key=lambda r: (_STAGE_NAMES.index(stage_of(r)), sort_key(r)))
    return staged[::-1]
