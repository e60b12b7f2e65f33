"""Inventory ids in Flux's format, stale sets and change sets."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kube.inventory import (
    Action,
    Change,
    ChangeSet,
    Inventory,
    ObjectError,
    ObjectRef,
    stale_objects,
)


def obj(api_version: str, kind: str, name: str, namespace: str = "", **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **meta}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


@pytest.mark.parametrize(
    ("manifest", "entry_id", "version"),
    [
        (obj("v1", "Service", "podinfo", "default"), "default_podinfo__Service", "v1"),
        (obj("v1", "Namespace", "ns1"), "_ns1__Namespace", "v1"),
        (obj("apps/v1", "Deployment", "web", "apps"), "apps_web_apps_Deployment", "v1"),
        (
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:flux"),
            "_system__flux_rbac.authorization.k8s.io_ClusterRole",
            "v1",
        ),
        (
            obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
            "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition",
            "v1",
        ),
        (obj("v1", "ConfigMap", "a:b:", "x"), "x_a__b____ConfigMap", "v1"),
    ],
)
def test_ids_follow_flux_and_parse_back(
    manifest: dict[str, Any], entry_id: str, version: str
) -> None:
    ref = ObjectRef.from_object(manifest)
    assert (ref.id, ref.version) == (entry_id, version)
    back = ObjectRef.from_id(entry_id, version)
    assert back == ref
    assert (back.name, back.api_version) == (ref.name, manifest["apiVersion"])


@pytest.mark.parametrize("bad", ["", "nounderscores", "ns_name", "ns_a_b_c_Kind"])
def test_malformed_ids_are_refused_with_the_expected_format(bad: str) -> None:
    with pytest.raises(ValueError, match="<namespace>_<name>_<group>_<kind>"):
        ObjectRef.from_id(bad)


def test_identity_ignores_version_but_keeps_it_for_deletion() -> None:
    old = ObjectRef("autoscaling", "HorizontalPodAutoscaler", "ns", "web", "v2beta2")
    new = ObjectRef("autoscaling", "HorizontalPodAutoscaler", "ns", "web", "v2")
    assert old == new and old.id == new.id
    assert old.api_version == "autoscaling/v2beta2"


def test_refs_print_like_flux() -> None:
    assert str(ObjectRef("apps", "Deployment", "ns", "web", "v1")) == "Deployment/ns/web"
    assert str(ObjectRef("", "Namespace", "", "ns", "v1")) == "Namespace/ns"


def test_inventory_round_trips_through_status_in_order_without_duplicates() -> None:
    status = {
        "entries": [
            {"id": "_ns1__Namespace", "v": "v1"},
            {"id": "ns1_web_apps_Deployment", "v": "v1"},
            {"id": "_ns1__Namespace", "v": "v1"},
        ]
    }
    inv = Inventory.from_status(status)
    assert [r.id for r in inv] == ["_ns1__Namespace", "ns1_web_apps_Deployment"]
    assert inv.to_status() == {"entries": status["entries"][:2]}
    assert ObjectRef("apps", "Deployment", "ns1", "web") in inv
    assert Inventory.from_status(None) == Inventory() and len(Inventory()) == 0


@pytest.mark.parametrize(
    ("old", "new", "stale"),
    [
        ([], ["a_x__ConfigMap"], []),
        (["a_x__ConfigMap", "a_y__ConfigMap"], ["a_x__ConfigMap"], ["a_y__ConfigMap"]),
        (["a_x__ConfigMap"], [], ["a_x__ConfigMap"]),
        (["_a__Namespace", "a_w_apps_Deployment"], ["a_w_apps_Deployment"], ["_a__Namespace"]),
        # the same object under another group is another object
        (["a_w_extensions_Deployment"], ["a_w_apps_Deployment"], ["a_w_extensions_Deployment"]),
    ],
)
def test_stale_is_old_minus_new_by_id(old: list[str], new: list[str], stale: list[str]) -> None:
    def inventory(ids: list[str]) -> Inventory:
        return Inventory.from_status({"entries": [{"id": i, "v": "v1"} for i in ids]})

    result = stale_objects(inventory(old), inventory(new))
    assert [r.id for r in result] == stale
    assert all(r.version == "v1" for r in result)


def test_a_version_change_is_not_stale() -> None:
    old = Inventory.from_status({"entries": [{"id": "a_h_autoscaling_HPA", "v": "v2beta2"}]})
    new = Inventory.from_status({"entries": [{"id": "a_h_autoscaling_HPA", "v": "v2"}]})
    assert stale_objects(old, new) == ()


def test_change_set_summary_lists_only_changes_and_inventory_keeps_all() -> None:
    web = ObjectRef("apps", "Deployment", "ns", "web", "v1")
    cm = ObjectRef("", "ConfigMap", "ns", "cfg", "v1")
    ns = ObjectRef("", "Namespace", "", "ns", "v1")
    ignored = ObjectRef("", "Secret", "ns", "keep", "v1")
    changes = ChangeSet(
        (
            Change(ns, Action.UNCHANGED),
            Change(cm, Action.CREATED),
            Change(web, Action.CONFIGURED),
            Change(ignored, Action.SKIPPED),
        )
    )
    assert changes.summary() == "ConfigMap/ns/cfg created\nDeployment/ns/web configured"
    assert [r.id for r in changes.inventory()] == [ns.id, cm.id, web.id, ignored.id]
    assert changes.refs(skipped=False) == (ns, cm, web)
    assert (
        changes.action_of(web) == Action.CONFIGURED
        and changes.action_of(ObjectRef("", "ConfigMap", "ns", "other")) is None
    )


def test_object_errors_read_like_flux() -> None:
    ref = ObjectRef("", "Service", "ns", "bad", "v1")
    error = ObjectError(ref, "Invalid", 'Service "bad" is invalid', "dry-run")
    assert str(error) == 'Service/ns/bad dry-run failed (Invalid): Service "bad" is invalid'
