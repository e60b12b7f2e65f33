"""Cluster scopes as tables: how keys are written and read, and where references resolve."""

from __future__ import annotations

import pytest

from shared.fleet.state import cluster_key, split_cluster_key
from shared.keys import ObjectKey
from shared.scopes import candidates, scope_cluster_keys
from shared.store.layout import Layout, check_key

KS = "Kustomization"


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (ObjectKey(KS, "flux-system", "apps"), "Kustomization/flux-system/apps"),
        (ObjectKey(KS, "flux-system", "apps", "staging"), "staging:Kustomization/flux-system/apps"),
        (ObjectKey("Secret", "ns", "a.b", "prod-eu-1"), "prod-eu-1:Secret/ns/a.b"),
    ],
)
def test_a_key_is_written_with_its_scope_first_and_reads_back(key: ObjectKey, text: str) -> None:
    assert str(key) == text
    assert ObjectKey.parse(text) == key


@pytest.mark.parametrize(
    "text",
    [
        ":Kustomization/ns/name",
        "staging:Kustomization/ns",
        "staging/x:Kustomization/ns/name",
        "Kustomization//name",
        "a:b:Kustomization/ns/name",
    ],
)
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        ObjectKey.parse(text)


def test_fleet_wide_keys_are_the_keys_objects_had_before_scopes() -> None:
    layout = Layout()
    key = ObjectKey(KS, "flux-system", "apps")
    assert layout.object(key) == "sluice:object:Kustomization/flux-system/apps"
    assert layout.kind_index(KS) == "sluice:index:Kustomization"
    assert layout.namespace_index(KS, "flux-system") == "sluice:index:Kustomization/flux-system"


def test_two_scopes_hold_the_same_name_under_distinct_keys() -> None:
    layout = Layout()
    names = {
        layout.object(ObjectKey(KS, "flux-system", "apps", scope))
        for scope in ("", "staging", "production")
    }
    indexes = {layout.kind_index(KS, scope) for scope in ("", "staging", "production")}
    assert len(names) == 3
    assert len(indexes) == 3


@pytest.mark.parametrize("scope", ["", "staging"])
def test_a_per_cluster_task_key_keeps_the_scope_and_the_cluster(scope: str) -> None:
    key = ObjectKey(KS, "flux-system", "apps", scope)
    per_cluster = cluster_key(key, "staging")
    text = str(per_cluster)
    assert text.endswith("apps@staging")
    assert split_cluster_key(ObjectKey.parse(text)) == (key, "staging")


@pytest.mark.parametrize(
    ("ref", "scope", "expected"),
    [
        # fleet-wide: a reference names exactly its fleet-wide object
        (ObjectKey("GitRepository", "fs", "repo"), "", ["GitRepository/fs/repo"]),
        # a scope: its own object first, then a shared fleet-wide one
        (
            ObjectKey("GitRepository", "fs", "repo"),
            "staging",
            ["staging:GitRepository/fs/repo", "GitRepository/fs/repo"],
        ),
        (
            ObjectKey("Secret", "fs", "creds"),
            "staging",
            ["staging:Secret/fs/creds", "Secret/fs/creds"],
        ),
        (
            ObjectKey("ConfigMap", "fs", "vars"),
            "staging",
            ["staging:ConfigMap/fs/vars", "ConfigMap/fs/vars"],
        ),
        # dependsOn never leaves its scope: staging's apps waits for staging's infra
        (ObjectKey(KS, "fs", "infra"), "staging", ["staging:Kustomization/fs/infra"]),
        (ObjectKey("HelmRelease", "fs", "db"), "staging", ["staging:HelmRelease/fs/db"]),
    ],
)
def test_references_resolve_in_their_scope_and_only_sources_and_secrets_fall_back(
    ref: ObjectKey, scope: str, expected: list[str]
) -> None:
    assert [str(k) for k in candidates(ref, scope)] == expected


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("flux-system", ["Cluster/flux-system/staging", "Cluster/default/staging"]),
        (
            "apps",
            ["Cluster/apps/staging", "Cluster/flux-system/staging", "Cluster/default/staging"],
        ),
    ],
)
def test_a_scope_targets_its_fleet_wide_cluster(namespace: str, expected: list[str]) -> None:
    assert [str(k) for k in scope_cluster_keys("staging", namespace)] == expected


@pytest.mark.parametrize(
    ("scope", "ok"), [("staging", True), ("prod-eu-1", True), ("a:b", False), ("-x", False)]
)
def test_a_scope_must_be_a_cluster_name(scope: str, ok: bool) -> None:
    assert (check_key(ObjectKey(KS, "ns", "n", scope)) is None) is ok
