"""The image kinds' reconciles in-process, against a real registry, real Git and Redis.

Each decision ends in exact conditions and its own follow-up: a scan that
finds nothing new writes nothing and announces nothing; a policy whose
repository is missing or unscanned waits (DependencyNotReady); a policy that
cannot choose fails with Flux's reason; a scan wakes exactly the policies
that read it, a new choice the automations that select it; an automation
stalls on a removed template field and fails on a missing GitRepository.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from services.image.automation import IMAGE_UPDATE_AUTOMATION
from services.image.choose import IMAGE_POLICY
from services.image.reconcile import ImageKind, reconcile_image
from services.image.registry import ScanMemo
from services.image.scan import IMAGE_REPOSITORY
from services.image.tagstore import MAX_TAGS, TagStore
from services.image.wake import followers
from shared.dependents import DependentsIndex
from shared.events import Event
from shared.keys import ObjectKey
from shared.scheduler import DUE, due_at
from shared.settings import Settings
from shared.worker import WorkerContext
from tests.fixtures.workers import worker_context
from tests.servers.git import BareRepo
from tests.servers.githttp import GitHttpServer
from tests.servers.registry import OciRegistry

NS = "flux-system"
IMAGE = "image.toolkit.fluxcd.io/v1"
FAR = 4_000_000_000.0


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> WorkerContext:
    return worker_context(settings.with_overrides(requeue_dependency=7.0), tmp_path, "image")


@pytest.fixture
def logged_registry(tmp_path: Path) -> Any:
    registry = OciRegistry(tmp_path / "registry", access_log=True)
    registry.start()
    yield registry
    registry.stop()


def _apply(
    ctx: WorkerContext, kind: str, name: str, spec: dict[str, Any], **meta: Any
) -> ObjectKey:
    doc = {
        "apiVersion": "source.toolkit.fluxcd.io/v1" if kind == "GitRepository" else IMAGE,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS, **meta},
        "spec": spec,
    }
    ctx.store.apply(doc)
    key = ObjectKey(kind, NS, name)
    ctx.client.zadd(DUE, {str(key): FAR})  # as the scheduler tracks every object
    return key


def _run(ctx: WorkerContext, key: ObjectKey, kind: ImageKind) -> list[ObjectKey]:
    """One reconcile; the reconciles it asked for (a GitRepository's, after a push)."""
    asked: list[ObjectKey] = []
    reconcile_image(ctx, key, kind, request=asked.append)
    return asked


def _ready(ctx: WorkerContext, key: ObjectKey) -> tuple[str, str, str]:
    doc = ctx.store.get(key)
    assert doc is not None
    ready = next(c for c in doc["status"]["conditions"] if c["type"] == "Ready")
    return ready["status"], ready["reason"], ready["message"]


def _events(ctx: WorkerContext, key: ObjectKey, type_: str = "revision-changed") -> list[Event]:
    return [e for _, e in ctx.events.read(count=1000) if e.object == key and e.type == type_]


def test_an_unchanged_scan_writes_nothing_and_costs_one_request(
    ctx: WorkerContext, logged_registry: OciRegistry
) -> None:
    for tag in ("1.0.0", "1.1.0"):
        logged_registry.push_image("app", tag)
    key = _apply(
        ctx, "ImageRepository", "app", {"image": f"{logged_registry.host}/app", "interval": "5m"}
    )
    _run(ctx, key, IMAGE_REPOSITORY)
    assert _ready(ctx, key)[:2] == ("True", "Succeeded")
    first = ctx.store.get(key)
    assert first is not None
    assert first["status"]["lastScanResult"]["tagCount"] == 2
    assert [e.type for e in _events(ctx, key)] == ["revision-changed"]
    record = TagStore(ctx.client).get(key)
    assert record is not None and record.tags == ("1.1.0", "1.0.0")

    listed = logged_registry.requests("GET", "/tags/list")
    _run(ctx, key, IMAGE_REPOSITORY)
    assert ctx.store.get(key) == first  # not even a write
    assert [e.type for e in _events(ctx, key)] == ["revision-changed"]
    assert logged_registry.requests("GET", "/tags/list") == listed + 1

    logged_registry.push_image("app", "1.2.0")
    _run(ctx, key, IMAGE_REPOSITORY)
    doc = ctx.store.get(key)
    assert doc is not None and doc["status"]["lastScanResult"]["tagCount"] == 3
    assert len(_events(ctx, key)) == 2


def test_a_policy_waits_for_its_repository_then_chooses_and_reflects_the_digest(
    ctx: WorkerContext, logged_registry: OciRegistry
) -> None:
    policy = _apply(
        ctx, "ImagePolicy", "app",
        {
            "imageRepositoryRef": {"name": "app"},
            "policy": {"semver": {"range": "1.x"}},
            "digestReflectionPolicy": "IfNotPresent",
        },
    )  # fmt: skip
    before = time.time()
    _run(ctx, policy, IMAGE_POLICY)
    status, reason, message = _ready(ctx, policy)
    assert (status, reason) == ("False", "DependencyNotReady")
    assert "ImageRepository 'flux-system/app' does not exist" in message
    due = due_at(ctx.client, policy)
    assert due is not None and before + 6 < due < time.time() + 8

    digest = logged_registry.push_image("app", "1.4.2")
    logged_registry.push_image("app", "2.0.0")
    repo = _apply(
        ctx, "ImageRepository", "app", {"image": f"{logged_registry.host}/app", "interval": "5m"}
    )
    _run(ctx, policy, IMAGE_POLICY)
    assert _ready(ctx, policy)[1] == "DependencyNotReady"  # not scanned yet
    _run(ctx, repo, IMAGE_REPOSITORY)
    scan = _events(ctx, repo)[-1]
    # The scan wakes the policy that read it (it recorded the use).
    assert followers(ctx.store, DependentsIndex(ctx.client), scan) == [policy]

    _run(ctx, policy, IMAGE_POLICY)
    doc = ctx.store.get(policy)
    assert doc is not None
    image = f"{logged_registry.host}/app"
    assert doc["status"]["latestRef"] == {"name": image, "tag": "1.4.2", "digest": digest}
    assert _ready(ctx, policy) == (
        "True", "Succeeded", f"Latest image tag for {image} resolved to 1.4.2 with digest {digest}",
    )  # fmt: skip
    changed = _events(ctx, policy)
    assert [e.revision for e in changed] == [f"{image}:1.4.2@{digest}"]
    # IfNotPresent: the digest is read once per chosen tag.
    heads = logged_registry.requests("HEAD", "/manifests/1.4.2")
    _run(ctx, policy, IMAGE_POLICY)
    assert logged_registry.requests("HEAD", "/manifests/1.4.2") == heads
    assert len(_events(ctx, policy)) == 1


def test_a_policy_that_cannot_choose_fails_with_flux_reason(
    ctx: WorkerContext, logged_registry: OciRegistry
) -> None:
    logged_registry.push_image("app", "latest")
    repo = _apply(
        ctx, "ImageRepository", "app", {"image": f"{logged_registry.host}/app", "interval": "5m"}
    )
    _run(ctx, repo, IMAGE_REPOSITORY)
    policy = _apply(
        ctx, "ImagePolicy", "nums",
        {"imageRepositoryRef": {"name": "app"}, "policy": {"numerical": {"order": "asc"}}},
    )  # fmt: skip
    _run(ctx, policy, IMAGE_POLICY)
    status, reason, message = _ready(ctx, policy)
    assert (status, reason) == ("False", "Failure")
    assert 'tag "latest" is not a number' in message


def test_a_failed_policy_the_scheduler_does_not_track_is_tried_again(
    ctx: WorkerContext, logged_registry: OciRegistry
) -> None:
    logged_registry.push_image("app", "latest")
    repo = _apply(
        ctx, "ImageRepository", "app", {"image": f"{logged_registry.host}/app", "interval": "5m"}
    )
    _run(ctx, repo, IMAGE_REPOSITORY)
    policy = _apply(
        ctx, "ImagePolicy", "nums",
        {"imageRepositoryRef": {"name": "app"}, "policy": {"numerical": {"order": "asc"}}},
    )  # fmt: skip
    ctx.client.zrem(DUE, str(policy))  # no interval: the scheduler does not track it
    retries: list[tuple[ObjectKey, float]] = []
    reconcile_image(
        ctx, policy, IMAGE_POLICY, request=lambda _k: None,
        retry=lambda key, delay: retries.append((key, delay)),
    )  # fmt: skip
    assert _ready(ctx, policy)[1] == "Failure"
    assert retries == [(policy, 7.0)]  # requeue_dependency


def test_a_new_choice_wakes_the_automations_whose_selector_selects_it(ctx: WorkerContext) -> None:
    policy = _apply(
        ctx, "ImagePolicy", "web",
        {"imageRepositoryRef": {"name": "web"}, "policy": {"alphabetical": {}}},
        labels={"tier": "front"},
    )  # fmt: skip
    automation = {
        "interval": "5m",
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "git": {"commit": {"author": {"email": "bot@example.com"}}},
    }
    every = _apply(ctx, "ImageUpdateAutomation", "every", automation)
    front = _apply(
        ctx, "ImageUpdateAutomation", "front",
        {**automation, "policySelector": {"matchLabels": {"tier": "front"}}},
    )  # fmt: skip
    _apply(
        ctx, "ImageUpdateAutomation", "back",
        {**automation, "policySelector": {"matchLabels": {"tier": "back"}}},
    )  # fmt: skip
    event = Event(type="revision-changed", object=policy, reason="Succeeded", message="x")
    woken = followers(ctx.store, DependentsIndex(ctx.client), event)
    assert sorted(woken) == sorted([every, front])


def test_an_automation_without_its_git_repository_fails_and_a_removed_template_field_stalls(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    spec = {
        "interval": "5m",
        "sourceRef": {"kind": "GitRepository", "name": "repo"},
        "git": {
            "checkout": {"ref": {"branch": "main"}},
            "commit": {
                "author": {"email": "bot@example.com"},
                "messageTemplate": "{{ range .Updated.Images }}{{ . }}{{ end }}",
            },
        },
    }
    key = _apply(ctx, "ImageUpdateAutomation", "auto", spec)
    _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    status, reason, message = _ready(ctx, key)
    assert (status, reason) == ("False", "SourceManagerFailed")
    assert "GitRepository 'flux-system/repo' not found" in message

    marked = 'image: web:1.0.0 # {"$imagepolicy": "flux-system:web"}\n'
    start = git_repo.commit({"deploy.yaml": marked})
    _apply(
        ctx,
        "GitRepository",
        "repo",
        {"interval": "5m", "url": git_repo.url, "ref": {"branch": "main"}},
    )
    policy = _apply(
        ctx, "ImagePolicy", "web",
        {"imageRepositoryRef": {"name": "web"}, "policy": {"alphabetical": {}}},
    )  # fmt: skip
    ctx.store.change_status(
        policy, lambda _d, s: s.update({"latestRef": {"name": "web", "tag": "2.0.0"}})
    )
    _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    status, reason, message = _ready(ctx, key)
    assert (status, reason) == ("False", "RemovedTemplateField")
    assert "template uses removed '.Updated' field" in message
    doc = ctx.store.get(key)
    assert doc is not None
    assert any(c["type"] == "Stalled" for c in doc["status"]["conditions"])
    assert git_repo.head("main") == start  # nothing pushed


def test_an_automation_with_nothing_to_change_commits_nothing(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    marked = 'image: web:2.0.0 # {"$imagepolicy": "flux-system:web"}\n'
    start = git_repo.commit({"deploy.yaml": marked})
    _apply(
        ctx,
        "GitRepository",
        "repo",
        {"interval": "5m", "url": git_repo.url, "ref": {"branch": "main"}},
    )
    policy = _apply(
        ctx, "ImagePolicy", "web",
        {"imageRepositoryRef": {"name": "web"}, "policy": {"alphabetical": {}}},
    )  # fmt: skip
    ctx.store.change_status(
        policy, lambda _d, s: s.update({"latestRef": {"name": "web", "tag": "2.0.0"}})
    )
    key = _apply(
        ctx, "ImageUpdateAutomation", "auto",
        {
            "interval": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "git": {"commit": {"author": {"email": "bot@example.com"}}},
        },
    )  # fmt: skip
    asked = _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    assert _ready(ctx, key) == ("True", "Succeeded", "repository up-to-date")
    doc = ctx.store.get(key)
    assert doc is not None
    status = doc["status"]
    assert git_repo.head("main") == start
    assert "lastPushCommit" not in status
    assert status["observedSourceRevision"] == f"main@sha1:{start}"
    assert status["observedPolicies"] == {"web": {"name": "web", "tag": "2.0.0"}}
    assert asked == []  # no push, no GitRepository reconcile asked for
    assert _events(ctx, key) == []


def test_the_tag_record_is_bounded(ctx: WorkerContext) -> None:
    key = ObjectKey("ImageRepository", NS, "huge")
    tags = [f"v{n:06d}" for n in range(MAX_TAGS + 5)]
    memo = ScanMemo("r/huge", ("^.*\\.sig$",), "1", len(tags))
    TagStore(ctx.client).save(key, tags=tags, memo=memo)
    record = TagStore(ctx.client).get(key)
    assert record is not None and record.truncated
    assert record.tags == tuple(tags[:MAX_TAGS]) and record.memo == memo
    TagStore(ctx.client).drop(key)
    assert TagStore(ctx.client).get(key) is None


def test_a_v1beta1_automation_commits_with_updated_data_and_asks_for_a_fetch(
    ctx: WorkerContext, git_repo: BareRepo
) -> None:
    marked = 'spec:\n  image: web:1.0.0 # {"$imagepolicy": "flux-system:web"}\n'
    git_repo.commit({"apps/deploy.yaml": marked})
    repo = _apply(
        ctx,
        "GitRepository",
        "repo",
        {"interval": "5m", "url": git_repo.url, "ref": {"branch": "main"}},
    )
    policy = _apply(
        ctx, "ImagePolicy", "web",
        {"imageRepositoryRef": {"name": "web"}, "policy": {"alphabetical": {}}},
    )  # fmt: skip
    ctx.store.change_status(
        policy, lambda _d, s: s.update({"latestRef": {"name": "web", "tag": "2.0.0"}})
    )
    ctx.store.apply(
        {
            "apiVersion": f"{IMAGE.rsplit('/', 1)[0]}/v1beta1",
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "auto", "namespace": NS},
            "spec": {
                "interval": "5m",
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "git": {
                    "checkout": {"ref": {"branch": "main"}},
                    "commit": {
                        "author": {"name": "Bot", "email": "bot@example.com"},
                        # The user's example, from Flux's v1beta1 docs.
                        "messageTemplate": "Images:\n{{range .Updated.Images}}{{println .}}{{end}}",
                    },
                    "push": {"branch": "main"},
                },
                "update": {"path": "./apps", "strategy": "Setters"},
            },
        }
    )
    key = ObjectKey("ImageUpdateAutomation", NS, "auto")
    asked = _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    assert _ready(ctx, key) == ("True", "Succeeded", "repository up-to-date")
    assert git_repo.read_file("apps/deploy.yaml") == marked.replace("1.0.0", "2.0.0").encode()
    assert git_repo.message("main").strip() == "Images:\nweb:2.0.0"
    head = git_repo.head("main")
    doc = ctx.store.get(key)
    assert doc is not None and doc["status"]["lastPushCommit"] == head
    assert asked == [repo]  # the GitRepository fetches the commit at once
    (pushed,) = _events(ctx, key)
    assert pushed.message == f"pushed commit '{head[:7]}' to branch 'main'\nImages:\nweb:2.0.0\n"
    assert pushed.revision == f"main@sha1:{head}"


def test_nothing_changed_since_the_last_run_costs_one_ls_remote_and_no_clone(
    ctx: WorkerContext, git_repo: BareRepo, git_http: GitHttpServer
) -> None:
    marked = 'image: web:2.0.0 # {"$imagepolicy": "flux-system:web"}\n'
    git_repo.commit({"deploy.yaml": marked})
    login = {"username": git_http.username or "", "password": git_http.password or ""}
    ctx.store.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "login", "namespace": NS},
            "stringData": login,
        }
    )
    _apply(
        ctx, "GitRepository", "repo",
        {
            "interval": "5m", "url": git_http.url_for(git_repo), "ref": {"branch": "main"},
            "secretRef": {"name": "login"},
        },
    )  # fmt: skip
    policy = _apply(
        ctx, "ImagePolicy", "web",
        {"imageRepositoryRef": {"name": "web"}, "policy": {"alphabetical": {}}},
    )  # fmt: skip
    ctx.store.change_status(
        policy, lambda _d, s: s.update({"latestRef": {"name": "web", "tag": "2.0.0"}})
    )
    key = _apply(
        ctx, "ImageUpdateAutomation", "auto",
        {
            "interval": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "git": {"commit": {"author": {"email": "bot@example.com"}}},
        },
    )  # fmt: skip
    _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    assert git_http.fetches() == 1
    _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    assert git_http.fetches() == 1  # nothing could have changed: no clone
    assert _ready(ctx, key) == ("True", "Succeeded", "repository up-to-date")

    # A new choice: a full run, a commit.
    ctx.store.change_status(
        policy, lambda _d, s: s.update({"latestRef": {"name": "web", "tag": "2.1.0"}})
    )
    _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    assert _ready(ctx, key)[:2] == ("True", "Succeeded"), _ready(ctx, key)
    assert git_repo.read_file("deploy.yaml") == marked.replace("2.0.0", "2.1.0").encode()
    fetched = git_http.fetches()
    # Someone else commits: the branch moved, so the next run checks out again.
    git_repo.commit({"other.txt": "x"}, "unrelated")
    _run(ctx, key, IMAGE_UPDATE_AUTOMATION)
    assert git_http.fetches() == fetched + 1
    doc = ctx.store.get(key)
    assert doc is not None
    assert doc["status"]["observedSourceRevision"] == f"main@sha1:{git_repo.head('main')}"
