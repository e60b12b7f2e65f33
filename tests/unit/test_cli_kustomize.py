"""sluice diff's pure parts: objects prepared exactly as apply sends them, Secrets masked."""

from __future__ import annotations

from typing import Any

import pytest

from shared.cli.diffview import comparable, mask_secrets
from shared.kube.owner import Owner
from shared.kube.plan import prepare_object

OWNER = Owner.kustomization("app", "flux-system")

OBJECTS: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "demo", "resourceVersion": "3", "uid": "u"},
        "data": {"greeting": "hello"},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token", "labels": {"team": "a"}},
        "data": {"a": "YQ=="},
        "stringData": {"b": "bee"},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "managedFields": [{}], "generation": 4},
        "spec": {"replicas": 1},
        "status": {},
    },
]


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["kind"])
def test_objects_are_sent_without_server_fields_and_with_owner_labels(obj: dict[str, Any]) -> None:
    sent = prepare_object(obj, OWNER)
    meta = sent["metadata"]
    assert not {"resourceVersion", "uid", "managedFields", "generation"} & set(meta)
    assert meta["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"
    assert meta["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == "flux-system"
    assert "status" not in sent
    assert "stringData" not in sent
    assert obj["metadata"].get("labels", {}).get("kustomize.toolkit.fluxcd.io/name") is None


def test_secret_string_data_is_folded_into_data() -> None:
    sent = prepare_object(OBJECTS[1], OWNER)
    assert sent["data"] == {"a": "YQ==", "b": "YmVl"}


def test_comparable_drops_status_and_server_bookkeeping() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "settings",
            "namespace": "demo",
            "uid": "u",
            "resourceVersion": "9",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "managedFields": [{"manager": "sluice"}],
            "labels": {"a": "b"},
        },
        "data": {"greeting": "hello"},
        "status": {"phase": "x"},
    }
    assert comparable(live) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "demo", "labels": {"a": "b"}},
        "data": {"greeting": "hello"},
    }


def test_secret_values_are_masked_and_marked_where_they_differ() -> None:
    before = {
        "kind": "Secret",
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{..}"}},
        "data": {"same": "c2FtZQ==", "changed": "b2xk", "gone": "eA=="},
    }
    after = {
        "kind": "Secret",
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{..}"}},
        "data": {"same": "c2FtZQ==", "changed": "bmV3", "added": "eQ=="},
    }
    mask_secrets(before, after)
    assert before["data"] == {"same": "***", "changed": "*** (before)", "gone": "*** (before)"}
    assert after["data"] == {"same": "***", "changed": "*** (after)", "added": "*** (after)"}
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    assert before["metadata"]["annotations"][annotation] == "***"


def test_other_kinds_are_not_masked() -> None:
    before = {"kind": "ConfigMap", "metadata": {}, "data": {"k": "v"}}
    after = {"kind": "ConfigMap", "metadata": {}, "data": {"k": "w"}}
    mask_secrets(before, after)
    assert (before["data"], after["data"]) == ({"k": "v"}, {"k": "w"})
