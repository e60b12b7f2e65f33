"""HelmChart through the running loop: a new commit rebuilds the chart at once; the CLI shows it."""

from __future__ import annotations

from tests.fixtures.gitops import GitOps, flux_yaml, sluice, source_yaml, unique
from tests.servers.git import BareRepo


def helmchart_yaml(name: str, *, source: str, chart: str, extra: str = "") -> str:
    spec = f"""\
  interval: 1h
  chart: {chart}
  sourceRef:
    kind: GitRepository
    name: {source}
{extra}"""
    return flux_yaml("HelmChart", name, spec)


def chart(version: str, tag: str) -> dict[str, str]:
    return {
        "charts/web/Chart.yaml": f"apiVersion: v2\nname: web\nversion: {version}\n",
        "charts/web/values.yaml": f"tag: {tag}\n",
        "charts/web/templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"
            "data:\n  tag: {{ .Values.tag | quote }}\n"
        ),
    }


def test_a_new_commit_rebuilds_the_chart_without_waiting_for_its_interval(
    gitops: GitOps, git_repo: BareRepo
) -> None:
    source, name = unique("charts"), unique("web")
    head = git_repo.commit(chart("1.0.0", "a"))
    gitops.apply(
        source_yaml(source, git_repo.url, interval="1h")
        + helmchart_yaml(
            name, source=source, chart="./charts/web", extra="  reconcileStrategy: Revision\n"
        )
    )
    doc = gitops.wait_ready("HelmChart", name, revision=f"1.0.0+{head[:12]}", timeout=90)
    assert doc["status"]["observedSourceArtifactRevision"] == f"main@sha1:{head}"

    # Both intervals are an hour: only the GitRepository's artifact-ready event
    # can bring the chart to the new commit.
    second = git_repo.commit(chart("1.0.0", "b"), "tag b")
    gitops.pushed(source)
    gitops.wait_ready("HelmChart", name, revision=f"1.0.0+{second[:12]}", timeout=90)

    rows = sluice(gitops, "get", "sources", "chart").stdout.splitlines()
    assert rows[0].split()[:4] == ["NAME", "REVISION", "SUSPENDED", "READY"]
    assert [r.split()[:4] for r in rows[1:]] == [[name, f"1.0.0+{second[:12]}", "False", "True"]]

    done = sluice(gitops, "reconcile", "source", "chart", name, "--timeout", "90s")
    assert done.returncode == 0, done.stderr + gitops.logs()
    assert f"► annotating HelmChart {name} in flux-system namespace" in done.stderr
    assert done.stderr.rstrip().endswith(f"✔ fetched revision 1.0.0+{second[:12]}")
