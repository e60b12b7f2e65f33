"""HelmChart from a GitRepository or Bucket, in-process against real Git, S3, Redis, helm, HTTP.

The GitRepository is reconciled first (its artifact served by a real artifact
server), then the HelmChart, as the source worker would; each test reads the
packaged chart back over HTTP as a user (or the helm service) would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.source.bucket.bucket import BUCKET
from services.source.git.gitrepository import GIT_REPOSITORY
from services.source.helm.helmchart import HELM_CHART, index_charts
from services.source.reconcile import reconcile_source
from shared.celeryapp import create_app
from shared.dependents import DependentsIndex
from shared.keys import ObjectKey
from shared.settings import Settings
from shared.tools import require_tool
from shared.worker import WorkerContext
from tests.servers.git import BareRepo
from tests.servers.s3 import S3Server
from tests.sources import (
    NS,
    apply_helm_chart,
    apply_secret,
    apply_source,
    conditions,
    downloaded_files,
    reconciled,
    stored,
)


@pytest.fixture
def ctx(gitops_settings: Settings) -> WorkerContext:
    return WorkerContext.create(gitops_settings, create_app("source", gitops_settings))


def chart_files(
    path: str, *, name: str = "app", version: str = "0.1.0", extra: str = "", values: str = ""
) -> dict[str, str]:
    """A minimal chart at ``path`` of the repository."""
    return {
        f"{path}/Chart.yaml": (
            f"apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n{extra}"
        ),
        f"{path}/values.yaml": values or "replicaCount: 1\nimage:\n  tag: stable\n",
        f"{path}/templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
            "data:\n  tag: {{ .Values.image.tag | quote }}\n"
        ),
    }


def apply_git(ctx: WorkerContext, url: str) -> ObjectKey:
    spec = {"interval": "1h", "url": url, "ref": {"branch": "main"}}
    return apply_source(ctx, "GitRepository", "charts", spec)


def apply_chart(ctx: WorkerContext, name: str = "app", **spec: Any) -> ObjectKey:
    """HelmChart ``name`` of ./charts/app in GitRepository ``charts``; ``spec`` overrides."""
    spec.setdefault("chart", "./charts/app")
    return apply_helm_chart(ctx, name, source=("GitRepository", "charts"), **spec)


def reconcile(ctx: WorkerContext, git: ObjectKey, chart: ObjectKey) -> dict[str, Any]:
    return reconciled(ctx, (git, GIT_REPOSITORY), (chart, HELM_CHART))


def chart_events(ctx: WorkerContext, chart: ObjectKey) -> list[str]:
    return [e.type for _, e in ctx.events.read() if e.object == chart]


def test_a_chart_in_git_is_packaged_at_its_version_and_served(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    head = git_repo.commit(chart_files("charts/app"))
    git, chart = apply_git(ctx, git_repo.url), apply_chart(ctx)
    doc = reconcile(ctx, git, chart)
    # Flux's reasons for a chart built from a source tree.
    assert conditions(doc)["Ready"][:2] == ("True", "ChartPackageSucceeded")
    assert conditions(doc)["ArtifactInStorage"][:2] == ("True", "ChartPackageSucceeded")
    assert conditions(doc)["Ready"][2] == "packaged 'app' chart with version '0.1.0'"
    status = doc["status"]
    # status.url is the latest.tar.gz link beside the artifact.
    assert status["url"].endswith("/helmchart/flux-system/app/latest.tar.gz")
    assert httpx.get(status["url"]).content == httpx.get(status["artifact"]["url"]).content
    assert status["artifact"]["revision"] == "0.1.0"
    assert status["artifact"]["path"] == "helmchart/flux-system/app/app-0.1.0.tgz"
    assert status["artifact"]["url"].endswith("/helmchart/flux-system/app/app-0.1.0.tgz")
    assert status["observedChartName"] == "app"
    assert status["observedSourceArtifactRevision"] == f"main@sha1:{head}"
    files = downloaded_files(doc)
    assert yaml.safe_load(files["app/Chart.yaml"])["version"] == "0.1.0"
    assert "app/templates/cm.yaml" in files
    assert chart_events(ctx, chart) == ["revision-changed", "artifact-ready"]


def test_a_commit_that_keeps_the_chart_version_makes_no_new_artifact_a_bump_does(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    git_repo.commit(chart_files("charts/app"))
    git, chart = apply_git(ctx, git_repo.url), apply_chart(ctx)
    first = reconcile(ctx, git, chart)["status"]["artifact"]
    # An unchanged interval: nothing built, nothing announced.
    again = reconcile(ctx, git, chart)
    assert again["status"]["artifact"] == first
    assert conditions(again)["Ready"][:2] == ("True", "ChartPackageSucceeded")
    # A commit that changes the chart but not its version (ChartVersion strategy).
    head = git_repo.commit({"charts/app/templates/extra.yaml": "# more\n"})
    same = reconcile(ctx, git, chart)
    assert same["status"]["artifact"] == first
    assert same["status"]["observedSourceArtifactRevision"] == f"main@sha1:{head}"
    assert chart_events(ctx, chart) == ["revision-changed", "artifact-ready"]
    # A version bump is a new artifact.
    git_repo.commit({"charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.2.0\n"})
    bumped = reconcile(ctx, git, chart)
    assert bumped["status"]["artifact"]["revision"] == "0.2.0"
    assert bumped["status"]["artifact"]["path"].endswith("/app-0.2.0.tgz")
    assert "app/templates/extra.yaml" in downloaded_files(bumped)
    assert chart_events(ctx, chart).count("artifact-ready") == 2


def test_revision_strategy_adds_the_commit_and_makes_an_artifact_per_commit(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    head = git_repo.commit(chart_files("charts/app"))
    git = apply_git(ctx, git_repo.url)
    chart = apply_chart(ctx, reconcileStrategy="Revision")
    doc = reconcile(ctx, git, chart)
    assert doc["status"]["artifact"]["revision"] == f"0.1.0+{head[:12]}"
    assert doc["status"]["artifact"]["path"].endswith(f"/app-0.1.0+{head[:12]}.tgz")
    assert (
        yaml.safe_load(downloaded_files(doc)["app/Chart.yaml"])["version"] == f"0.1.0+{head[:12]}"
    )
    second = git_repo.commit({"README.md": "unrelated\n"})
    doc = reconcile(ctx, git, chart)
    assert doc["status"]["artifact"]["revision"] == f"0.1.0+{second[:12]}"


def test_values_files_are_merged_in_order_into_the_packaged_values(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    git_repo.commit(
        {
            **chart_files("charts/app"),
            "env/base.yaml": "image:\n  tag: v1\n  pullPolicy: Always\nlabels: [a, b]\n",
            "env/prod.yaml": "image:\n  tag: v2\nlabels: [c]\nreplicaCount: 3\n",
        }
    )
    git = apply_git(ctx, git_repo.url)
    chart = apply_chart(ctx, valuesFiles=["env/base.yaml", "env/prod.yaml"])
    doc = reconcile(ctx, git, chart)
    # With values files Flux adds the HelmChart's generation to the version.
    assert doc["status"]["artifact"]["revision"] == "0.1.0+1"
    assert conditions(doc)["Ready"][2] == (
        "packaged 'app' chart with version '0.1.0+1' and merged values files "
        "[env/base.yaml env/prod.yaml]"
    )
    values = yaml.safe_load(downloaded_files(doc)["app/values.yaml"])
    assert values == {
        "image": {"tag": "v2", "pullPolicy": "Always"},
        "labels": ["c"],
        "replicaCount": 3,
    }
    assert "observedValuesFiles" not in doc["status"]


def test_a_missing_values_file_fails_the_build_unless_ignored(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    git_repo.commit({**chart_files("charts/app"), "env/prod.yaml": "replicaCount: 5\n"})
    git = apply_git(ctx, git_repo.url)
    files = ["env/prod.yaml", "env/missing.yaml"]
    chart = apply_chart(ctx, valuesFiles=files)
    doc = reconcile(ctx, git, chart)
    found = conditions(doc)
    assert found["Ready"][:2] == ("False", "ValuesFilesError")
    assert found["BuildFailed"][:2] == ("True", "ValuesFilesError")
    assert "no values file found at path 'env/missing.yaml'" in found["BuildFailed"][2]
    assert "artifact" not in doc["status"]

    chart = apply_chart(ctx, "tolerant", valuesFiles=files, ignoreMissingValuesFiles=True)
    doc = reconcile(ctx, git, chart)
    assert conditions(doc)["Ready"][0] == "True"
    assert doc["status"]["observedValuesFiles"] == ["env/prod.yaml"]
    assert yaml.safe_load(downloaded_files(doc)["app/values.yaml"]) == {"replicaCount": 5}


@pytest.mark.parametrize("path", ["../outside", "charts/../../etc"])
def test_a_chart_path_leaving_the_source_is_refused_and_stalls(
    ctx: WorkerContext, git_repo: BareRepo, path: str
) -> None:
    git_repo.commit(chart_files("charts/app"))
    git, chart = apply_git(ctx, git_repo.url), apply_chart(ctx, chart=path)
    doc = reconcile(ctx, git, chart)
    found = conditions(doc)
    assert found["Stalled"][:2] == ("True", "InvalidChartReference")
    assert found["FetchFailed"][:2] == ("True", "InvalidChartReference")
    assert f"chart path '{path}' leaves the source root" in found["Ready"][2]


def test_a_chart_path_through_a_symlink_out_of_the_source_is_refused(
    ctx: WorkerContext, git_repo: BareRepo, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-chart"
    outside.mkdir()
    git_repo.commit(chart_files("charts/app"), links={"charts/escape": str(outside)})
    git, chart = apply_git(ctx, git_repo.url), apply_chart(ctx, chart="charts/escape")
    doc = reconcile(ctx, git, chart)
    assert conditions(doc)["Ready"][0] == "False"
    assert "artifact" not in doc["status"]


def test_a_local_file_dependency_is_packaged_into_the_chart(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    deps = "dependencies:\n- name: common\n  version: '>=0.1.0'\n  repository: file://../common\n"
    git_repo.commit(
        {
            **chart_files("charts/app", extra=deps),
            **chart_files("charts/common", name="common", version="0.3.0"),
        }
    )
    git, chart = apply_git(ctx, git_repo.url), apply_chart(ctx)
    doc = reconcile(ctx, git, chart)
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)
    files = downloaded_files(doc)
    assert yaml.safe_load(files["app/charts/common/Chart.yaml"])["version"] == "0.3.0"
    # As Flux: the dependencies are added, no Chart.lock is written into the chart.
    assert "app/Chart.lock" not in files


@pytest.mark.parametrize(
    ("repository", "says"),
    [
        ("file://../../../../etc", "leaves the source root"),
        # helm reads an absolute file:// path as it is, whatever the source holds.
        ("file:///etc", "is an absolute path"),
    ],
)
def test_a_file_dependency_outside_the_source_fails_the_build(
    ctx: WorkerContext, git_repo: BareRepo, repository: str, says: str
) -> None:
    deps = f"dependencies:\n- name: x\n  version: '*'\n  repository: {repository}\n"
    # The same path inside the source exists: only where helm would look counts.
    git_repo.commit({**chart_files("charts/app", extra=deps), **chart_files("charts/app/etc")})
    git, chart = apply_git(ctx, git_repo.url), apply_chart(ctx)
    found = conditions(reconcile(ctx, git, chart))
    assert found["BuildFailed"][:2] == ("True", "DependencyBuildError")
    assert says in found["BuildFailed"][2]


def test_a_missing_source_is_fetch_failed_and_retried(ctx: WorkerContext) -> None:
    chart = apply_chart(ctx, sourceRef={"kind": "GitRepository", "name": "nowhere"})
    reconcile_source(ctx, chart, HELM_CHART)
    doc = ctx.store.get(chart)
    assert doc is not None
    found = conditions(doc)
    assert found["FetchFailed"][:2] == ("True", "SourceUnavailable")
    assert "Stalled" not in found


def test_charts_stored_before_the_worker_started_are_woken_by_their_source(
    ctx: WorkerContext,
) -> None:
    chart = apply_chart(ctx)  # never reconciled: no edge recorded by a run
    source = ObjectKey("GitRepository", NS, "charts")
    index = DependentsIndex(ctx.client)
    assert chart not in index.dependents(source)
    index_charts(ctx)
    assert chart in index.dependents(source)


def test_a_chart_of_a_cluster_scope_builds_from_the_fleet_wide_source(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    git_repo.commit(chart_files("charts/app"))
    git = apply_git(ctx, git_repo.url)  # fleet-wide: shared by every cluster's charts
    doc = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {
            "interval": "1h",
            "chart": "charts/app",
            "sourceRef": {"kind": "GitRepository", "name": "charts"},
        },
    }
    ctx.store.apply(doc, scope="staging")
    chart = ObjectKey("HelmChart", NS, "app", scope="staging")
    built = reconcile(ctx, git, chart)
    assert conditions(built)["Ready"][0] == "True", conditions(built)
    # Its own artifact folder: never the same file as a fleet-wide chart of that name.
    assert built["status"]["artifact"]["path"] == "helmchart.staging/flux-system/app/app-0.1.0.tgz"
    assert chart in DependentsIndex(ctx.client).dependents(git)


def test_a_packaged_chart_in_git_is_used_as_it_is_or_repackaged_with_values(
    ctx: WorkerContext, git_repo: BareRepo, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    for path, text in chart_files("app").items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(text)
    helm = str(require_tool("helm"))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([helm, "package", str(source / "app"), "-d", str(tmp_path)], check=True, env=env)
    archive = (tmp_path / "app-0.1.0.tgz").read_bytes()
    git_repo.commit({"packages/app-0.1.0.tgz": archive, "prod.yaml": "replicaCount: 7\n"})
    git = apply_git(ctx, git_repo.url)
    chart = apply_chart(ctx, chart="packages/app-0.1.0.tgz")
    doc = reconcile(ctx, git, chart)
    assert conditions(doc)["Ready"][:2] == ("True", "ChartPullSucceeded")
    assert httpx.get(doc["status"]["artifact"]["url"]).content == archive

    chart = apply_chart(ctx, "valued", chart="packages/app-0.1.0.tgz", valuesFiles=["prod.yaml"])
    doc = reconcile(ctx, git, chart)
    assert conditions(doc)["Ready"][:2] == ("True", "ChartPackageSucceeded"), conditions(doc)
    assert doc["status"]["artifact"]["revision"] == "0.1.0+1"
    assert yaml.safe_load(downloaded_files(doc)["app/values.yaml"]) == {"replicaCount": 7}


def test_a_chart_file_linked_from_elsewhere_in_the_source_is_packaged_with_its_content(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    helpers = '{{- define "app.name" -}}shared{{- end }}\n'
    git_repo.commit(
        {**chart_files("charts/app"), "shared/_helpers.tpl": helpers},
        links={"charts/app/templates/_helpers.tpl": "../../../shared/_helpers.tpl"},
    )
    git, chart = apply_git(ctx, git_repo.url), apply_chart(ctx)
    doc = reconcile(ctx, git, chart)
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)
    assert downloaded_files(doc)["app/templates/_helpers.tpl"].decode() == helpers


def test_a_chart_in_a_bucket_gets_the_bucket_revision_with_the_revision_strategy(
    ctx: WorkerContext, s3_server: S3Server
) -> None:
    s3_server.create_bucket("charts")
    s3_server.put_all("charts", chart_files("charts/app"))
    keys = {"accesskey": s3_server.access_key, "secretkey": s3_server.secret_key}
    apply_secret(ctx, "s3-keys", keys)
    bucket = apply_source(
        ctx,
        "Bucket",
        "charts",
        {
            "interval": "1h",
            "endpoint": s3_server.endpoint,
            "bucketName": "charts",
            "insecure": not s3_server.tls,
            "secretRef": {"name": "s3-keys"},
        },
    )
    chart = apply_chart(
        ctx, sourceRef={"kind": "Bucket", "name": "charts"}, reconcileStrategy="Revision"
    )
    doc = reconciled(ctx, (bucket, BUCKET), (chart, HELM_CHART))
    source = stored(ctx, bucket)
    assert conditions(doc)["Ready"][0] == "True", conditions(doc)
    revision = source["status"]["artifact"]["revision"]  # sha256:<hex> of the listing
    assert doc["status"]["observedSourceArtifactRevision"] == revision
    assert doc["status"]["artifact"]["revision"] == f"0.1.0+{revision.removeprefix('sha256:')[:12]}"
