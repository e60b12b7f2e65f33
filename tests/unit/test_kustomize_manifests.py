from __future__ import annotations

from typing import Any

import pytest

from services.kustomize.manifests import (
    BuildFailed,
    api_group,
    apply_common_metadata,
    classify,
    dump_object,
    is_toolkit_object,
    load_documents,
    object_ref,
    parse_objects,
)


def obj(api_version: str, kind: str, name: str = "x", namespace: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


@pytest.mark.parametrize(
    ("api_version", "kind", "toolkit"),
    [
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization", True),
        ("source.toolkit.fluxcd.io/v1", "GitRepository", True),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", True),
        ("notification.toolkit.fluxcd.io/v1beta3", "Alert", True),
        ("image.toolkit.fluxcd.io/v1", "ImagePolicy", True),
        ("fleet.sluice.dev/v1alpha1", "Cluster", True),
        ("v1", "ConfigMap", False),
        ("apps/v1", "Deployment", False),
        ("toolkit.fluxcd.io/v1", "Odd", True),  # *.fluxcd.io: refused by validation
        ("evil.toolkit.fluxcd.io.example.com/v1", "Trick", False),
        # sluice's domain: stored, where validation refuses a kind sluice lacks.
        ("sub.fleet.sluice.dev/v1", "Trick", True),
        # Every Flux group, not only the toolkit's (issue 11: it reached the cluster).
        ("source.extensions.fluxcd.io/v1beta1", "ArtifactGenerator", True),
        ("future.fluxcd.io/v1", "Anything", True),
        ("fluxcd.io.example.com/v1", "Trick", False),
    ],
)
def test_toolkit_objects_go_to_the_store_and_the_rest_to_clusters(
    api_version: str, kind: str, toolkit: bool
) -> None:
    item = obj(api_version, kind)
    assert is_toolkit_object(item) is toolkit
    routed = classify([item])
    assert (routed.store, routed.clusters) == (((item,), ()) if toolkit else ((), (item,)))


def test_classification_keeps_build_order() -> None:
    items = [
        obj("v1", "Namespace", "a"),
        obj("source.toolkit.fluxcd.io/v1", "GitRepository", "b"),
        obj("apps/v1", "Deployment", "c"),
        obj("fleet.sluice.dev/v1", "Cluster", "d"),
    ]
    routed = classify(items)
    assert [o["metadata"]["name"] for o in routed.store] == ["b", "d"]
    assert [o["metadata"]["name"] for o in routed.clusters] == ["a", "c"]


@pytest.mark.parametrize(
    ("api_version", "group"),
    [
        ("v1", ""),
        ("apps/v1", "apps"),
        ("kustomize.toolkit.fluxcd.io/v1", "kustomize.toolkit.fluxcd.io"),
    ],
)
def test_api_group_of_an_api_version(api_version: str, group: str) -> None:
    assert api_group(api_version) == group


@pytest.mark.parametrize(
    ("item", "missing"),
    [
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "metadata.name"),
        ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "apiVersion"),
        ({"apiVersion": "v1", "metadata": {"name": "a"}}, "kind"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "a-"}}, "metadata.name"),
    ],
)
def test_objects_that_do_not_name_themselves_are_rejected(
    item: dict[str, Any], missing: str
) -> None:
    good = obj("v1", "ConfigMap", "fine")
    with pytest.raises(BuildFailed, match=rf"build output: object 2 \(.*\) has no {missing}"):
        classify([good, item])


def test_the_rejection_names_the_object_as_far_as_it_can() -> None:
    text = "apiVersion: v1\nkind: Secret\nmetadata:\n  namespace: apps\n"
    with pytest.raises(BuildFailed, match=r"kustomize output: object 1 \(Secret/apps/<no name>\)"):
        parse_objects(text, source="kustomize output")


def test_parsing_splits_documents_and_skips_empty_ones() -> None:
    text = (
        "---\napiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n# c\n---\n"
        "apiVersion: v1\nkind: B\nmetadata: {name: b}\n"
    )
    assert [o["kind"] for o in parse_objects(text, source="s")] == ["A", "B"]


def test_a_document_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(BuildFailed, match=r"s: document 1 is a list"):
        parse_objects("- a\n", source="s")


def test_invalid_yaml_names_the_source_and_line() -> None:
    with pytest.raises(BuildFailed, match=r"apps/x.yaml: document 1: invalid YAML at line 3") as e:
        load_documents("a: 1\nb: [\n", source="apps/x.yaml")
    assert e.value.file == "apps/x.yaml"


def test_dates_stay_strings_and_objects_round_trip_through_yaml() -> None:
    text = "apiVersion: v1\nkind: A\nmetadata: {name: a}\ndata: {d: 2024-01-02}\n"
    [parsed] = parse_objects(text, source="s")
    assert parsed["data"]["d"] == "2024-01-02"
    long = {"apiVersion": "v1", "kind": "A", "metadata": {"name": "a"}, "v": "x " * 200}
    assert parse_objects(dump_object(long), source="s") == [long]


def test_common_metadata_is_added_overriding_existing_keys_without_touching_the_input() -> None:
    item = obj("apps/v1", "Deployment", "web", "apps")
    item["metadata"]["labels"] = {"team": "old", "keep": "yes"}
    item["spec"] = {"selector": {"matchLabels": {"app": "web"}}}
    [result] = apply_common_metadata([item], labels={"team": "new"}, annotations={"a": "1"})
    assert result["metadata"]["labels"] == {"team": "new", "keep": "yes"}
    assert result["metadata"]["annotations"] == {"a": "1"}
    assert result["spec"] == {"selector": {"matchLabels": {"app": "web"}}}
    assert item["metadata"]["labels"] == {"team": "old", "keep": "yes"}


@pytest.mark.parametrize(
    ("item", "ref"),
    [
        (obj("apps/v1", "Deployment", "web", "apps"), "Deployment/apps/web"),
        (obj("v1", "Namespace", "apps"), "Namespace/apps"),
        ({"apiVersion": "v1"}, "<no kind>/<no name>"),
    ],
)
def test_object_ref_reads_as_flux_prints_objects(item: dict[str, Any], ref: str) -> None:
    assert object_ref(item) == ref
