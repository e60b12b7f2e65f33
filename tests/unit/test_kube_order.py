"""Apply stages and the order within a stage, as kustomize-controller does it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kube.inventory import ObjectRef
from shared.kube.order import prune_order, sort_objects, stage_of, stages


def obj(api_version: str, kind: str, name: str = "x", namespace: str = "") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


@pytest.mark.parametrize(
    ("api_version", "kind", "stage"),
    [
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "definitions"),
        ("v1", "Namespace", "definitions"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "definitions"),
        ("storage.k8s.io/v1", "StorageClass", "classes"),
        ("networking.k8s.io/v1", "IngressClass", "classes"),
        ("gateway.networking.k8s.io/v1", "GatewayClass", "classes"),
        ("cluster.x-k8s.io/v1beta1", "ClusterClass", "classes"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "resources"),
        ("apps/v1", "Deployment", "resources"),
        ("example.com/v1", "Widget", "resources"),
    ],
)
def test_stage_of_each_kind(api_version: str, kind: str, stage: str) -> None:
    assert stage_of(obj(api_version, kind)) == stage


def test_custom_stage_kinds_get_their_own_stage_between_classes_and_the_rest() -> None:
    custom = {("example.com", "Widget")}
    objects = [
        obj("apps/v1", "Deployment"),
        obj("example.com/v1", "Widget"),
        obj("v1", "Namespace"),
    ]
    result = stages(objects, custom_kinds=custom)
    assert [(s.name, s.wait, [o["kind"] for o in s.objects]) for s in result] == [
        ("definitions", True, ["Namespace"]),
        ("custom", False, ["Widget"]),
        ("resources", False, ["Deployment"]),
    ]


def test_stages_skip_empty_ones_and_keep_order() -> None:
    assert stages([]) == []
    result = stages([obj("v1", "ConfigMap", "b", "n"), obj("v1", "ConfigMap", "a", "n")])
    assert [s.name for s in result] == ["resources"]
    assert [o["metadata"]["name"] for o in result[0].objects] == ["a", "b"]


def test_within_a_stage_objects_follow_flux_kind_order() -> None:
    shuffled = [
        obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        obj("example.com/v1", "Widget", namespace="n"),
        obj("apps/v1", "Deployment", namespace="n"),
        obj("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
        obj("v1", "Service", namespace="n"),
        obj("policy/v1", "PodDisruptionBudget", namespace="n"),
        obj("v1", "Secret", namespace="n"),
        obj("v1", "ConfigMap", namespace="n"),
        obj("rbac.authorization.k8s.io/v1", "RoleBinding", namespace="n"),
        obj("rbac.authorization.k8s.io/v1", "Role", namespace="n"),
        obj("v1", "ServiceAccount", namespace="n"),
        obj("v1", "ResourceQuota", namespace="n"),
        obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        obj("apps/v1", "StatefulSet", namespace="n"),
        obj("batch/v1", "CronJob", namespace="n"),
        obj("v1", "LimitRange", namespace="n"),
        obj("a.example.com/v1", "Gadget", namespace="n"),
    ]
    kinds = [o["kind"] for o in sort_objects(shuffled)]
    assert kinds == [
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
        "Gadget",  # others: by group, then kind
        "Widget",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ]


def test_definitions_stage_order_is_crds_then_namespaces_then_cluster_roles() -> None:
    objs = [
        obj("rbac.authorization.k8s.io/v1", "ClusterRole", "r"),
        obj("v1", "Namespace", "b"),
        obj("v1", "Namespace", "a"),
        obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "w"),
    ]
    (only,) = stages(objs)
    assert [(o["kind"], o["metadata"]["name"]) for o in only.objects] == [
        ("CustomResourceDefinition", "w"),
        ("Namespace", "a"),
        ("Namespace", "b"),
        ("ClusterRole", "r"),
    ]


def test_ties_break_by_namespace_then_name() -> None:
    objs = [obj("v1", "ConfigMap", "a", "z"), obj("v1", "ConfigMap", "b", "a")]
    assert [o["metadata"]["namespace"] for o in sort_objects(objs)] == ["a", "z"]


def test_prune_order_is_the_reverse_of_apply_order() -> None:
    refs = [
        ObjectRef("", "Namespace", "", "n", "v1"),
        ObjectRef("apps", "Deployment", "n", "web", "v1"),
        ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "", "w", "v1"),
        ObjectRef("example.com", "Widget", "n", "w1", "v1"),
        ObjectRef("storage.k8s.io", "StorageClass", "", "fast", "v1"),
    ]
    assert [r.kind for r in prune_order(refs)] == [
        "Widget",
        "Deployment",
        "StorageClass",
        "Namespace",
        "CustomResourceDefinition",
    ]
