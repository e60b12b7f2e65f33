"""The ``sluice`` commands for HelmReleases, as a user runs them against a running sluice.

One release of the ``hello`` chart (its message from a Secret) on a workload
sandbox cluster, then what ``get``, ``history``, ``tree``, ``diff``,
``reconcile``, ``suspend``/``resume`` and ``export`` print and exit with.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from shared import yaml
from tests.fixtures.gitops import NAMESPACE, GitOps, sluice
from tests.helpers import eventually
from tests.integration.test_helmrelease import release_from_secret
from tests.servers.helmrepo import HelmRepoServer

pytestmark = pytest.mark.cluster

SECRET_MESSAGE = "s3cr3t-from-vault"


def table(stdout: str) -> list[dict[str, str]]:
    """A kubectl-style table as rows by header, cut where each header starts."""
    header, *lines = stdout.splitlines()
    names = [n.strip() for n in header.split("   ") if n.strip()]
    starts: list[int] = []
    for n in names:
        starts.append(header.index(n, starts[-1] + 1 if starts else 0))
    ends = [*starts[1:], None]
    return [
        {n: line[s:e].strip() for n, s, e in zip(names, starts, ends, strict=True)}
        for line in lines
    ]


def annotations(gitops: GitOps, name: str) -> dict[str, Any]:
    return dict(gitops.get("HelmRelease", name)["metadata"].get("annotations") or {})


def test_get_history_tree_and_diff_show_the_release_on_each_cluster(
    helm_gitops: GitOps,
    hello_repository: HelmRepoServer,
    workload_api: k8s.ApiClient,
    workload_ns: str,
) -> None:
    gitops = helm_gitops
    name = release_from_secret(gitops, hello_repository, workload_ns, message=SECRET_MESSAGE)

    got = sluice(gitops, "get", "hr", "-n", NAMESPACE)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split()[:5] == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    row = next(r for r in table(got.stdout) if r["NAME"] == name)
    assert (row["REVISION"], row["SUSPENDED"], row["READY"]) == ("1.0.0", "False", "True")
    every = sluice(gitops, "get", "helmreleases", "-A")
    assert every.stdout.split()[:2] == ["NAMESPACE", "NAME"]
    assert any(r["NAME"] == name for r in table(every.stdout))
    per_cluster = sluice(gitops, "get", "hr", name, "--clusters")
    assert per_cluster.returncode == 0, per_cluster.stderr
    rows = table(per_cluster.stdout)
    assert [(r["NAME"], r["CLUSTER"], r["REVISION"], r["READY"]) for r in rows] == [
        (name, "default", "1.0.0", "True")
    ]

    history = sluice(gitops, "history", "hr", name)
    assert history.returncode == 0, history.stderr
    rows = table(history.stdout)
    assert [(r["CLUSTER"], r["REVISION"], r["STATUS"], r["CHART"]) for r in rows] == [
        ("default", "1", "deployed", "hello-1.0.0")
    ]
    assert rows[0]["DIGEST"].startswith("sha256:") and rows[0]["DEPLOYED"]

    elsewhere = sluice(gitops, "history", "hr", name, "--cluster", "nope")
    assert elsewhere.returncode == 1
    assert "has no cluster 'nope': it has default" in elsewhere.stderr

    tree = sluice(gitops, "tree", "hr", name)
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout.splitlines() == [
        f"HelmRelease/{NAMESPACE}/{name}",
        f"  HelmChart/{NAMESPACE}/{NAMESPACE}-{name}",
        "  cluster default",
        f"    ConfigMap/{workload_ns}/{name}",
    ]

    not_targeted = sluice(gitops, "diff", "hr", name, "--cluster", "nope")
    assert not_targeted.returncode == 1
    where = f"{NAMESPACE}/{name}"
    assert f"✗ HelmRelease '{where}' targets default, not cluster 'nope'" in not_targeted.stderr

    same = sluice(gitops, "diff", "hr", name)
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.splitlines() == ["◎ cluster default", "✔ cluster default: no changes"]

    # Someone edits the release's ConfigMap by hand: diff shows it would be put back,
    # without the value that came from the Secret.
    core = k8s.CoreV1Api(workload_api)
    core.patch_namespaced_config_map(name, workload_ns, {"data": {"message": "edited"}})
    drifted = sluice(gitops, "diff", "hr", name)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    lines = drifted.stdout.splitlines()
    assert f"► ConfigMap/{workload_ns}/{name} drifted" in lines
    assert "-  message: edited" in lines and "+  message: ***" in lines, drifted.stdout
    assert SECRET_MESSAGE not in drifted.stdout + drifted.stderr


def test_reconcile_force_reset_with_source_suspend_resume_and_export(
    helm_gitops: GitOps, hello_repository: HelmRepoServer, workload_ns: str
) -> None:
    gitops = helm_gitops
    name = release_from_secret(gitops, hello_repository, workload_ns, message=SECRET_MESSAGE)

    forced = sluice(gitops, "reconcile", "hr", name, "--force", "--reset")
    assert forced.returncode == 0, forced.stderr + gitops.logs()
    assert f"► annotating HelmRelease {name} in {NAMESPACE} namespace" in forced.stderr
    assert "✔ HelmRelease reconciliation completed" in forced.stderr
    assert "✔ applied revision 1.0.0" in forced.stderr
    marks = annotations(gitops, name)
    token = marks["reconcile.fluxcd.io/requestedAt"]
    assert marks["reconcile.fluxcd.io/forceAt"] == token
    assert marks["reconcile.fluxcd.io/resetAt"] == token

    # --force upgraded it although nothing changed (revision 2), and --reset was handled.
    def forced_run() -> dict[str, Any] | None:
        status = gitops.get("HelmRelease", name)["status"]
        versions = [h["version"] for h in status.get("history") or []]
        return status if versions == [2, 1] else None

    status = eventually(forced_run, timeout=120, interval=0.5)
    assert status["lastHandledForceAt"] == token
    assert status["lastHandledResetAt"] == token

    sourced = sluice(gitops, "reconcile", "helmrelease", name, "--with-source")
    assert sourced.returncode == 0, sourced.stderr + gitops.logs()
    said = [line for line in sourced.stderr.splitlines() if line.startswith("► annotating")]
    assert said == [
        f"► annotating HelmRepository charts in {NAMESPACE} namespace",
        f"► annotating HelmChart {NAMESPACE}-{name} in {NAMESPACE} namespace",
        f"► annotating HelmRelease {name} in {NAMESPACE} namespace",
    ]

    suspended = sluice(gitops, "suspend", "hr", name)
    assert suspended.returncode == 0, suspended.stderr
    row = table(sluice(gitops, "get", "hr", name, "-n", NAMESPACE).stdout)[0]
    assert row["SUSPENDED"] == "True"
    refused = sluice(gitops, "reconcile", "hr", name)
    assert refused.returncode == 1
    assert f"✗ HelmRelease '{NAMESPACE}/{name}' is suspended: resume it first" in refused.stderr
    resumed = sluice(gitops, "resume", "hr", name)
    assert resumed.returncode == 0, resumed.stderr + gitops.logs()
    assert "✔ HelmRelease reconciliation completed" in resumed.stderr

    exported = sluice(gitops, "export", "hr", name)
    assert exported.returncode == 0, exported.stderr
    doc = yaml.load(exported.stdout.removeprefix("---\n"), source="export")
    assert doc["kind"] == "HelmRelease" and "status" not in doc
    assert doc["spec"]["valuesFrom"] == [{"kind": "Secret", "name": "hello-values"}]
    runtime = set(doc["metadata"].get("annotations") or {})
    assert not runtime & {
        "reconcile.fluxcd.io/requestedAt",
        "reconcile.fluxcd.io/forceAt",
        "reconcile.fluxcd.io/resetAt",
    }


@pytest.mark.parametrize(
    "words",
    [
        ("history", "hr"),
        ("tree", "hr"),
        ("diff", "hr"),
        ("reconcile", "hr"),
        ("suspend", "hr"),
        ("export", "hr"),
    ],
)
def test_an_unknown_helmrelease_is_named_and_exits_1(
    gitops: GitOps, words: tuple[str, ...]
) -> None:
    result = sluice(gitops, *words, "nope")
    assert result.returncode == 1
    assert f"✗ HelmRelease '{NAMESPACE}/nope' not found" in result.stderr


def test_get_of_an_unknown_helmrelease_says_where_it_looked(gitops: GitOps) -> None:
    result = sluice(gitops, "get", "hr", "nope", "-n", NAMESPACE)
    assert result.returncode == 1
    assert f'error: HelmRelease "nope" not found in namespace "{NAMESPACE}"' in result.stderr
