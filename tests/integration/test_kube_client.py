"""KubeClient's list by label selector and conditional update, against the sandbox apiserver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.kube.client import KubeClient
from shared.kube.errors import ApiError
from shared.kube.kubeconfig import client_from_kubeconfig
from shared.sandbox import ClusterInfo

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube(sandbox_cluster: ClusterInfo) -> Iterator[KubeClient]:
    client = client_from_kubeconfig(sandbox_cluster.kubeconfig.read_text())
    yield client
    client.close()


def config_map(namespace: str, name: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"greeting": "hello"},
    }


def test_list_objects_returns_only_what_the_label_selector_matches(
    kube: KubeClient, namespace: str
) -> None:
    for name, labels in [
        ("a-v1", {"owner": "helm", "name": "a"}),
        ("a-v2", {"owner": "helm", "name": "a"}),
        ("b-v1", {"owner": "helm", "name": "b"}),
        ("a-other", {"name": "a"}),
    ]:
        kube.apply(config_map(namespace, name, labels), field_manager="test")

    listed = kube.list_objects(
        "v1", "ConfigMap", namespace=namespace, label_selector="owner=helm,name=a"
    )

    assert sorted(item["metadata"]["name"] for item in listed) == ["a-v1", "a-v2"]
    everything = kube.list_objects("v1", "ConfigMap", namespace=namespace)
    assert {"a-v1", "a-v2", "b-v1", "a-other"} <= {i["metadata"]["name"] for i in everything}
    assert kube.list_objects("v1", "ConfigMap", namespace=namespace, label_selector="name=zz") == []


def test_update_writes_at_the_resource_version_read_and_refuses_a_stale_one(
    kube: KubeClient, namespace: str
) -> None:
    written = kube.apply(config_map(namespace, "settings", {}), field_manager="test")
    read = {**written, "data": {"greeting": "bonjour"}}

    updated = kube.update(read)

    assert updated["data"] == {"greeting": "bonjour"}
    assert updated["metadata"]["resourceVersion"] != written["metadata"]["resourceVersion"]
    stale = {**written, "data": {"greeting": "hallo"}}
    with pytest.raises(ApiError) as refused:
        kube.update(stale)
    assert refused.value.status == 409
    live = kube.get(config_map(namespace, "settings", {}))
    assert live is not None and live["data"] == {"greeting": "bonjour"}
