"""HelmChart from a HelmRepository (HTTP and OCI), in-process, against real servers and helm.

The Helm repository serves charts packaged by the pinned helm behind Basic
auth and counts what it sends; the OCI registry holds charts pushed by
``helm push``. The HelmRepository is reconciled first (its index artifact
served by a real artifact server), then the HelmChart.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.source.git.gitrepository import GIT_REPOSITORY
from services.source.helm.helmchart import HELM_CHART
from services.source.helm.helmrepository import HELM_REPOSITORY
from shared.celeryapp import create_app
from shared.keys import ObjectKey
from shared.settings import Settings
from shared.tools import require_tool
from shared.worker import WorkerContext
from tests.leaks import file_bytes
from tests.servers.git import BareRepo
from tests.servers.helmrepo import HelmRepoServer, podinfo_repository
from tests.servers.registry import OciRegistry
from tests.sources import (
    apply_helm_chart,
    apply_secret,
    apply_source,
    conditions,
    downloaded_files,
    push_chart,
    reconciled,
)

USER, PASSWORD = "charts", "s3cret-helm-pw"


@pytest.fixture
def ctx(gitops_settings: Settings) -> WorkerContext:
    return WorkerContext.create(gitops_settings, create_app("source", gitops_settings))


@pytest.fixture
def charts(tmp_path: Path) -> Iterator[HelmRepoServer]:
    root = tmp_path / "charts"
    with podinfo_repository(
        root, username=USER, password=PASSWORD, versions=("6.0.0", "6.1.0")
    ) as server:
        yield server


def helm_repository(ctx: WorkerContext, url: str, *, password: str = PASSWORD) -> ObjectKey:
    apply_secret(ctx, "charts-auth", {"username": USER, "password": password})
    return apply_source(
        ctx,
        "HelmRepository",
        "charts",
        {"interval": "1h", "url": url, "secretRef": {"name": "charts-auth"}},
    )


def helm_chart(ctx: WorkerContext, name: str = "podinfo", **spec: Any) -> ObjectKey:
    """HelmChart ``name`` of podinfo in HelmRepository ``charts``; ``spec`` overrides."""
    spec.setdefault("chart", "podinfo")
    return apply_helm_chart(ctx, name, source=("HelmRepository", "charts"), **spec)


def reconcile(ctx: WorkerContext, repo: ObjectKey, chart: ObjectKey) -> dict[str, Any]:
    return reconciled(ctx, (repo, HELM_REPOSITORY), (chart, HELM_CHART))


def git_chart_with(
    ctx: WorkerContext, git_repo: BareRepo, dependency: str
) -> tuple[ObjectKey, ObjectKey]:
    """A chart ``app`` in Git depending on ``dependency``; its GitRepository and HelmChart."""
    deps = f"dependencies:\n{dependency}"
    git_repo.commit(
        {
            "charts/app/Chart.yaml": f"apiVersion: v2\nname: app\nversion: 0.1.0\n{deps}",
            "charts/app/values.yaml": "x: 1\n",
        }
    )
    git = apply_source(
        ctx,
        "GitRepository",
        "fleet",
        {"interval": "1h", "url": git_repo.url, "ref": {"branch": "main"}},
    )
    chart = apply_source(
        ctx,
        "HelmChart",
        "app",
        {
            "interval": "1h",
            "chart": "charts/app",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
        },
    )
    return git, chart


def test_the_newest_matching_version_is_pulled_once_and_a_new_one_is_a_new_artifact(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    repo, chart = helm_repository(ctx, charts.url), helm_chart(ctx, version="6.x")
    doc = reconcile(ctx, repo, chart)
    assert conditions(doc)["Ready"][:2] == ("True", "ChartPullSucceeded")
    assert conditions(doc)["Ready"][2] == "pulled 'podinfo' chart with version '6.1.0'"
    artifact = doc["status"]["artifact"]
    assert artifact["revision"] == "6.1.0"
    assert artifact["path"] == "helmchart/flux-system/podinfo/podinfo-6.1.0.tgz"
    assert doc["status"]["observedChartName"] == "podinfo"
    repo_doc = ctx.store.get(repo)
    assert repo_doc is not None
    revision = repo_doc["status"]["artifact"]["revision"]
    assert doc["status"]["observedSourceArtifactRevision"] == revision
    # Pulled as published: the very bytes the repository serves.
    assert httpx.get(artifact["url"]).content == (charts.root / "podinfo-6.1.0.tgz").read_bytes()
    assert charts.downloads("podinfo-6.1.0.tgz") == 1

    # An unchanged interval downloads no chart again.
    again = reconcile(ctx, repo, chart)
    assert again["status"]["artifact"] == artifact
    assert charts.downloads("podinfo-6.1.0.tgz") == 1

    charts.add_chart("podinfo", "6.2.0")
    newer = reconcile(ctx, repo, chart)
    assert newer["status"]["artifact"]["revision"] == "6.2.0"
    assert newer["status"]["observedSourceArtifactRevision"] != revision


def test_values_files_from_the_chart_are_merged_and_the_chart_repackaged(
    ctx: WorkerContext, charts: HelmRepoServer
) -> None:
    # A chart that carries an alternative values file, published with relative URLs.
    source = charts.root.parent / "src" / "web"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.0.0\n")
    (source / "values.yaml").write_text("message: hello\nreplicas: 1\n")
    (source / "values-prod.yaml").write_text("replicas: 3\n")
    helm = str(require_tool("helm"))
    env = {"HOME": str(charts.root.parent), "PATH": "/usr/bin:/bin"}
    subprocess.run([helm, "package", str(source), "-d", str(charts.root)], check=True, env=env)
    subprocess.run([helm, "repo", "index", str(charts.root)], check=True, env=env)

    repo = helm_repository(ctx, charts.url)
    chart = helm_chart(ctx, "web", chart="web", valuesFiles=["values.yaml", "values-prod.yaml"])
    doc = reconcile(ctx, repo, chart)
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)
    assert doc["status"]["artifact"]["revision"] == "1.0.0+1"
    files = downloaded_files(doc)
    assert yaml.safe_load(files["web/values.yaml"]) == {"message": "hello", "replicas": 3}
    assert yaml.safe_load(files["web/Chart.yaml"])["version"] == "1.0.0+1"


def test_no_matching_version_names_the_range(ctx: WorkerContext, charts: HelmRepoServer) -> None:
    repo, chart = helm_repository(ctx, charts.url), helm_chart(ctx, version=">=9.0.0")
    found = conditions(reconcile(ctx, repo, chart))
    assert found["FetchFailed"][:2] == ("True", "InvalidChartReference")
    assert "no 'podinfo' chart with version matching '>=9.0.0' found" in found["Ready"][2]


def test_credentials_are_sent_only_to_the_repository_host(
    ctx: WorkerContext, charts: HelmRepoServer, tmp_path: Path
) -> None:
    # The index points the chart at another host (localhost, not 127.0.0.1):
    # without passCredentials the password does not go there, and it is refused.
    index = charts.root / "index.yaml"
    port = charts.url.rsplit(":", 1)[1]
    index.write_text(index.read_text().replace(charts.url, f"http://localhost:{port}"))
    repo, chart = helm_repository(ctx, charts.url), helm_chart(ctx)
    found = conditions(reconcile(ctx, repo, chart))
    assert found["FetchFailed"][:2] == ("True", "AuthenticationFailed")
    assert PASSWORD not in str(found)

    ctx.store.apply(
        {
            **(ctx.store.get(repo) or {}),
            "spec": {
                "interval": "1h",
                "url": charts.url,
                "secretRef": {"name": "charts-auth"},
                "passCredentials": True,
            },
        }
    )
    doc = reconcile(ctx, repo, chart)
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)


def test_a_chart_pushed_to_an_oci_repository_is_pulled(
    ctx: WorkerContext, oci_registry: OciRegistry, tmp_path: Path
) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    to = f"oci://{oci_registry.host}/charts"
    for version in ("1.0.0", "1.1.0"):
        push_chart(tmp_path, name="oci-app", version=version, to=to, values="x: 1\n", env=env)
    repo = apply_source(
        ctx,
        "HelmRepository",
        "charts",
        {"type": "oci", "url": f"oci://{oci_registry.host}/charts", "insecure": True},
    )
    chart = helm_chart(ctx, "oci-app", chart="oci-app", version="1.x")
    doc = reconcile(ctx, repo, chart)
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)
    assert doc["status"]["artifact"]["revision"] == "1.1.0"
    assert yaml.safe_load(downloaded_files(doc)["oci-app/Chart.yaml"])["version"] == "1.1.0"


def test_a_git_chart_dependency_from_a_helm_repository_uses_its_credentials(
    ctx: WorkerContext, charts: HelmRepoServer, git_repo: BareRepo
) -> None:
    dependency = f"- name: podinfo\n  version: '6.0.x'\n  repository: {charts.url}\n"
    git, chart = git_chart_with(ctx, git_repo, dependency)
    helm_repository(ctx, charts.url + "/")  # a trailing / still matches (Flux normalizes)
    doc = reconciled(ctx, (git, GIT_REPOSITORY), (chart, HELM_CHART))
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)
    files = downloaded_files(doc)
    assert yaml.safe_load(files["app/charts/podinfo/Chart.yaml"])["version"] == "6.0.0"
    assert charts.downloads("podinfo-6.0.0.tgz") == 1
    # The password reached helm through a private file only: not in any log line.
    assert PASSWORD not in str(doc)


def test_a_git_chart_dependency_with_wrong_credentials_fails_without_the_secret(
    ctx: WorkerContext, charts: HelmRepoServer, git_repo: BareRepo
) -> None:
    dependency = f"- name: podinfo\n  version: '*'\n  repository: {charts.url}\n"
    git, chart = git_chart_with(ctx, git_repo, dependency)
    helm_repository(ctx, charts.url, password="wrong-pass-123")
    doc = reconciled(ctx, (git, GIT_REPOSITORY), (chart, HELM_CHART))
    found = conditions(doc)
    assert found["BuildFailed"][:2] == ("True", "DependencyBuildError"), found
    assert "401 Unauthorized" in found["BuildFailed"][2]
    assert "wrong-pass-123" not in str(doc)


def test_a_chart_name_helm_cannot_have_stalls(ctx: WorkerContext, charts: HelmRepoServer) -> None:
    repo, chart = helm_repository(ctx, charts.url), helm_chart(ctx, chart="Pod_Info")
    found = conditions(reconcile(ctx, repo, chart))
    assert found["Stalled"][:2] == ("True", "InvalidChartReference")
    assert "invalid chart name 'Pod_Info'" in found["Ready"][2]
    assert charts.downloads("podinfo-6.1.0.tgz") == 0


def test_a_git_chart_dependency_from_an_oci_repository_is_pulled(
    ctx: WorkerContext, oci_registry: OciRegistry, git_repo: BareRepo, tmp_path: Path
) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    url = f"oci://{oci_registry.host}/charts"
    push_chart(tmp_path, name="lib", version="2.0.0", to=url, env=env)
    dependency = f"- name: lib\n  version: '2.x'\n  repository: {url}\n"
    git, chart = git_chart_with(ctx, git_repo, dependency)
    # A HelmRepository of the namespace names the registry (its settings reach helm).
    apply_source(ctx, "HelmRepository", "registry", {"type": "oci", "url": url, "insecure": True})
    doc = reconciled(ctx, (git, GIT_REPOSITORY), (chart, HELM_CHART))
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)
    assert yaml.safe_load(downloaded_files(doc)["app/charts/lib/Chart.yaml"])["version"] == "2.0.0"


def test_a_chart_from_a_private_oci_repository_uses_the_secret_and_never_shows_it(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    # Homes left by other runs on this machine (a worker killed mid-helm) are not this test's.
    homes_before = set(Path(tempfile.gettempdir()).glob("sluice-helm-*"))
    registry = OciRegistry(tmp_path / "private", username=USER, password=PASSWORD)
    registry.start()
    try:
        helm = str(require_tool("helm"))
        home = tmp_path / "pusher"
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
        subprocess.run(
            [helm, "registry", "login", registry.host, "--username", USER, "--password-stdin",
             "--plain-http"],
            input=PASSWORD.encode(), check=True, env=env, capture_output=True,
        )  # fmt: skip
        url = f"oci://{registry.host}/charts"
        push_chart(tmp_path, name="private-app", version="3.0.0", to=url, env=env)
        apply_secret(ctx, "registry-auth", {"username": USER, "password": "wrong-registry-pw"})
        spec = {"type": "oci", "url": url, "insecure": True, "secretRef": {"name": "registry-auth"}}
        repo = apply_source(ctx, "HelmRepository", "charts", spec)
        chart = helm_chart(ctx, "private-app", chart="private-app")
        doc = reconciled(ctx, (chart, HELM_CHART))
        found = conditions(doc)
        assert found["FetchFailed"][:2] == ("True", "AuthenticationFailed"), found
        assert "wrong-registry-pw" not in str(doc)

        apply_secret(ctx, "registry-auth", {"username": USER, "password": PASSWORD})
        doc = reconcile(ctx, repo, chart)
        assert conditions(doc)["Ready"][0] == "True", conditions(doc)
        assert doc["status"]["artifact"]["revision"] == "3.0.0"
        assert PASSWORD not in str(doc)
        # What helm was given does not outlive its run: in no cache or artifact file,
        # and its private home (the registry config) is gone.
        for root in (ctx.settings.cache_dir, ctx.settings.artifact_dir):
            assert PASSWORD.encode() not in file_bytes(root), root
        assert set(Path(tempfile.gettempdir()).glob("sluice-helm-*")) <= homes_before
    finally:
        registry.stop()


def _hostile_chart(root: Path, *, chart: str, name: str) -> None:
    """An index listing ``chart`` whose entry and archive name the chart ``name``."""
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / chart
        folder.mkdir()
        (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n")
        subprocess.run(
            ["tar", "-czf", str(root / f"{chart}-1.0.0.tgz"), "-C", work, chart], check=True
        )
    entry = {"name": name, "version": "1.0.0", "urls": [f"{chart}-1.0.0.tgz"]}
    index = {"apiVersion": "v1", "entries": {chart: [entry]}}
    (root / "index.yaml").write_text(yaml.safe_dump(index))


def test_a_chart_named_as_a_path_is_refused_and_written_nowhere(
    ctx: WorkerContext, tmp_path: Path
) -> None:
    # A hostile repository names its chart "../<x>": the download must not be
    # moved out of the build's scratch folder (into the temp folder) by that name.
    escape = f"escaped-{tmp_path.name}"
    root = tmp_path / "hostile"
    root.mkdir()
    _hostile_chart(root, chart="evil", name=f"../{escape}")
    server = HelmRepoServer(root)
    server.start()
    try:
        repo = apply_source(ctx, "HelmRepository", "charts", {"interval": "1h", "url": server.url})
        found = conditions(reconcile(ctx, repo, helm_chart(ctx, "evil", chart="evil")))
    finally:
        server.stop()
    leaked = Path(tempfile.gettempdir()) / f"{escape}-1.0.0.tgz"
    exists = leaked.exists()
    leaked.unlink(missing_ok=True)
    assert not exists
    assert found["FetchFailed"][:2] == ("True", "ChartPullError"), found
    assert f'chart.metadata.name "../{escape}" is invalid' in found["Ready"][2]


def test_a_chart_download_slower_than_the_timeout_fails(ctx: WorkerContext, tmp_path: Path) -> None:
    # Pieces of the chart come every 1.5 s (within the 2 s timeout of each read)
    # for 12 s: the download must give up at the timeout, not when the body ends.
    server = HelmRepoServer(tmp_path / "slow")
    server.start()
    try:
        server.add_chart("app", "1.0.0")
        repo = apply_source(
            ctx, "HelmRepository", "charts", {"interval": "1h", "url": server.url, "timeout": "2s"}
        )
        chart = helm_chart(ctx, "app", chart="app")
        reconciled(ctx, (repo, HELM_REPOSITORY))
        server.slow_seconds = 12.0
        started = time.monotonic()
        found = conditions(reconcile(ctx, repo, chart))
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert found["FetchFailed"][:2] == ("True", "ChartPullError"), found
    assert "did not arrive within the timeout" in found["Ready"][2]
    assert elapsed < 8, elapsed
