"""HelmRepository through the generic CLI, as a Flux user drives it: apply, get sources helm,
reconcile source helm, suspend and resume, against running sluice workers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.gitops import NAMESPACE, GitOps, flux_yaml, secret_yaml, sluice, unique
from tests.servers.helmrepo import HelmRepoServer, podinfo_repository

USER, PASSWORD = "charts", "cli-helm-s3cret"


@pytest.fixture
def charts(tmp_path: Path) -> Iterator[HelmRepoServer]:
    root = tmp_path / "charts"
    with podinfo_repository(root, username=USER, password=PASSWORD) as server:
        yield server


def _helm_repository_yaml(name: str, url: str) -> str:
    spec = f"  interval: 10m\n  url: {url}\n  secretRef:\n    name: {name}-auth\n"
    return flux_yaml("HelmRepository", name, spec, api_version="source.toolkit.fluxcd.io/v1beta2")


def _revision(server: HelmRepoServer) -> str:
    return "sha256:" + hashlib.sha256((server.root / "index.yaml").read_bytes()).hexdigest()


def test_get_reconcile_suspend_and_resume_a_helm_repository(
    gitops: GitOps, charts: HelmRepoServer
) -> None:
    name = unique("charts")
    gitops.apply(
        secret_yaml(f"{name}-auth", {"username": USER, "password": PASSWORD})
        + _helm_repository_yaml(name, charts.url)
    )
    first = _revision(charts)
    fetched = sluice(gitops, "reconcile", "source", "helm", name, "--timeout", "60s")
    assert fetched.returncode == 0, fetched.stderr + gitops.logs()
    assert f"✔ fetched revision {first}" in fetched.stderr

    listed = sluice(gitops, "get", "sources", "helm")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line.split() for line in listed.stdout.splitlines() if line.startswith(name)]
    assert row[:4] == [name, first, "False", "True"]  # NAME REVISION SUSPENDED READY
    assert name in sluice(gitops, "get", "sources", "all").stdout
    shown = sluice(gitops, "get", "helmrepo", name, "-n", NAMESPACE, "-o", "yaml").stdout
    assert "status:" in shown and PASSWORD not in shown

    suspended = sluice(gitops, "suspend", "source", "helm", name)
    assert suspended.returncode == 0, suspended.stderr
    assert gitops.get("HelmRepository", name)["spec"]["suspend"] is True
    refused = sluice(gitops, "reconcile", "source", "helm", name)
    assert refused.returncode == 1 and "is suspended" in refused.stderr

    charts.add_chart("podinfo", "6.1.0")
    second = _revision(charts)
    resumed = sluice(gitops, "resume", "source", "helm", name, "--timeout", "60s")
    assert resumed.returncode == 0, resumed.stderr + gitops.logs()
    assert resumed.stderr.rstrip().endswith(f"✔ fetched revision {second}")
    assert gitops.get("HelmRepository", name)["status"]["artifact"]["revision"] == second
    assert PASSWORD not in gitops.logs()
