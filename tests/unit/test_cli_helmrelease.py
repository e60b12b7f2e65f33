"""Pure parts of the HelmRelease commands: history rows, Secret masking, per-cluster rows, flags."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from services.helm.releaseview import HISTORY_COLUMNS, history_rows, mask_strings
from services.helm.values import ValuesObject
from services.helm.valuesources import secret_strings
from shared.cli.columns import cluster_rows
from shared.cli.flux import export_document
from shared.cli.main import app

DIGEST = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def _snapshot(version: int, status: str, **more: Any) -> dict[str, Any]:
    return {
        "name": "podinfo",
        "namespace": "apps",
        "version": version,
        "status": status,
        "chartName": "podinfo",
        "chartVersion": f"6.{version}.0",
        "configDigest": DIGEST,
        **more,
    }


def test_history_has_one_row_per_revision_of_each_cluster_newest_first() -> None:
    doc = {
        "status": {
            "clusters": [
                {
                    "name": "staging",
                    "history": [
                        _snapshot(2, "deployed", appVersion="6.2.0",
                                  lastDeployed="2026-12-07T10:00:00Z"),
                        _snapshot(1, "superseded", firstDeployed="2026-12-06T10:00:00Z"),
                    ],
                },
                {"name": "production", "history": [_snapshot(1, "failed")]},
            ]
        }
    }  # fmt: skip
    assert HISTORY_COLUMNS == [
        "CLUSTER", "REVISION", "STATUS", "CHART", "APP VERSION", "DEPLOYED", "DIGEST",
    ]  # fmt: skip
    short = "sha256:0123456789ab"
    assert history_rows(doc) == [
        ["staging", "2", "deployed", "podinfo-6.2.0", "6.2.0", "2026-12-07T10:00:00Z", short],
        ["staging", "1", "superseded", "podinfo-6.1.0", "", "2026-12-06T10:00:00Z", short],
        ["production", "1", "failed", "podinfo-6.1.0", "", "", short],
    ]
    assert [r[0] for r in history_rows(doc, cluster="production")] == ["production"]


def test_history_of_a_status_without_clusters_reads_the_top_level_history() -> None:
    doc = {"status": {"history": [_snapshot(1, "deployed")]}}
    assert [r[:3] for r in history_rows(doc)] == [["", "1", "deployed"]]
    assert history_rows({"status": {}}) == []


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("+  message: s3cr3t-from-vault", "+  message: ***"),
        ('+  url: "https://user:s3cr3t-from-vault@db"', '+  url: "https://user:***@db"'),
        ("+  port: 42", "+  port: ***"),
        ("+  - 42", "+  - ***"),
        ("+  replicas: 421", "+  replicas: 421"),  # a short secret inside a word stays
        ("+  name: podinfo", "+  name: podinfo"),
    ],
)
def test_diff_lines_never_show_a_value_from_a_secret(line: str, masked: str) -> None:
    assert mask_strings([line], ("s3cr3t-from-vault", "42")) == [masked]


def test_the_values_of_a_secret_are_its_yaml_values_or_its_whole_text() -> None:
    objects = [
        ValuesObject("Secret", "db", {"values.yaml": "db:\n  password: hunter22\n  port: 5432\n"}),
        ValuesObject("Secret", "token", {"token": "'abc123'"}),
        ValuesObject("ConfigMap", "plain", {"values.yaml": "message: public\n"}),
    ]
    found = secret_strings(objects)
    assert set(found) == {"hunter22", "5432", "'abc123'", "abc123"}
    # Longest first: a whole value is masked before a part of it.
    assert [len(s) for s in found] == sorted((len(s) for s in found), reverse=True)
    assert "password" not in found and "public" not in found


def test_clusters_rows_of_a_helmrelease_show_the_chart_version_each_cluster_attempted() -> None:
    doc = {
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "status": {
            "clusters": [
                {"name": "staging", "lastAttemptedRevision": "6.2.0", "lastAppliedRevision": "",
                 "conditions": [{"type": "Ready", "status": "False", "message": "upgrade failed"}]},
            ]
        },
    }  # fmt: skip
    assert cluster_rows([doc], all_namespaces=False) == [
        ["podinfo", "staging", "6.2.0", "False", "upgrade failed"]
    ]


def test_export_leaves_out_the_one_shot_force_and_reset_tokens() -> None:
    token = "2026-12-07T10:00:00Z"
    doc = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {
            "name": "podinfo",
            "namespace": "flux-system",
            "annotations": {
                "reconcile.fluxcd.io/requestedAt": token,
                "reconcile.fluxcd.io/forceAt": token,
                "reconcile.fluxcd.io/resetAt": token,
                "team": "web",
            },
        },
        "spec": {"interval": "5m"},
    }
    assert export_document(doc)["metadata"]["annotations"] == {"team": "web"}


def test_reconcile_hr_has_flux_flags_and_diff_serves_both_kinds() -> None:
    runner = CliRunner()
    reconcile = runner.invoke(app, ["reconcile", "hr", "--help"])
    assert reconcile.exit_code == 0
    for flag in ("--with-source", "--force", "--reset", "--timeout"):
        assert flag in reconcile.stdout
    # The generic reconcile of other kinds has no --force.
    assert "--force" not in runner.invoke(app, ["reconcile", "ks", "--help"]).stdout
    diff = runner.invoke(app, ["diff", "--help"])
    assert "kustomization" in diff.stdout and "helmrelease" in diff.stdout
    for verb in ("tree", "history"):
        assert runner.invoke(app, [verb, "helmrelease", "--help"]).exit_code == 0
