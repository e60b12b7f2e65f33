"""Flux v1 automation end to end: annotated files in Git get fluxd's new tags, committed and pushed.

Real docker-registry (no login), a real git server over smart HTTP, the image
worker; no ImageRepository and no ImagePolicy: an ImageUpdateAutomation with
``update.strategy: FluxV1`` reads the ``fluxcd.io/`` annotations in the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.image.registry import RegistryAccess
from services.image.v1automation import RegistryTags, update_tree
from shared.api.conditions import get_condition
from tests.fixtures.gitops import GitOps, flux_yaml, secret_yaml, sluice
from tests.helpers import eventually
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer
from tests.servers.registry import OciRegistry


def _deployment(name: str, image: str, annotations: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
{annotations}spec:
  template:
    spec:
      containers:
        - name: web
          image: {image}   # the front end
          ports: [{{containerPort: 8080}}]
"""


def _helmrelease(image: str) -> str:
    return f"""\
# podinfo, as the Helm Operator days had it
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: chart
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/tag.chart-image: glob:1.*
spec:
  chart: {{repository: https://charts.example.com, name: chart, version: 1.0.0}}
  values:
    image:
      repository: {image}
      tag: "1.0"
    replicaCount: 2
"""


def _objects(url: str, git_http: GitHttpServer) -> str:
    source = (
        f"  interval: 1h\n  url: {url}\n  ref:\n    branch: main\n"
        "  secretRef:\n    name: git-login\n"
    )
    automation = """\
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: app
  git:
    commit:
      author:
        name: Weave Flux
        email: support@weave.works
  update:
    path: ./app
    strategy: FluxV1
"""
    return (
        secret_yaml("git-login", {"username": git_http.username, "password": git_http.password})
        + flux_yaml("GitRepository", "app", source)
        + flux_yaml(
            "ImageUpdateAutomation", "app", automation, api_version="image.toolkit.fluxcd.io/v1"
        )
    )


def _status(gitops: GitOps) -> dict[str, Any]:
    return dict(gitops.get("ImageUpdateAutomation", "app").get("status") or {})


def test_v1_annotated_deployment_and_helmrelease_get_fluxds_tags_committed(
    gitops: GitOps, git_repo: BareRepo, git_http: GitHttpServer, oci_registry: OciRegistry
) -> None:
    gitops.start_worker("image")
    for tag in ("1.10.0", "1.10.3", "1.11.0", "latest", "1.10.9-rc.1"):
        oci_registry.push_image("web", tag, files={"tag.txt": tag.encode()})
    # glob orders by the image's creation time: 1.2 is the newest 1.* image, though 1.10 sorts
    # higher as a version and as text.
    for tag, created in (
        ("1.0", "2024-01-01T00:00:00Z"),
        ("1.2", "2024-03-01T00:00:00Z"),
        ("1.10", "2024-02-01T00:00:00Z"),
        ("2.0", "2024-04-01T00:00:00Z"),
    ):
        oci_registry.push_image(
            "chart", tag, files={"t": tag.encode()}, config={"created": created}
        )
    web, chart = f"{oci_registry.host}/web", f"{oci_registry.host}/chart"
    automated = _deployment(
        "web",
        f"{web}:1.10.0",
        '    fluxcd.io/automated: "true"\n    fluxcd.io/tag.web: semver:~1.10\n',
    )
    locked = _deployment(
        "frozen",
        f"{web}:1.10.0",
        '    flux.weave.works/automated: "true"\n    flux.weave.works/locked: "true"\n',
    )
    future = _deployment(
        "future",
        f"{web}:1.10.0",
        '    fluxcd.io/automated: "true"\n    fluxcd.io/tag.web: semver:^9\n',
    )
    release = _helmrelease(chart)
    files = {"web.yaml": automated, "frozen.yaml": locked, "future.yaml": future}
    first = git_repo.commit(
        {**{f"app/{name}": text for name, text in files.items()}, "app/release.yaml": release},
        "first",
    )
    gitops.apply(_objects(git_http.url_for(git_repo), git_http))

    pushed = eventually(lambda: _status(gitops).get("lastPushCommit"), timeout=120)
    assert git_repo.head("main") == pushed and pushed != first
    assert git_repo.read_file("app/web.yaml") == automated.replace(":1.10.0", ":1.10.3").encode()
    assert git_repo.read_file("app/release.yaml") == release.replace('"1.0"', '"1.2"').encode()
    assert git_repo.read_file("app/frozen.yaml") == locked.encode()  # locked: left alone
    assert git_repo.read_file("app/future.yaml") == future.encode()
    assert git_repo.message("main").splitlines() == [
        "Auto-release multiple (2) images",
        "",
        f" - {chart}:1.2",
        f" - {web}:1.10.3",
    ]
    status = _status(gitops)
    assert status["observedSourceRevision"] == f"main@sha1:{pushed}"
    assert "observedPolicies" not in status
    # What was left alone, and why, is on the automation (fluxd only logged it).
    assert status["fluxV1Skipped"] == [
        "future.yaml: Deployment/future container web: no tag matches semver:^9"
    ]
    ready = get_condition(status, "Ready")
    assert ready is not None and ready["status"] == "True"

    # Nothing newer: the next run commits nothing.
    gitops.wait_idle()
    again = sluice(gitops, "reconcile", "image", "update", "app")
    assert again.returncode == 0, again.stderr
    assert git_repo.head("main") == pushed

    # A newer patch in range: one more commit, to that tag only.
    oci_registry.push_image("web", "1.10.4", files={"tag.txt": b"1.10.4"})
    third = sluice(gitops, "reconcile", "image", "update", "app")
    assert third.returncode == 0, third.stderr
    second = eventually(
        lambda: (c := _status(gitops).get("lastPushCommit")) != pushed and c, timeout=120
    )
    assert git_repo.head("main") == second
    assert git_repo.read_file("app/web.yaml") == automated.replace(":1.10.0", ":1.10.4").encode()
    assert git_repo.message("main").strip() == f"Auto-release {web}:1.10.4"


def test_update_tree_orders_regexp_by_creation_time_and_skips_what_it_cannot_read(
    oci_registry: OciRegistry, tmp_path: Path
) -> None:
    for tag, created in (
        ("v1", "2024-01-01T00:00:00Z"),
        ("v3", "2024-03-01T00:00:00Z"),
        ("v20", "2024-02-01T00:00:00Z"),
        ("v4-rc", "2024-05-01T00:00:00Z"),
    ):
        oci_registry.push_image("job", tag, files={"t": tag.encode()}, config={"created": created})
    job = f"{oci_registry.host}/job"
    cronjob = f"""\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  annotations: {{fluxcd.io/automated: "true", fluxcd.io/tag.job: 'regexp:^v\\d+$'}}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: '{job}:v1'
"""
    # A registry nobody listens on, and a pattern Go cannot compile (fluxd matched every tag).
    statefulset = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  annotations:
    fluxcd.io/automated: "true"
spec:
  template:
    spec:
      containers:
        - {name: db, image: "127.0.0.1:9/db:1.0"}
"""
    odd = cronjob.replace("nightly", "odd").replace("regexp:^v\\d+$", "regexp:(")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "cron.yaml").write_text(cronjob)
    (tmp_path / "jobs" / "db.yaml").write_text(statefulset)
    (tmp_path / "jobs" / "odd.yaml").write_text(odd)
    registry = RegistryTags(lambda image: RegistryAccess(timeout=5))

    result = update_tree(tmp_path, update_path="jobs", registry=registry)

    # v3 is the newest image whose tag matches ^v\d+$ (v4-rc is newer but does not match).
    assert (tmp_path / "jobs" / "cron.yaml").read_text() == cronjob.replace(":v1'", ":v3'")
    assert (tmp_path / "jobs" / "db.yaml").read_text() == statefulset
    # The invalid pattern matched every tag, as in fluxd: v4-rc, the newest image.
    assert (tmp_path / "jobs" / "odd.yaml").read_text() == odd.replace(":v1'", ":v4-rc'")
    assert [(c.path, c.object.name, c.old_tag, c.new_tag) for c in result.changes] == [
        ("cron.yaml", "nightly", "v1", "v3"),
        ("odd.yaml", "odd", "v1", "v4-rc"),
    ]
    db, invalid = result.skipped
    assert db.startswith("db.yaml: StatefulSet/db container db: cannot list tags of 127.0.0.1:9/db")
    assert invalid.startswith("odd.yaml: CronJob/odd container job: pattern regexp:( matches every")
