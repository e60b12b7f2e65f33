"""Pure parts of the Flux-style commands: tokens, settling, export, inventory ids, kind words."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from shared.cli.columns import cluster_columns, cluster_rows, columns_for
from shared.cli.flux import export_document, inventory_ref, request_token, settled
from shared.cli.main import app
from shared.cli.objects import kinds_and_name
from shared.plugins import kind_facts
from shared.secrets import REDACTED

TOKEN = "2025-01-02T03:04:05.123456789Z"


def _ready(status: str, message: str = "") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": "R", "message": message}


def test_token_is_rfc3339_utc_with_trailing_zeros_of_the_nanoseconds_trimmed() -> None:
    assert request_token(1_735_787_045_123_456_789) == TOKEN
    assert request_token(1_735_787_045_100_000_000) == "2025-01-02T03:04:05.1Z"
    assert request_token(1_735_787_045_000_000_000) == "2025-01-02T03:04:05Z"


HANDLED = {"lastHandledReconcileAt": TOKEN}


@pytest.mark.parametrize(
    ("status", "done"),
    [
        ({}, False),
        ({"lastHandledReconcileAt": "older", "conditions": [_ready("True")]}, False),
        ({"lastHandledReconcileAt": TOKEN, "conditions": [_ready("Unknown")]}, False),
        ({"lastHandledReconcileAt": TOKEN, "conditions": [_ready("True")]}, True),
        ({"lastHandledReconcileAt": TOKEN, "conditions": [_ready("False")]}, True),
        (
            {
                "lastHandledReconcileAt": TOKEN,
                "lastAttemptedRevision": "main@sha1:new",
                "conditions": [_ready("True")],
                "clusters": [
                    {"name": "c1", "lastAttemptedRevision": "main@sha1:new"},
                    {"name": "c2", "lastAttemptedRevision": "main@sha1:old"},
                ],
            },
            False,
        ),
        (
            {
                "lastHandledReconcileAt": TOKEN,
                "lastAttemptedRevision": "main@sha1:new",
                "conditions": [_ready("False", "c2: refused")],
                "clusters": [
                    {"name": "c1", "lastAttemptedRevision": "main@sha1:new", **HANDLED},
                    {"name": "c2", "lastAttemptedRevision": "main@sha1:new", **HANDLED},
                ],
            },
            True,
        ),
    ],
)
def test_a_request_is_settled_once_handled_and_every_cluster_tried_the_revision(
    status: dict[str, Any], done: bool
) -> None:
    assert (settled({"status": status}, TOKEN) is not None) is done


def test_export_drops_status_and_runtime_metadata_and_redacts_secrets() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "creds",
            "namespace": "flux-system",
            "uid": "u",
            "resourceVersion": "7",
            "generation": 2,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"team": "a"},
            "annotations": {"reconcile.fluxcd.io/requestedAt": TOKEN, "note": "kept"},
        },
        "data": {"password": "aHVudGVyMg=="},
        "status": {"x": 1},
    }
    assert export_document(doc) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "creds",
            "namespace": "flux-system",
            "labels": {"team": "a"},
            "annotations": {"note": "kept"},
        },
        "data": {"password": REDACTED},
    }
    assert doc["data"]["password"] == "aHVudGVyMg=="  # the input is not changed


@pytest.mark.parametrize(
    ("entry_id", "shown"),
    [
        ("demo_settings__ConfigMap", "ConfigMap/demo/settings"),
        ("_demo__Namespace", "Namespace/demo"),
        ("demo_web_apps_Deployment", "Deployment/demo/web"),
        (
            "_system__controller__manager_rbac.authorization.k8s.io_ClusterRole",
            "ClusterRole/system:controller:manager",
        ),
    ],
)
def test_inventory_ids_read_as_flux_prints_objects(entry_id: str, shown: str) -> None:
    assert inventory_ref(entry_id) == shown


def test_a_malformed_inventory_id_is_refused() -> None:
    with pytest.raises(ValueError, match="expected <namespace>_<name>_<group>_<kind>"):
        inventory_ref("nonsense")


@pytest.mark.parametrize(
    ("words", "kinds", "name"),
    [
        (["ks"], ["Kustomization"], None),
        (["kustomizations", "app"], ["Kustomization"], "app"),
        (["sources", "git"], ["GitRepository"], None),
        (["source", "git", "app"], ["GitRepository"], "app"),
        (["sources", "helm", "podinfo"], ["HelmRepository"], "podinfo"),
        (["images", "repository"], ["ImageRepository"], None),
        (["image", "policy", "app"], ["ImagePolicy"], "app"),
        (["images", "update", "flux-system"], ["ImageUpdateAutomation"], "flux-system"),
        (
            ["images", "all"],
            ["ImageRepository", "ImagePolicy", "ImageUpdateAutomation"],
            None,
        ),
    ],
)
def test_kind_words_follow_flux(words: list[str], kinds: list[str], name: str | None) -> None:
    infos, got = kinds_and_name(words)
    assert ([i.kind for i in infos], got) == (kinds, name)


def test_sources_all_is_every_source_kind_sluice_serves() -> None:
    infos, name = kinds_and_name(["sources", "all"])
    kinds = {i.kind for i in infos}
    assert name is None and {"GitRepository", "HelmRepository"} <= kinds
    assert all(i.group == "source.toolkit.fluxcd.io" for i in infos)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["sources"], "expected one of git"),
        (["sources", "svn"], 'unknown source kind "svn"'),
        (["images"], "expected one of repository, policy, update, all"),
        (["images", "automation"], 'unknown image kind "automation"'),
        (["ks", "a", "b"], "at most one name"),
    ],
)
def test_bad_kind_words_say_what_is_expected(words: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kinds_and_name(words)


def test_get_columns_are_fluxs() -> None:
    assert columns_for("GitRepository", all_namespaces=False) == [
        "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "status", "shown"),
    [
        ("ImageRepository", {"lastScanResult": {"revision": "123", "tagCount": 2}}, "123"),
        (
            "ImagePolicy",
            {"latestRef": {"name": "ghcr.io/a/b", "tag": "1.0.0"}},
            "ghcr.io/a/b:1.0.0",
        ),
        (
            "ImagePolicy",
            {"latestRef": {"name": "b", "tag": "1", "digest": "sha256:ab"}},
            "b:1@sha256:ab",
        ),
        ("ImageUpdateAutomation", {"lastPushCommit": "0a1b2c"}, "0a1b2c"),
        ("ImageUpdateAutomation", {}, ""),
    ],
)
def test_image_kinds_show_their_revision_as_flux_get_images(
    kind: str, status: dict[str, object], shown: str
) -> None:
    facts = kind_facts(kind)
    assert facts is not None and facts.revision_of({"status": status}) == shown
    assert columns_for(kind, all_namespaces=False)[:2] == ["NAME", "REVISION"]


def test_clusters_table_has_one_row_per_cluster_and_one_for_a_kustomization_without_any() -> None:
    applied = {
        "metadata": {"name": "app", "namespace": "flux-system"},
        "status": {
            "conditions": [_ready("False", "1/2 clusters ready")],
            "clusters": [
                {"name": "c1", "lastAppliedRevision": "main@sha1:a",
                 "conditions": [_ready("True", "Applied revision: main@sha1:a")]},
                {"name": "c2", "lastAppliedRevision": "",
                 "conditions": [_ready("False", "unreachable")]},
            ],
        },
    }  # fmt: skip
    broken = {
        "metadata": {"name": "broken", "namespace": "flux-system"},
        "status": {"conditions": [_ready("False", "spec.path not found")]},
    }
    assert cluster_columns(all_namespaces=False) == [
        "NAME", "CLUSTER", "REVISION", "READY", "MESSAGE",
    ]  # fmt: skip
    assert cluster_rows([applied, broken], all_namespaces=True) == [
        ["flux-system", "app", "c1", "main@sha1:a", "True", "Applied revision: main@sha1:a"],
        ["flux-system", "app", "c2", "", "False", "unreachable"],
        ["flux-system", "broken", "-", "", "False", "spec.path not found"],
    ]


def test_an_external_artifact_is_reconciled_but_never_suspended_by_hand() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["reconcile", "source", "external", "--help"]).exit_code == 0
    for verb in ("suspend", "resume"):
        refused = runner.invoke(app, [verb, "source", "external", "apps"])
        assert refused.exit_code == 2
        assert "No such command 'external'" in refused.stderr
    assert runner.invoke(app, ["suspend", "source", "oci", "--help"]).exit_code == 0
