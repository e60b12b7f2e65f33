"""A Flux v1 repository migrates without edits: helm.fluxcd.io/v1 HelmReleases are released.

The Helm Operator's HelmRelease, as a Flux v1 user has it in Git, is applied by
a Kustomization or by ``sluice apply -f``; sluice stores its v2 equivalent and
a HelmRepository named after the chart URL, and the helm service releases it
on the cluster under the v1 ``releaseName`` with the v1 ``values``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s
from typer.testing import CliRunner

from shared.api.helmmigration import source_name
from shared.api.legacy import CONVERTED_FROM
from shared.cli.main import app
from shared.keys import ObjectKey
from shared.redisserver import RedisServer
from shared.sandbox import ClusterInfo
from shared.store import Store
from tests.fixtures.gitops import NAMESPACE, GitOps, kustomization_yaml, sluice, source_yaml, unique
from tests.helmcharts import HelmCli
from tests.helpers import eventually
from tests.integration.test_helmrelease import wait_released
from tests.servers.git import BareRepo
from tests.servers.helmrepo import HelmRepoServer


def operator_yaml(name: str, *, url: str, release: str, target: str, message: str) -> str:
    """A Helm Operator HelmRelease as Flux v1 repositories hold them."""
    return f"""\
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: {name}
  namespace: {NAMESPACE}
spec:
  releaseName: {release}
  targetNamespace: {target}
  chart:
    repository: {url}
    name: hello
    version: 1.0.0
  values:
    message: {message}
"""


def released(helm: HelmCli, namespace: str) -> list[tuple[str, str, str]]:
    return [(r["name"], r["status"], r["chart"]) for r in helm.releases(namespace)]


@pytest.mark.cluster
def test_a_v1_release_in_git_is_installed_by_a_kustomization_and_pruned_with_it(
    helm_gitops: GitOps,
    hello_repository: HelmRepoServer,
    git_repo: BareRepo,
    helm_cli: HelmCli,
    workload_api: k8s.ApiClient,
    workload_ns: str,
) -> None:
    gitops = helm_gitops
    name, release = unique("v1"), unique("legacy")
    git_repo.commit(
        {
            "apps/release.yaml": operator_yaml(
                name,
                url=hello_repository.url,
                release=release,
                target=workload_ns,
                message="from-v1",
            )
        }
    )
    gitops.apply(
        source_yaml("fleet", git_repo.url)
        + kustomization_yaml("apps", source="fleet", path="./apps")
    )
    gitops.wait_ready("Kustomization", "apps")
    doc = wait_released(gitops, name, version=1)
    assert doc["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert doc["metadata"]["annotations"][CONVERTED_FROM] == "helm.fluxcd.io/v1"
    assert doc["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
    source = gitops.get("HelmRepository", source_name(hello_repository.url))
    assert source["spec"]["url"] == hello_repository.url
    assert source["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
    assert released(helm_cli, workload_ns) == [(release, "deployed", "hello-1.0.0")]
    core = k8s.CoreV1Api(workload_api)
    assert core.read_namespaced_config_map(release, workload_ns).data == {"message": "from-v1"}

    # The release leaves Git: the Kustomization prunes both stored objects, and the
    # helm service uninstalls the release.
    head = git_repo.commit({"apps/release.yaml": None, "apps/keep.yaml": _placeholder()})
    gitops.pushed("fleet")
    gitops.wait_ready("Kustomization", "apps", revision=f"main@sha1:{head}")
    eventually(
        lambda: (
            gitops.store.get(ObjectKey("HelmRelease", NAMESPACE, name)) is None
            and gitops.store.get(
                ObjectKey("HelmRepository", NAMESPACE, source_name(hello_repository.url))
            )
            is None
        ),
        timeout=60,
    )
    eventually(lambda: released(helm_cli, workload_ns) == [], timeout=120)


def _placeholder() -> str:
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: default\n"


@pytest.mark.cluster
def test_sluice_apply_of_a_v1_release_stores_v2_and_installs_it(
    helm_gitops: GitOps, hello_repository: HelmRepoServer, helm_cli: HelmCli, workload_ns: str
) -> None:
    gitops = helm_gitops
    first, second = unique("v1"), unique("v1")
    text = "---\n".join(
        operator_yaml(n, url=hello_repository.url, release=n, target=workload_ns, message=n)
        for n in (first, second)
    )
    path = gitops.log_dir / "v1.yaml"
    path.write_text(text)
    done = sluice(gitops, "apply", "-f", str(path))
    assert done.returncode == 0, done.stderr
    repo = source_name(hello_repository.url)
    assert done.stdout.splitlines() == [
        f"helmrepository.source.toolkit.fluxcd.io/{repo} created",
        f"helmrelease.helm.toolkit.fluxcd.io/{first} created",
        f"helmrelease.helm.toolkit.fluxcd.io/{second} created",
    ]
    for name in (first, second):
        wait_released(gitops, name, version=1)
    assert sorted(released(helm_cli, workload_ns)) == sorted(
        [(first, "deployed", "hello-1.0.0"), (second, "deployed", "hello-1.0.0")]
    )
    # Applied again, in another file alone: the shared source is the same object.
    path.write_text(
        operator_yaml(
            first, url=hello_repository.url, release=first, target=workload_ns, message=first
        )
    )
    again = sluice(gitops, "apply", "-f", str(path))
    assert again.stdout.splitlines() == [
        f"helmrepository.source.toolkit.fluxcd.io/{repo} unchanged",
        f"helmrelease.helm.toolkit.fluxcd.io/{first} unchanged",
    ]


def test_sluice_apply_keeps_a_stored_source_the_user_wrote_and_names_bad_v1_fields(
    redis_server: RedisServer, tmp_path: Path, settings
) -> None:
    env = {"SLUICE_REDIS_URL": redis_server.url, "SLUICE_SECRET_KEY_FILE": str(tmp_path / "key")}
    url = "https://charts.example.com/stable"
    own = f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: {source_name(url)}
  namespace: {NAMESPACE}
spec:
  interval: 1m
  url: {url}
"""
    release = operator_yaml("web", url=url, release="web", target="web", message="hi")
    runner = CliRunner()
    for name, text in (("own.yaml", own), ("release.yaml", release)):
        (tmp_path / name).write_text(text)
        done = runner.invoke(app, ["apply", "-f", str(tmp_path / name)], env=env)
        assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines() == ["helmrelease.helm.toolkit.fluxcd.io/web created"]
    store = Store.from_settings(settings)
    kept = store.get(ObjectKey("HelmRepository", NAMESPACE, source_name(url)))
    assert kept is not None and kept["spec"]["interval"] == "1m"

    (tmp_path / "bad.yaml").write_text(release.replace("    name: hello\n", ""))
    done = runner.invoke(app, ["apply", "-f", str(tmp_path / "bad.yaml")], env=env)
    assert done.exit_code == 1
    assert f"document 1 (HelmRelease/{NAMESPACE}/web): spec.chart" in done.stderr
    assert "repository needs name" in done.stderr


@pytest.mark.cluster
def test_two_kustomizations_with_v1_releases_of_one_repository_share_its_source(
    gitops: GitOps, git_repo: BareRepo, sandbox_cluster: ClusterInfo
) -> None:
    gitops.register_cluster(sandbox_cluster, "default")  # no helm worker: nothing released
    url = "https://charts.example.com/stable"
    repo = source_name(url)
    files = {
        f"{ks}/release.yaml": operator_yaml(ks, url=url, release=ks, target="web", message=ks)
        for ks in ("one", "two")
    }
    git_repo.commit(files)
    gitops.apply(
        source_yaml("fleet", git_repo.url)
        + kustomization_yaml("one", source="fleet", path="./one")
        + kustomization_yaml("two", source="fleet", path="./two")
    )
    for ks in ("one", "two"):
        gitops.wait_ready("Kustomization", ks)
        assert gitops.get("HelmRelease", ks)["spec"]["chart"]["spec"]["sourceRef"]["name"] == repo
    labels = gitops.get("HelmRepository", repo)["metadata"]["labels"]
    holder = labels["kustomize.toolkit.fluxcd.io/name"]
    other = "two" if holder == "one" else "one"

    # The holder's release leaves Git: it prunes the source, and the other one makes it again.
    keep = source_yaml(f"keep-{holder}", git_repo.url)
    head = git_repo.commit({f"{holder}/release.yaml": None, f"{holder}/keep.yaml": keep})
    gitops.pushed("fleet")
    gitops.wait_ready("Kustomization", holder, revision=f"main@sha1:{head}")
    # Its next reconcile (here asked for, as `flux reconcile ks` would) makes it again.
    done = sluice(gitops, "reconcile", "kustomization", other, "-n", NAMESPACE)
    assert done.returncode == 0, done.stderr

    def taken_over() -> bool:
        doc = gitops.store.get(ObjectKey("HelmRepository", NAMESPACE, repo))
        owner = ((doc or {}).get("metadata") or {}).get("labels", {})
        return owner.get("kustomize.toolkit.fluxcd.io/name") == other

    eventually(taken_over, timeout=30)
