"""Image automation end to end: a tag pushed to a registry becomes a commit, then a new image
in the cluster.

Everything is real: docker-registry behind a login (pull credentials in a
dockerconfigjson Secret), a git server over smart HTTP behind a login, the
source, kustomize and image workers, the scheduler and a sandbox
kube-apiserver. Every interval is an hour, so what happens comes from the
image service's own chain: a scan with new tags wakes the ImagePolicy, a new
choice wakes the ImageUpdateAutomation, a push asks the GitRepository to
fetch, and the Kustomization applies it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from shared.api.conditions import get_condition
from shared.events import Event, EventBus
from shared.sandbox import ControlPlane
from tests.fixtures.cluster import api_client
from tests.fixtures.gitops import GitOps, flux_yaml, secret_yaml, sluice, unique
from tests.helpers import eventually
from tests.leaks import file_bytes, redis_bytes
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer
from tests.servers.registry import OciRegistry

REGISTRY_USER = "puller"
REGISTRY_PASSWORD = "registry-pass-5c1e9a77"
IMAGE_NS = "flux-system"
TEMPLATE = (
    "Automated image update by {{ .AutomationObject }}\n"
    "{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}\n{{ end }}"
)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[OciRegistry]:
    """docker-registry behind Basic auth (htpasswd)."""
    running = OciRegistry(tmp_path / "registry", username=REGISTRY_USER, password=REGISTRY_PASSWORD)
    running.start()
    yield running
    running.stop()


def _deployment(namespace: str, image: str) -> str:
    # Comments, odd spacing and key order must all survive the update.
    return f"""\
# the web front end
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {namespace}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: {image}:1.0.0 # {{"$imagepolicy": "{IMAGE_NS}:app"}}
          # pinned by the automation above
          ports:   [{{containerPort: 8080}}]
"""


def _helmrelease(image: str) -> str:
    # Values outside the Kustomization's path: rewritten in Git, never applied here.
    return f"""\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: apps
spec:
  values:
    image:
      repository: {image}   # {{"$imagepolicy": "{IMAGE_NS}:app:name"}}
      tag: "1.0.0"  # {{"$imagepolicy": "{IMAGE_NS}:app:tag"}}
"""


def _objects(registry: OciRegistry, url: str, git_http: GitHttpServer) -> str:
    dockerconfig = json.dumps(
        {
            "auths": {
                registry.host: {"username": REGISTRY_USER, "password": REGISTRY_PASSWORD},
            }
        }
    )
    source = (
        f"  interval: 1h\n  url: {url}\n  ref:\n    branch: main\n"
        "  secretRef:\n    name: git-login\n"
    )
    ks = (
        "  interval: 1h\n  retryInterval: 2s\n  path: ./app\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: app\n"
    )
    image = "image.toolkit.fluxcd.io/v1"
    repository = (
        f"  image: {registry.host}/app\n  interval: 1h\n  secretRef:\n    name: registry-login\n"
    )
    policy = (
        "  imageRepositoryRef:\n    name: app\n  policy:\n    semver:\n      range: '>=1.0.0'\n"
    )
    template = "".join(f"        {line}\n" for line in TEMPLATE.splitlines())
    automation = f"""\
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: app
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: Image Bot
        email: images@example.com
      messageTemplate: |
{template}    push:
      branch: main
  update:
    path: ./
    strategy: Setters
"""
    return (
        secret_yaml("git-login", {"username": git_http.username, "password": git_http.password})
        + secret_yaml("registry-login", {".dockerconfigjson": dockerconfig})
        + flux_yaml("GitRepository", "app", source)
        + flux_yaml("Kustomization", "app", ks, api_version="kustomize.toolkit.fluxcd.io/v1")
        + flux_yaml("ImageRepository", "app", repository, api_version=image)
        + flux_yaml("ImagePolicy", "app", policy, api_version=image)
        + flux_yaml("ImageUpdateAutomation", "app", automation, api_version=image)
    )


def _cluster_image(kubeconfig: Path, namespace: str) -> str | None:
    with api_client(kubeconfig) as api:
        try:
            deploy = k8s.AppsV1Api(api).read_namespaced_deployment("web", namespace)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
    return str(deploy.spec.template.spec.containers[0].image)


def _status(gitops: GitOps, kind: str) -> dict[str, Any]:
    return dict(gitops.get(kind, "app").get("status") or {})


def _ready(gitops: GitOps, kind: str) -> dict[str, Any] | None:
    return get_condition(_status(gitops, kind), "Ready")


def _events(gitops: GitOps, kind: str) -> list[Event]:
    bus = EventBus(gitops.store_client, gitops.workers_app)
    found = []
    since = "0"
    while batch := bus.read(since=since, count=500):
        found += [e for _, e in batch if e.object.kind == kind and e.object.name == "app"]
        since = batch[-1][0]
        if len(batch) < 500:
            break
    return found


def test_a_pushed_tag_is_committed_to_git_and_applied_to_the_cluster(
    gitops: GitOps,
    git_repo: BareRepo,
    git_http: GitHttpServer,
    registry: OciRegistry,
    control_plane: ControlPlane,
) -> None:
    namespace = unique("imaged")
    info = control_plane.cluster_info()[0]
    gitops.register_cluster(info, "default")
    gitops.start_worker("image")
    for tag in ("0.9.0", "1.0.0", "1.0.1", "1.1.0-rc.1", "latest", "1.0.1.sig"):
        registry.push_image("app", tag, files={"tag.txt": tag.encode()})
    image = f"{registry.host}/app"
    namespace_doc = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
    original = _deployment(namespace, image)
    release = _helmrelease(image)
    first = git_repo.commit(
        {
            "app/namespace.yaml": namespace_doc,
            "app/deploy.yaml": original,
            "releases/web.yaml": release,
        },
        "first",
    )
    gitops.apply(_objects(registry, git_http.url_for(git_repo), git_http))

    # The scan lists the tags (the .sig one excluded by Flux's default exclusion list).
    repo_status = eventually(
        lambda: (s := _status(gitops, "ImageRepository")).get("lastScanResult") and s,
        timeout=120,
    )
    assert repo_status["canonicalImageName"] == image
    scanned = repo_status["lastScanResult"]
    assert scanned["tagCount"] == 5
    assert scanned["latestTags"] == ["latest", "1.1.0-rc.1", "1.0.1", "1.0.0", "0.9.0"]
    assert _ready(gitops, "ImageRepository")["message"] == (  # type: ignore[index]
        f"successful scan: found 5 tags with checksum {scanned['revision']}"
    )

    # The policy picks the highest release in range (no pre-release).
    policy = eventually(lambda: _status(gitops, "ImagePolicy").get("latestRef"), timeout=60)
    assert policy == {"name": image, "tag": "1.0.1"}

    # The automation commits a byte-exact change and pushes it; the cluster gets the image.
    pushed = eventually(lambda: _status(gitops, "ImageUpdateAutomation").get("lastPushCommit"), 120)
    assert git_repo.head("main") == pushed and pushed != first
    updated = original.replace(f"{image}:1.0.0", f"{image}:1.0.1")
    assert git_repo.read_file("app/deploy.yaml") == updated.encode()
    assert git_repo.read_file("app/namespace.yaml") == namespace_doc.encode()
    # The HelmRelease's values: the tag alone changes, its quotes and comments kept.
    assert git_repo.read_file("releases/web.yaml") == release.replace('"1.0.0"', '"1.0.1"').encode()
    message = git_repo.message("main")
    assert message.splitlines()[:2] == [
        f"Automated image update by {IMAGE_NS}/app",
        f"{image}:1.0.0 -> {image}:1.0.1",
    ]
    auto = _status(gitops, "ImageUpdateAutomation")
    assert auto["observedPolicies"] == {"app": {"name": image, "tag": "1.0.1"}}
    assert auto["observedSourceRevision"] == f"main@sha1:{pushed}"
    assert auto["lastPushTime"] and auto["lastAutomationRunTime"]
    assert _ready(gitops, "ImageUpdateAutomation")["message"] == "repository up-to-date"  # type: ignore[index]
    summaries = [e.message for e in _events(gitops, "ImageUpdateAutomation")]
    assert any(s.startswith(f"pushed commit '{pushed[:7]}' to branch 'main'\n") for s in summaries)
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{pushed}", timeout=120)
    assert eventually(
        lambda: _cluster_image(info.kubeconfig, namespace) == f"{image}:1.0.1", timeout=60
    )

    # The CLI words, as flux's.
    listed = sluice(gitops, "get", "images", "all")
    assert listed.returncode == 0, listed.stderr
    assert scanned["revision"] in listed.stdout and f"{image}:1.0.1" in listed.stdout
    assert pushed in listed.stdout

    # Nothing new in the registry: the scan writes nothing, nothing is committed.
    gitops.wait_idle()
    repo_events = len(_events(gitops, "ImageRepository"))
    policy_doc = gitops.get("ImagePolicy", "app")
    again = sluice(gitops, "reconcile", "image", "repository", "app")
    assert again.returncode == 0, again.stderr
    assert _status(gitops, "ImageRepository")["lastScanResult"] == scanned
    auto_again = sluice(gitops, "reconcile", "image", "update", "app")
    assert auto_again.returncode == 0, auto_again.stderr
    gitops.wait_idle()
    assert len(_events(gitops, "ImageRepository")) == repo_events
    assert gitops.get("ImagePolicy", "app")["metadata"] == policy_doc["metadata"]
    assert git_repo.head("main") == pushed

    # suspend/resume, as flux's words.
    for verb, shown in (("suspend", True), ("resume", False)):
        done = sluice(gitops, verb, "image", "update", "app")
        assert done.returncode == 0, done.stderr
        assert gitops.get("ImageUpdateAutomation", "app")["spec"].get("suspend", False) is shown

    # A newer tag: a second commit, and the cluster follows.
    started = time.monotonic()
    registry.push_image("app", "1.2.0", files={"tag.txt": b"1.2.0"})
    rescan = sluice(gitops, "reconcile", "image", "repository", "app")
    assert rescan.returncode == 0, rescan.stderr
    second = eventually(
        lambda: (
            (c := _status(gitops, "ImageUpdateAutomation").get("lastPushCommit")) != pushed and c
        ),
        timeout=120,
    )
    assert git_repo.head("main") == second
    assert (
        git_repo.read_file("app/deploy.yaml")
        == original.replace(f"{image}:1.0.0", f"{image}:1.2.0").encode()
    )
    policy_status = _status(gitops, "ImagePolicy")
    assert policy_status["observedPreviousRef"] == {"name": image, "tag": "1.0.1"}
    gitops.wait_ready("Kustomization", "app", revision=f"main@sha1:{second}", timeout=120)
    assert eventually(
        lambda: _cluster_image(info.kubeconfig, namespace) == f"{image}:1.2.0", timeout=60
    )
    print(f"tag pushed -> image in the cluster: {time.monotonic() - started:.2f}s")

    # The registry goes away: not Ready with Flux's reason; it comes back: Ready by itself.
    registry.stop()
    down = sluice(gitops, "reconcile", "image", "repository", "app", "--timeout", "60s")
    assert down.returncode != 0
    failed = gitops.wait_failed("ImageRepository", "app", reason="ReadOperationFailed")
    assert failed["message"].startswith("scan failed: ")
    registry.start()
    eventually(
        lambda: (r := _ready(gitops, "ImageRepository")) and r["status"] == "True", timeout=90
    )

    # No credential anywhere a user or an attacker would look.
    secrets = [REGISTRY_PASSWORD.encode(), git_http.password.encode()]
    for where, blob in (
        ("logs", file_bytes(gitops.log_dir)),
        ("redis", redis_bytes(gitops.store_client)),
        ("git history", git_repo._git("log", "-p", "--all").encode()),
        ("events", "\n".join(e.message for e in _events(gitops, "ImageRepository")).encode()),
    ):
        for secret in secrets:
            assert secret not in blob, f"a credential is in the {where}"
