"""sluice apply / get / delete against a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli.main import app
from shared.keys import ObjectKey
from shared.redisserver import RedisServer, free_port
from shared.store import Store

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def sluice(redis_server: RedisServer, tmp_path: Path):
    """Run the sluice CLI in-process against the test Redis; returns (exit code, stdout, stderr)."""
    runner = CliRunner()
    env = {"SLUICE_REDIS_URL": redis_server.url, "SLUICE_SECRET_KEY_FILE": str(tmp_path / "key")}

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), env=env, input=stdin)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_apply_prints_created_then_unchanged_then_configured(sluice, tmp_path: Path) -> None:
    assert sluice("apply", "-f", str(DATA / "flux-system.yaml"))[1].splitlines() == [
        "gitrepository.source.toolkit.fluxcd.io/podinfo created",
        "kustomization.kustomize.toolkit.fluxcd.io/apps created",
        "secret/creds created",
    ]
    code, out, _ = sluice("apply", "-f", str(DATA / "flux-system.yaml"))
    assert code == 0
    assert out.count("unchanged") == 3
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        (DATA / "flux-system.yaml").read_text().replace("interval: 10m", "interval: 5m")
    )
    out = sluice("apply", "-f", str(changed))[1]
    assert "kustomization.kustomize.toolkit.fluxcd.io/apps configured" in out
    assert "gitrepository.source.toolkit.fluxcd.io/podinfo unchanged" in out


def test_file_with_three_broken_documents_prints_all_three_and_stores_nothing(
    sluice, settings
) -> None:
    code, out, err = sluice("apply", "-f", str(DATA / "three-broken.yaml"))
    assert code != 0
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(errors) == 3
    assert "document 2 (GitRepository/default/Bad_Name): metadata.name" in errors[0]
    assert "document 3 (Kustomization/default/apps): spec.interval" in errors[1]
    assert "document 4 (Cluster/default/prod): spec.kubeConfig" in errors[2]
    store = Store.from_settings(settings)
    # The first document was valid, but it shares a file with broken ones.
    assert store.get(ObjectKey("GitRepository", "default", "ok-one")) is None
    assert store.list("GitRepository") == []


def test_directory_apply_stores_good_files_and_refuses_bad_ones(sluice, tmp_path: Path) -> None:
    (tmp_path / "repo" / "nested").mkdir(parents=True)
    (tmp_path / "repo" / "nested" / "good.yaml").write_text((DATA / "flux-system.yaml").read_text())
    (tmp_path / "repo" / "bad.yaml").write_text((DATA / "three-broken.yaml").read_text())
    code, out, err = sluice("apply", "-f", str(tmp_path / "repo"))
    assert code == 1
    assert "secret/creds created" in out
    assert "bad.yaml: 3 invalid" in err
    assert sluice("get", "gitrepo", "podinfo", "-n", "flux-system")[0] == 0


def test_apply_reads_standard_input_as_one_file(sluice, settings) -> None:
    code, out, _ = sluice("apply", "-f", "-", stdin=(DATA / "flux-system.yaml").read_text())
    assert code == 0
    assert "kustomization.kustomize.toolkit.fluxcd.io/apps created" in out
    code, out, err = sluice("apply", "-f", "-", stdin=(DATA / "three-broken.yaml").read_text())
    assert (code, out) == (1, "")
    assert "error: <stdin>: 3 invalid, nothing from this file stored" in err
    assert "<stdin>: document 2 (GitRepository/default/Bad_Name): metadata.name" in err
    assert (
        Store.from_settings(settings).get(ObjectKey("GitRepository", "default", "ok-one")) is None
    )


def test_get_lists_by_short_name_and_shows_flux_status_as_json(sluice) -> None:
    sluice("apply", "-f", str(DATA / "flux-system.yaml"))
    code, out, _ = sluice("get", "ks", "-A")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:4] == ["NAMESPACE", "NAME", "REVISION", "SUSPENDED"]
    assert row.split()[:2] == ["flux-system", "apps"]
    doc = json.loads(sluice("get", "kustomization", "apps", "-n", "flux-system", "-o", "json")[1])
    assert doc["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert doc["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "podinfo"}
    listing = json.loads(sluice("get", "gitrepositories", "-n", "flux-system", "-o", "json")[1])
    assert [i["metadata"]["name"] for i in listing["items"]] == ["podinfo"]


def test_secrets_are_redacted_in_every_output(sluice) -> None:
    sluice("apply", "-f", str(DATA / "flux-system.yaml"))
    for fmt in ("yaml", "json", "table"):
        code, out, err = sluice("get", "secret", "creds", "-n", "flux-system", "-o", fmt)
        assert code == 0
        assert "hunter2" not in out + err
        assert "aHVudGVyMg" not in out + err  # base64 of the value
    assert "<redacted>" in sluice("get", "secret", "creds", "-n", "flux-system", "-o", "yaml")[1]


def test_unknown_kind_and_missing_object_are_clear_errors(sluice) -> None:
    code, _, err = sluice("get", "gitrepos-typo")
    assert code == 1
    assert "gitrepos-typo" in err
    code, _, err = sluice("delete", "ks", "nope", "-n", "flux-system")
    assert code == 1
    assert 'Kustomization "nope" not found in namespace "flux-system"' in err


def test_delete_removes_the_object(sluice) -> None:
    sluice("apply", "-f", str(DATA / "flux-system.yaml"))
    code, out, _ = sluice("delete", "ks", "apps", "-n", "flux-system")
    assert (code, out.strip()) == (0, 'kustomization.kustomize.toolkit.fluxcd.io "apps" deleted')
    assert sluice("get", "ks", "apps", "-n", "flux-system")[0] == 1


def test_unreachable_redis_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    sluice = str(Path(sys.executable).with_name("sluice"))
    env = {"SLUICE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sluice, "get", "ks"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "cannot reach Redis" in result.stderr
    assert "sluice up" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cluster_scope_holds_its_own_objects_of_the_same_name(sluice, settings) -> None:
    source = str(DATA / "flux-system.yaml")
    assert sluice("apply", "-f", source)[0] == 0
    code, out, _ = sluice("-c", "staging", "apply", "-f", source)
    assert code == 0
    assert out.count("created") == 3  # a scope of its own: nothing there yet
    store = Store.from_settings(settings)
    assert store.get(ObjectKey("Kustomization", "flux-system", "apps", "staging")) is not None
    assert store.scopes() == ["staging"]

    names = lambda out: [line.split()[0] for line in out.splitlines()[1:]]  # noqa: E731
    code, out, _ = sluice("-c", "staging", "get", "ks", "-n", "flux-system")
    assert (code, names(out)) == (0, ["apps"])
    code, out, _ = sluice("--all-clusters", "get", "ks", "-A")
    rows = [line.split()[:3] for line in out.splitlines()]
    assert rows == [
        ["CLUSTER", "NAMESPACE", "NAME"],
        ["*", "flux-system", "apps"],
        ["staging", "flux-system", "apps"],
    ]

    # Deleting in one scope leaves the other's object alone.
    assert sluice("-c", "staging", "delete", "ks", "apps", "-n", "flux-system")[0] == 0
    assert store.get(ObjectKey("Kustomization", "flux-system", "apps", "staging")) is None
    assert store.get(ObjectKey("Kustomization", "flux-system", "apps")) is not None
    code, _, err = sluice("-c", "staging", "get", "ks", "apps", "-n", "flux-system")
    assert code == 1
    assert 'not found in namespace "flux-system" in cluster "staging"' in err
