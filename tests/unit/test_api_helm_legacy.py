"""Flux v1 HelmReleases where documents enter sluice: read as their source and v2 release."""

from __future__ import annotations

from typing import Any

import pytest

from services.kustomize.manifests import BuildFailed, as_stored, classify
from shared import yaml
from shared.api.errors import InvalidObjects
from shared.api.legacy import CONVERTED_FROM, Located, keep_stored_sources, replace_legacy
from shared.api.validation import load_text
from shared.keys import ObjectKey

PODINFO = "https://stefanprodan.github.io/podinfo"
SOURCE = "stefanprodan-github-io-podinfo"


def operator(name: str = "podinfo", namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    chart = {"repository": PODINFO, "name": "podinfo", "version": "5.0.3"}
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": meta,
        "spec": {"chart": {**chart, **spec.pop("chart", {})}, **spec},
    }


def repository(name: str = SOURCE, url: str = PODINFO) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"interval": "1m", "url": url},
    }


def text(*docs: dict[str, Any]) -> str:
    return "---\n".join(yaml.dump(d) for d in docs)


def kinds(docs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in docs]


def test_a_v1_release_in_a_file_is_read_as_a_helm_repository_and_a_v2_release() -> None:
    doc = operator(releaseName="my-podinfo", values={"replicaCount": 1})
    docs = load_text(text(doc), source="apps.yaml")
    assert kinds(docs) == [
        ("source.toolkit.fluxcd.io/v1", "HelmRepository", SOURCE),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "podinfo"),
    ]
    source, release = docs
    assert source["spec"]["url"] == PODINFO
    assert release["metadata"]["namespace"] == "default"
    assert release["spec"]["releaseName"] == "my-podinfo"
    assert release["spec"]["values"] == {"replicaCount": 1}
    source_ref = release["spec"]["chart"]["spec"]["sourceRef"]
    assert source_ref == {"kind": "HelmRepository", "name": SOURCE}
    for stored in docs:
        assert stored["metadata"]["annotations"] == {CONVERTED_FROM: "helm.fluxcd.io/v1"}


def test_two_releases_of_one_repository_share_one_source() -> None:
    docs = load_text(
        text(operator("a"), operator("b", chart={"version": "6.0.0"})), source="apps.yaml"
    )
    assert kinds(docs) == [
        ("source.toolkit.fluxcd.io/v1", "HelmRepository", SOURCE),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "a"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "b"),
    ]
    refs = {d["spec"]["chart"]["spec"]["sourceRef"]["name"] for d in docs[1:]}
    assert refs == {SOURCE}


def test_releases_of_one_repository_in_two_namespaces_get_a_source_each() -> None:
    docs = load_text(text(operator("a", "web"), operator("a", "api")), source="apps.yaml")
    sources = [(d["metadata"]["namespace"], d["kind"]) for d in docs if d["kind"] != "HelmRelease"]
    assert sources == [("web", "HelmRepository"), ("api", "HelmRepository")]


def test_two_releases_of_one_repository_with_other_credentials_are_refused_naming_the_second() -> (
    None
):
    second = operator("b", chart={"chartPullSecret": {"name": "creds"}})
    with pytest.raises(InvalidObjects) as caught:
        load_text(text(operator("a"), second), source="apps.yaml")
    (error,) = caught.value.errors
    assert (error.index, error.object, error.field) == (1, "HelmRelease/default/b", "spec.chart")
    assert "apps.yaml, document 1" in error.message and "spec.secretRef" in error.message


def test_a_source_written_next_to_the_release_with_the_same_url_is_the_one_kept() -> None:
    docs = load_text(text(repository(), operator()), source="apps.yaml")
    assert kinds(docs) == [
        ("source.toolkit.fluxcd.io/v1", "HelmRepository", SOURCE),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "podinfo"),
    ]
    assert docs[0]["spec"]["interval"] == "1m"  # the user's, not the converted 10m
    assert "annotations" not in docs[0]["metadata"]


def test_a_source_written_with_the_converted_name_and_another_url_is_refused() -> None:
    with pytest.raises(InvalidObjects) as caught:
        load_text(text(operator(), repository(url="https://other.example.com")), source="a.yaml")
    (error,) = caught.value.errors
    assert (error.index, error.field) == (0, "spec.chart.repository")
    assert "a.yaml, document 2 with another URL" in error.message


def test_errors_name_the_v1_document_and_field_with_the_file_s_other_errors() -> None:
    bad = operator(rollback={"enable": True, "recreate": True})
    broken = {**repository("x"), "spec": {"interval": "1m"}}  # no url
    with pytest.raises(InvalidObjects) as caught:
        load_text(text(broken, bad), source="apps.yaml")
    found = {(e.index, e.object, e.field) for e in caught.value.errors}
    assert found == {
        (0, "HelmRepository/default/x", "spec.url"),
        (1, "HelmRelease/default/podinfo", "spec.rollback.recreate"),
    }


def test_other_documents_pass_unchanged_and_in_place() -> None:
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    entries = [Located("f", 0, other), Located("f", 1, operator()), Located("f", 2, "text")]
    out, errors = replace_legacy(entries)
    assert errors == []
    assert [(e.index, e.doc if not isinstance(e.doc, dict) else e.doc["kind"]) for e in out] == [
        (0, "ConfigMap"),
        (1, "HelmRepository"),
        (1, "HelmRelease"),
        (2, "text"),
    ]
    assert out[0].doc is other


# A Kustomization's build -------------------------------------------------------


def test_a_v1_release_in_a_build_goes_to_the_store_as_v2_in_the_kustomization_namespace() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    routed = classify([deployment, operator()])
    assert routed.clusters == (deployment,)
    stored = as_stored(list(routed.store), namespace="apps", source="Kustomization/x build")
    assert [(d["kind"], d["metadata"]["namespace"], d["apiVersion"]) for d in stored] == [
        ("HelmRepository", "apps", "source.toolkit.fluxcd.io/v1"),
        ("HelmRelease", "apps", "helm.toolkit.fluxcd.io/v2"),
    ]
    assert stored[1]["spec"]["releaseName"] == "apps-podinfo"  # the operator's default name


def test_a_build_keeps_other_objects_as_they_are() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    assert as_stored([deployment], namespace="apps", source="b") == [deployment]


def test_an_invalid_v1_release_fails_the_build_naming_it_and_its_field() -> None:
    with pytest.raises(BuildFailed) as caught:
        as_stored([operator(helmVersion="v2")], namespace="apps", source="Kustomization/a/x build")
    assert "(HelmRelease/apps/podinfo): spec.helmVersion" in str(caught.value)


# Against what the store holds ----------------------------------------------------


def made(*docs: dict[str, Any]) -> list[dict[str, Any]]:
    entries, _ = replace_legacy([Located("f", i, d) for i, d in enumerate(docs)])
    return [e.doc for e in entries if isinstance(e.doc, dict)]


def owned(doc: dict[str, Any], owner: str) -> dict[str, Any]:
    labels = {
        "kustomize.toolkit.fluxcd.io/name": owner,
        "kustomize.toolkit.fluxcd.io/namespace": "default",
    }
    return {**doc, "metadata": {**doc["metadata"], "labels": labels}}


def kept_with(store: dict[ObjectKey, dict[str, Any]], owner: ObjectKey | None) -> Any:
    return keep_stored_sources(made(operator()), stored=store.get, owner=owner, source="f")


APPS = ObjectKey("Kustomization", "default", "apps")
OTHER = ObjectKey("Kustomization", "default", "other")
SOURCE_KEY = ObjectKey("HelmRepository", "default", SOURCE)


def test_a_source_not_yet_stored_is_written() -> None:
    docs, errors = kept_with({}, None)
    assert [d["kind"] for d in docs] == ["HelmRepository", "HelmRelease"] and errors == []


def test_a_stored_source_the_user_wrote_with_the_same_url_is_kept_as_it_is() -> None:
    docs, errors = kept_with({SOURCE_KEY: repository()}, APPS)
    assert [d["kind"] for d in docs] == ["HelmRelease"] and errors == []


def test_a_stored_source_the_user_wrote_with_another_url_is_an_error() -> None:
    _, errors = kept_with({SOURCE_KEY: repository(url="https://x.example.com")}, None)
    ((field, obj),) = [(e.field, e.object) for e in errors]
    assert (field, obj) == ("spec.url", str(SOURCE_KEY))


def test_the_same_source_made_for_another_kustomization_is_left_to_it() -> None:
    theirs = owned(made(operator())[0], "other")
    docs, errors = kept_with({SOURCE_KEY: theirs, OTHER: {"kind": "Kustomization"}}, APPS)
    assert [d["kind"] for d in docs] == ["HelmRelease"] and errors == []


def test_a_made_source_of_a_deleted_kustomization_or_our_own_is_written_again() -> None:
    theirs = owned(made(operator())[0], "other")
    assert len(kept_with({SOURCE_KEY: theirs}, APPS)[0]) == 2  # "other" is gone
    ours = owned(made(operator())[0], "apps")
    assert len(kept_with({SOURCE_KEY: ours, APPS: {"kind": "Kustomization"}}, APPS)[0]) == 2
