"""One sluice, a Flux-layout fleet repo, two clusters: each cluster's scope runs its own folder.

clusters/staging and clusters/production hold Kustomizations with the same
names (``infra``, ``apps``); ``sluice bootstrap git --cluster NAME`` puts each
cluster's ``flux-system`` in that Cluster's scope, so the names never meet.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.api.conditions import get_condition
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.sandbox import ControlPlane
from tests.fixtures.gitops import (
    GitOps,
    bootstrap,
    configmap_yaml,
    namespace_yaml,
    sluice,
    source_yaml,
    unique,
)
from tests.helpers import eventually
from tests.kube import configmap_data
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer

CLUSTERS = ("staging", "production")
FS = "flux-system"


def _kustomization(name: str, path: str, *, depends_on: str = "") -> str:
    return _kustomization_of(name, FS, path=path, depends_on=depends_on)


def _overlay(env: str, ns: str, *, apps: tuple[str, ...] = ("../base", "../web")) -> str:
    resources = "".join(f"- {a}\n" for a in apps)
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n{resources}"
        "patches:\n- patch: |\n    apiVersion: v1\n    kind: ConfigMap\n"
        f"    metadata:\n      name: app\n      namespace: {ns}\n    data:\n      env: {env}\n"
    )


def _fleet(ns: str) -> dict[str, str]:
    files = {
        "infrastructure/namespace.yaml": namespace_yaml(ns),
        "apps/base/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n- app.yaml\n"
        ),
        "apps/base/app.yaml": configmap_yaml("app", ns, env="base"),
        "apps/web/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n- web.yaml\n"
        ),
        "apps/web/web.yaml": configmap_yaml("web", ns, port="8080"),
    }
    for cluster in CLUSTERS:
        files[f"clusters/{cluster}/infra.yaml"] = _kustomization("infra", "./infrastructure")
        files[f"clusters/{cluster}/apps.yaml"] = _kustomization(
            "apps", f"./apps/{cluster}", depends_on="infra"
        )
        files[f"apps/{cluster}/kustomization.yaml"] = _overlay(cluster, ns)
    return files


def _wait_ready(
    gitops: GitOps, scope: str, name: str, *, revision: str, kind: str = "Kustomization"
) -> dict[str, Any]:
    key = ObjectKey(kind, FS, name, scope)

    def check() -> dict[str, Any] | None:
        doc = gitops.store.get(key) or {}
        status = doc.get("status") or {}
        ready = get_condition(status, "Ready") or {}
        applied = status.get("lastAppliedRevision") or (status.get("artifact") or {}).get(
            "revision"
        )
        return doc if ready.get("status") == "True" and applied == revision else None

    try:
        return eventually(check, timeout=120, interval=0.3)
    except AssertionError as exc:
        doc = gitops.store.get(key) or {}
        raise AssertionError(f"{key}: {doc.get('status')}\n{gitops.logs()}") from exc


def _pushed(gitops: GitOps, scope: str) -> None:
    key = ObjectKey("GitRepository", FS, FS, scope)
    request_reconcile(gitops.store_client, gitops.workers_app, key, task_name="source.reconcile")


def test_two_clusters_bootstrapped_from_one_fleet_repo_each_run_their_own_folder(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    ns = unique("scopes")
    head = git_repo.commit(_fleet(ns))
    infos = dict(zip(CLUSTERS, control_plane_3.cluster_info(), strict=False))
    for cluster, info in infos.items():
        gitops.register_cluster(info, cluster)
    for cluster in CLUSTERS:
        said = bootstrap(gitops, git_repo.url, cluster)
        assert "Kustomization flux-system/flux-system created" in said
        assert "Kustomization reconciliation completed" in said

    revision = f"main@sha1:{head}"
    for cluster, info in infos.items():
        for name in ("flux-system", "infra", "apps"):
            _wait_ready(gitops, cluster, name, revision=revision)
        # Each cluster gets exactly its overlay.
        assert configmap_data(info.kubeconfig, "app", ns) == {"env": cluster}
        assert configmap_data(info.kubeconfig, "web", ns) == {"port": "8080"}
    # Two scopes hold flux-system/apps at once, each its own; the fleet-wide scope holds none.
    for cluster in CLUSTERS:
        apps = gitops.store.get(ObjectKey("Kustomization", FS, "apps", cluster))
        assert apps is not None
        assert apps["spec"]["path"] == f"./apps/{cluster}"
        owner = apps["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"]
        assert owner == "flux-system"
    assert gitops.store.get(ObjectKey("Kustomization", FS, "apps")) is None

    # `sluice -c NAME get ks` is flux's `flux get ks` against that cluster.
    for cluster in CLUSTERS:
        table = sluice(gitops, "-c", cluster, "get", "ks", "-n", FS)
        assert table.returncode == 0, table.stderr
        assert {"flux-system", "infra", "apps"} <= {
            line.split()[0] for line in table.stdout.splitlines()[1:]
        }
        one = sluice(gitops, "-c", cluster, "get", "ks", "apps", "-n", FS, "-o", "json")
        assert json.loads(one.stdout)["spec"]["path"] == f"./apps/{cluster}"
    every = sluice(gitops, "--all-clusters", "get", "ks", "apps", "-n", FS)
    rows = [line.split() for line in every.stdout.splitlines()]
    assert rows[0][:2] == ["CLUSTER", "NAME"]
    assert sorted(r[0] for r in rows[1:]) == ["production", "staging"]

    # A commit to apps/production changes production only.
    staging_rv = _resource_version(infos["staging"].kubeconfig, ns)
    head = git_repo.commit({"apps/production/kustomization.yaml": _overlay("production-v2", ns)})
    for cluster in CLUSTERS:
        _pushed(gitops, cluster)
    for cluster in CLUSTERS:
        _wait_ready(gitops, cluster, "apps", revision=f"main@sha1:{head}")
    assert configmap_data(infos["production"].kubeconfig, "app", ns) == {"env": "production-v2"}
    assert configmap_data(infos["staging"].kubeconfig, "app", ns) == {"env": "staging"}
    assert _resource_version(infos["staging"].kubeconfig, ns) == staging_rv

    # Removing an app from one overlay prunes it from that cluster only.
    head = git_repo.commit(
        {"apps/production/kustomization.yaml": _overlay("production-v2", ns, apps=("../base",))}
    )
    for cluster in CLUSTERS:
        _pushed(gitops, cluster)
    _wait_ready(gitops, "production", "apps", revision=f"main@sha1:{head}")
    eventually(lambda: configmap_data(infos["production"].kubeconfig, "web", ns) is None, 30)
    _wait_ready(gitops, "staging", "apps", revision=f"main@sha1:{head}")
    assert configmap_data(infos["staging"].kubeconfig, "web", ns) == {"port": "8080"}


def _resource_version(kubeconfig: Any, ns: str) -> str:
    from kubernetes import client as k8s

    from tests.fixtures.cluster import api_client

    with api_client(kubeconfig) as api:
        return str(
            k8s.CoreV1Api(api).read_namespaced_config_map("app", ns).metadata.resource_version
        )


def test_bootstrap_twice_changes_nothing_and_commit_leaves_the_sync_in_the_repo(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    ns = unique("boot")
    git_repo.commit(
        {
            "clusters/staging/infra.yaml": _kustomization("infra", "./infrastructure"),
            "infrastructure/namespace.yaml": namespace_yaml(ns),
        }
    )
    gitops.register_cluster(control_plane_3.cluster_info()[0], "staging")
    before = git_repo.head()

    said = bootstrap(gitops, git_repo.url, "staging", "--commit")
    head = git_repo.head()
    assert head != before
    assert "committed sync manifests" in said
    sync = git_repo.read_file("clusters/staging/flux-system/gotk-sync.yaml").decode()
    assert "path: ./clusters/staging" in sync
    assert f"url: {git_repo.url}" in sync
    # The next reconcile builds the repo's gotk-sync.yaml: the same objects, now owned.
    ks = _wait_ready(gitops, "staging", "flux-system", revision=f"main@sha1:{head}")
    assert ks["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "flux-system"
    assert ks["metadata"]["generation"] == 1
    source_key = ObjectKey("GitRepository", FS, FS, "staging")
    source = gitops.store.get(source_key)
    assert source is not None
    assert source["metadata"]["generation"] == 1
    _wait_ready(gitops, "staging", "infra", revision=f"main@sha1:{head}")

    again = bootstrap(gitops, git_repo.url, "staging", "--commit")
    assert git_repo.head() == head
    assert "sync manifests are up to date" in again
    assert "GitRepository flux-system/flux-system unchanged" in again
    assert "Kustomization flux-system/flux-system unchanged" in again
    source_again = gitops.store.get(source_key)
    assert source_again is not None
    assert source_again["metadata"]["generation"] == 1

    # The flux commands work in the scope with -c.
    done = sluice(gitops, "-c", "staging", "reconcile", "ks", "infra", "--timeout", "2m")
    assert done.returncode == 0, done.stderr
    assert f"applied revision main@sha1:{head}" in done.stderr
    tree = sluice(gitops, "-c", "staging", "tree", "ks", "flux-system")
    assert "staging:Kustomization/flux-system/infra" in tree.stdout
    events = sluice(gitops, "-c", "staging", "events", "--for", "Kustomization/flux-system/infra")
    assert "staging:Kustomization/flux-system/infra" in events.stdout
    missing = sluice(gitops, "reconcile", "ks", "infra", "--timeout", "10s")
    assert missing.returncode == 1
    assert "Kustomization 'flux-system/infra' not found" in missing.stderr


def test_bootstrap_refuses_a_cluster_that_is_not_registered(
    gitops: GitOps, git_repo: BareRepo
) -> None:
    git_repo.commit({"clusters/nowhere/README": "x\n"})
    result = sluice(
        gitops,
        "bootstrap",
        "git",
        "--url",
        git_repo.url,
        "--path",
        "clusters/nowhere",
        "--cluster",
        "nowhere",
    )
    assert result.returncode == 1
    assert "Cluster 'nowhere' is not registered" in result.stderr
    assert "sluice cluster add nowhere" in result.stderr
    assert gitops.store.scopes() == []


def test_bootstrap_reads_the_password_from_stdin_and_keeps_the_secret_in_the_scope(
    gitops: GitOps, git_repo: BareRepo, git_http: GitHttpServer, control_plane_3: ControlPlane
) -> None:
    ns = unique("creds")
    git_repo.commit(
        {
            "clusters/staging/infra.yaml": _kustomization("infra", "./infrastructure"),
            "infrastructure/namespace.yaml": namespace_yaml(ns),
        }
    )
    gitops.register_cluster(control_plane_3.cluster_info()[0], "staging")
    url = git_http.url_for(git_repo)
    assert git_http.password is not None
    result = sluice(
        gitops,
        "-c",
        "staging",
        "bootstrap",
        "git",
        "--url",
        url,
        "--path",
        "clusters/staging",
        "--username",
        "sluice",
        "--password-stdin",
        "--commit",
        "--timeout",
        "3m",
        stdin=git_http.password + "\n",
    )
    assert result.returncode == 0, result.stderr + gitops.logs()
    assert git_http.password not in result.stdout + result.stderr
    assert "Secret flux-system/flux-system created" in result.stderr
    secret = gitops.store.get(ObjectKey("Secret", FS, FS, "staging"))
    assert secret is not None
    assert base64.b64decode(secret["data"]["password"]).decode() == git_http.password
    assert gitops.store.get(ObjectKey("Secret", FS, FS)) is None  # not fleet-wide
    sync = git_repo.read_file("clusters/staging/flux-system/gotk-sync.yaml").decode()
    assert "secretRef:\n    name: flux-system" in sync
    _wait_ready(gitops, "staging", "infra", revision=f"main@sha1:{git_repo.head()}")


def test_a_scope_uses_a_shared_fleet_wide_source_but_never_another_scopes_dependency(
    gitops: GitOps, git_repo: BareRepo, control_plane_3: ControlPlane
) -> None:
    ns = unique("shared")
    head = git_repo.commit(
        {"app/ns.yaml": namespace_yaml(ns), "app/cm.yaml": configmap_yaml("app", ns, v="1")}
    )
    info = control_plane_3.cluster_info()[1]
    gitops.register_cluster(info, "staging")
    # One fleet-wide source, and a fleet-wide `infra` a scope must not wait for.
    gitops.apply(source_yaml("shared", git_repo.url) + _kustomization_of("infra", "shared"))
    path = gitops.log_dir / "scoped.yaml"
    path.write_text(
        _kustomization_of("app", "shared", path="./app")
        + "---\n"
        + _kustomization_of("waits", "shared", path="./app", depends_on="infra")
    )
    result = sluice(gitops, "-c", "staging", "apply", "-f", str(path))
    assert result.returncode == 0, result.stderr

    _wait_ready(gitops, "staging", "app", revision=f"main@sha1:{head}")
    assert configmap_data(info.kubeconfig, "app", ns) == {"v": "1"}

    def waiting() -> str | None:
        doc = gitops.store.get(ObjectKey("Kustomization", FS, "waits", "staging")) or {}
        ready = get_condition(doc.get("status"), "Ready") or {}
        return ready.get("message") if ready.get("reason") == "DependencyNotReady" else None

    message = eventually(waiting, 60)
    assert "staging:Kustomization/flux-system/infra' not found" in message


def _kustomization_of(name: str, source: str, *, path: str = "./", depends_on: str = "") -> str:
    depends = f"  dependsOn:\n    - name: {depends_on}\n" if depends_on else ""
    return f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 10m0s
  retryInterval: 2s
{depends}  sourceRef:
    kind: GitRepository
    name: {source}
  path: {path}
  prune: true
"""
