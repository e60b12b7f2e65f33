from typing import Any

import pytest
from pydantic import ValidationError

from shared.api import (
    Cluster,
    ConfigMap,
    GitRepository,
    InvalidObjects,
    Kustomization,
    Secret,
    dump_object,
    parse_as,
    parse_object,
)
from shared.api.kustomize import KustomizationSpec, SourceReference
from shared.api.meta import LabelSelector
from shared.keys import ObjectKey


def _ks(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            **spec,
        },
    }


def _repo(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet"},
        "spec": {"interval": "1m", "url": "https://github.com/org/fleet", **spec},
    }


def test_parse_object_returns_the_model_of_the_kind() -> None:
    obj = parse_object(_ks())
    assert isinstance(obj, Kustomization)
    assert obj.key == ObjectKey("Kustomization", "flux-system", "apps")
    assert obj.spec.source_ref.kind == "GitRepository"
    assert obj.spec.path == ""
    assert (obj.spec.wait, obj.spec.force, obj.spec.suspend) == (False, False, False)


@pytest.mark.parametrize(
    ("spec", "interval", "retry", "timeout"),
    [
        ({}, 600, 600, 600),
        ({"retryInterval": "1m", "timeout": "5m"}, 600, 60, 300),
        ({"interval": "1h30m"}, 5400, 5400, 5400),
    ],
)
def test_kustomization_durations_read_as_seconds_with_flux_defaults(
    spec: dict[str, Any], interval: float, retry: float, timeout: float
) -> None:
    ks = parse_as(_ks(**spec), Kustomization)
    assert (
        ks.spec.interval_seconds,
        ks.spec.retry_interval_seconds,
        ks.spec.timeout_seconds,
    ) == (interval, retry, timeout)


@pytest.mark.parametrize(("spec", "timeout"), [({}, 60), ({"timeout": "90s"}, 90)])
def test_git_repository_timeout_defaults_to_a_minute(spec: dict[str, Any], timeout: float) -> None:
    repo = parse_as(_repo(**spec), GitRepository)
    assert (repo.spec.interval_seconds, repo.spec.timeout_seconds) == (60, timeout)
    assert repo.namespace == "default"


def test_parse_as_refuses_another_kind() -> None:
    with pytest.raises(
        InvalidObjects, match='kind: expected kind GitRepository, got "Kustomization"'
    ):
        parse_as(_ks(), GitRepository)


def test_parse_object_raises_all_errors() -> None:
    doc = _ks(interval="soon", prune="yes")
    with pytest.raises(InvalidObjects) as info:
        parse_object(doc, source="apps.yaml", index=3)
    assert [(e.source, e.index, e.field) for e in info.value.errors] == [
        ("apps.yaml", 3, "spec.interval"),
        ("apps.yaml", 3, "spec.prune"),
    ]


def test_documents_round_trip_through_the_model() -> None:
    doc = _ks(dependsOn=[{"name": "infra"}], postBuild={"substitute": {"env": "prod"}})
    assert dump_object(parse_object(doc)) == doc


def test_models_are_frozen_and_built_in_code_by_python_names() -> None:
    spec = KustomizationSpec(
        source_ref=SourceReference(kind="GitRepository", name="fleet"),
        interval="5m",
        prune=True,
        target_namespace="apps",
    )
    assert spec.model_dump(by_alias=True, exclude_unset=True) == {
        "sourceRef": {"kind": "GitRepository", "name": "fleet"},
        "interval": "5m",
        "prune": True,
        "targetNamespace": "apps",
    }
    with pytest.raises(ValidationError):
        spec.prune = False


def test_secret_values_decode_and_stay_out_of_reprs() -> None:
    secret = parse_as(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prod-eu-1-kubeconfig", "namespace": "flux-system"},
            "data": {"value": "YXBpVmVyc2lvbjogdjEK"},
            "stringData": {"token": "hunter2"},
        },
        Secret,
    )
    assert secret.decoded() == {"value": b"apiVersion: v1\n", "token": b"hunter2"}
    assert secret.text("value") == "apiVersion: v1\n"
    assert secret.text("missing") is None
    assert "hunter2" not in repr(secret) and "YXBp" not in repr(secret)


def test_cluster_names_its_kubeconfig_secret_and_labels() -> None:
    cluster = parse_as(
        {
            "apiVersion": "fleet.sluice.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {
                "name": "prod-eu-1",
                "namespace": "flux-system",
                "labels": {"env": "prod"},
            },
            "spec": {"kubeConfig": {"secretRef": {"name": "prod-eu-1-kubeconfig"}}},
        },
        Cluster,
    )
    assert (cluster.spec.kube_config.secret_ref.name, cluster.spec.kube_config.secret_ref.key) == (
        "prod-eu-1-kubeconfig",
        "value",
    )
    assert cluster.labels == {"env": "prod"}


def test_config_map_keeps_data_and_binary_data() -> None:
    cm = parse_as(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "vars"},
            "data": {"cluster_name": "prod"},
            "binaryData": {"blob": "AAE="},
        },
        ConfigMap,
    )
    assert (cm.data, cm.binary_data) == ({"cluster_name": "prod"}, {"blob": "AAE="})


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),
        ({"matchLabels": {"env": "prod"}}, {"env": "prod", "region": "eu"}, True),
        ({"matchLabels": {"env": "prod"}}, {"env": "dev"}, False),
        (
            {"matchExpressions": [{"key": "region", "operator": "In", "values": ["eu"]}]},
            {"region": "eu"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["eu"]}]},
            {},
            True,
        ),
        ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, {"env": "prod"}, False),
        ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {}, True),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "region", "operator": "In", "values": ["us"]}],
            },
            {"env": "prod", "region": "eu"},
            False,
        ),
    ],
)
def test_cluster_selectors_match_like_kubernetes(
    selector: dict[str, Any], labels: dict[str, str], matches: bool
) -> None:
    ks = parse_as(_ks(clusterSelector=selector), Kustomization)
    assert ks.spec.cluster_selector is not None
    assert ks.spec.cluster_selector.matches(labels) is matches
    assert LabelSelector.model_validate(selector).matches(labels) is matches
