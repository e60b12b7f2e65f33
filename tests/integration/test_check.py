"""``sluice check``: the real tools found, versioned and compared with hack/tools.env."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.tools import ToolStatus, find_tool, pinned_versions

SLUICE = str(Path(sys.executable).with_name("sluice"))


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``sluice check`` as a user would."""
    return subprocess.run(
        [SLUICE, "check", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_check_json_lists_kube_apiserver_at_its_pinned_version() -> None:
    if find_tool("kube-apiserver") is None:
        pytest.skip("kube-apiserver not found: run `make tools`")
    done = run_check("-o", "json")
    tools = json.loads(done.stdout)["tools"]
    apiserver = tools["kube-apiserver"]
    assert apiserver["version"] == pinned_versions()["kube-apiserver"] == "1.36.3"
    assert apiserver["required"] is True
    assert Path(apiserver["path"]).is_file()
    missing = [name for name, t in tools.items() if t["required"] and t["path"] is None]
    assert done.returncode == 0, f"required tools missing: {missing}; {done.stderr}"


def test_check_fails_with_a_hint_when_required_tools_are_absent(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        "PATH": str(empty),
        "HOME": str(tmp_path),
        "KUBEBUILDER_ASSETS": str(empty),
        "SLUICE_TOOLS_DIR": str(empty),
    }
    done = run_check("-o", "json", env=env)
    assert done.returncode != 0
    apiserver = json.loads(done.stdout)["tools"]["kube-apiserver"]
    assert apiserver["path"] is None
    assert apiserver["version"] is None
    assert "make tools" in apiserver["hint"]
    assert "kube-apiserver" in done.stderr


def test_check_table_shows_each_tool_or_how_to_get_it(tmp_path: Path) -> None:
    env = {"PATH": "", "HOME": str(tmp_path), "SLUICE_TOOLS_DIR": str(tmp_path)}
    done = run_check("etcd", "git", env=env)
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["TOOL", "VERSION", "PATH"]
    assert [r.split()[:2] for r in rows] == [["etcd", "missing"], ["git", "missing"]]
    assert "run `make tools`" in rows[0]
    assert "apt-get install git" in rows[1]


def test_check_uses_kubebuilder_assets_before_the_tool_cache(tmp_path: Path) -> None:
    etcd = find_tool("etcd")
    if etcd is None:
        pytest.skip("etcd not found: run `make tools`")
    env = {"PATH": "", "HOME": str(tmp_path), "KUBEBUILDER_ASSETS": str(etcd.parent)}
    done = run_check("etcd", "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tools"]["etcd"]["path"] == str(etcd)


@pytest.mark.parametrize(
    ("version", "pinned", "mismatch"),
    [
        ("1.36.3", "1.36.3", False),
        ("4.3", "4.3.2", False),  # Helm 4 built without version stamping says v4.3
        ("1.36.2", "1.36.3", True),
        ("5.8.3", "5.8.2", True),
        ("7.0.15", None, False),
        (None, "1.36.3", False),
    ],
)
def test_a_version_other_than_the_pinned_one_is_flagged(
    version: str | None, pinned: str | None, mismatch: bool
) -> None:
    status = ToolStatus("x", Path("/x"), version, pinned, required=True, hint="")
    assert status.mismatch is mismatch
