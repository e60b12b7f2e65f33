"""The ImageUpdateAutomation step: write the policies' choices into Git, commit and push.

As image-automation-controller's reconcile (FLUX-API §6.4):

1. the GitRepository of ``sourceRef`` gives the URL, the credentials (its
   ``secretRef``, read with ``GitAuth.from_secret``) and, unless
   ``git.checkout.ref`` says otherwise, the ref to check out;
2. the ImagePolicies of the automation's namespace that ``policySelector``
   selects and that have chosen (``latestRef``) become the setters' values
   (``observedPolicies``);
3. ``push_update`` (``gitupdate.py``) checks out, lets ``apply_setters``
   (``setters.py``) rewrite the marked values under ``update.path``, and,
   when a file changed, commits with ``git.commit.author`` and the rendered
   ``messageTemplate`` (``template.py``) and pushes (again after a lost race);
4. status: ``lastAutomationRunTime`` every run; ``observedSourceRevision``;
   on a push ``lastPushCommit`` and ``lastPushTime``, an event with Flux's
   summary (``pushed commit '<sha7>' to branch '<branch>'`` and the message),
   and a reconcile request for the GitRepository, as a push webhook would
   make, so the commit reaches the clusters without waiting for its interval.

With ``update.strategy: FluxV1`` (sluice's extension for Flux v1 users) step 2
reads no ImagePolicy: ``v1automation.update_tree`` finds fluxd's annotated
workloads and HelmReleases in the checkout, scans their registries and writes
fluxd's choice; the message is fluxd's ``Auto-release ...`` unless a template
is set, and ``status.fluxV1Skipped`` lists what the run left alone and why.
Such a run always clones (the registry, not the spec, says what changed).

Nothing to change, no commit; and when the choices and the spec are those
of the last run and the branch is still at the commit it saw, not even a
clone (one ``ls-remote``), as Flux. Reasons are Flux's: SourceManagerFailed (the
GitRepository or its Secret cannot be read), InvalidSourceConfiguration
(stalls), GitOperationFailed, UpdateFailed, RemovedTemplateField (stalls).
Credentials go to git only through ``shared.git`` (never argv, messages or
the commit).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.image.access import registry_access
from services.image.gitupdate import Author, CheckoutRef, Pushed, PushSpec, push_update
from services.image.names import ImageName, InvalidImageError, parse_image
from services.image.reconcile import Done, ImageKind, ImageRun, News
from services.image.registry import RegistryAccess
from services.image.remotehead import remote_head
from services.image.setters import PolicyImage, SetterPathError, SetterResult, apply_setters
from services.image.template import CommitMessageError, RemovedTemplateFieldError, commit_message
from services.image.v1automation import (
    FLUX_V1,
    RegistryTags,
    V1Result,
    auto_release_message,
    setter_result,
    update_tree,
)
from shared.api import InvalidObjects, parse_as
from shared.api.conditions import GIT_OPERATION_FAILED, format_time
from shared.api.imagepolicy import ImagePolicy
from shared.api.imagerepository import ImageRepository
from shared.api.imageupdateautomation import ImageUpdateAutomation
from shared.api.source import GitRepository, GitRepositoryRef
from shared.git.auth import GitAuth
from shared.git.errors import GitError, InvalidSourceError
from shared.keys import ObjectKey
from shared.reconcile import Stalled, Transient
from shared.scopes import resolve

__all__ = [
    "IMAGE_UPDATE_AUTOMATION",
    "INVALID_SOURCE_CONFIGURATION",
    "READY_MESSAGE",
    "REMOVED_TEMPLATE_FIELD",
    "SOURCE_MANAGER_FAILED",
    "UPDATE_FAILED",
    "push_summary",
    "run_automation",
]

READY_MESSAGE = "repository up-to-date"
log = logging.getLogger(__name__)
# status field (a sluice extension) listing what a FluxV1 run left alone, and its bound.
V1_SKIPPED = "fluxV1Skipped"
V1_SKIPPED_SHOWN = 20
SOURCE_MANAGER_FAILED = "SourceManagerFailed"
INVALID_SOURCE_CONFIGURATION = "InvalidSourceConfiguration"
UPDATE_FAILED = "UpdateFailed"
REMOVED_TEMPLATE_FIELD = "RemovedTemplateField"


@dataclass(frozen=True)
class _Source:
    key: ObjectKey
    url: str
    auth: GitAuth
    checkout: CheckoutRef
    timeout: float


def run_automation(run: ImageRun) -> Done:
    """One automation run: check out, set, commit and push what changed."""
    automation: ImageUpdateAutomation = run.obj
    spec = automation.spec
    run.status["lastAutomationRunTime"] = format_time(datetime.now(UTC))
    source = _source(run, automation)
    heads: list[str] = []
    v1_runs: list[V1Result] = []
    edit: Callable[[Path], Any]
    message: Callable[[Any], str]
    if spec.update.strategy == FLUX_V1:
        # The registry decides each run: always clone (no ls-remote shortcut), no policies.
        observed: dict[str, dict[str, str]] | None = None
        edit, message = _v1_update(run, automation, source, heads, v1_runs)
    else:
        images, observed = _policies(run, automation)
        if _unchanged(run, automation, source, observed):
            return Done(READY_MESSAGE)
        edit, message = _setters_update(run, automation, images, heads)

    push = spec.git.push
    try:
        pushed: Pushed[Any] | None = push_update(
            source.url,
            auth=source.auth,
            checkout=source.checkout,
            push=PushSpec(
                branch=spec.git.push_branch,
                refspec=spec.git.refspec,
                options=dict(push.options) if push else {},
            ),
            author=_author(spec.git.commit.author.name, spec.git.commit.author.email),
            edit=edit,
            message=message,
            timeout=source.timeout,
        )
    except RemovedTemplateFieldError as err:
        raise Stalled(REMOVED_TEMPLATE_FIELD, str(err)) from None
    except CommitMessageError as err:
        raise Transient(GIT_OPERATION_FAILED, f"failed to update source: {err}") from None
    except SetterPathError as err:
        raise Transient(UPDATE_FAILED, f"failed to apply policies: {err}") from None
    except InvalidSourceError as err:
        raise Stalled(INVALID_SOURCE_CONFIGURATION, str(err)) from None
    except GitError as err:
        raise Transient(GIT_OPERATION_FAILED, f"failed to update source: {err}") from None
    except OSError as err:
        raise Transient(UPDATE_FAILED, f"failed to apply policies: {err}") from None
    status = run.status
    if observed is not None:
        status["observedPolicies"] = observed
    if v1_runs:
        _v1_skipped(status, v1_runs[-1])
    # The branch the setters ran on: the push branch (continued from the remote's
    # when it has one), else the checked-out branch; its commit before the edit.
    branch = spec.git.push_branch or source.checkout.branch
    if heads:
        status["observedSourceRevision"] = f"{branch}@sha1:{heads[-1]}"
    if pushed is None:
        return Done(READY_MESSAGE)
    status["observedSourceRevision"] = f"{pushed.branch}@sha1:{pushed.commit}"
    status["lastPushCommit"] = pushed.commit
    status["lastPushTime"] = format_time(datetime.now(UTC))
    # The commit is on the GitRepository's remote now: fetch it at once.
    run.request(source.key)
    summary = push_summary(pushed, refspec=spec.git.refspec)
    news = News(message=summary, revision=f"{pushed.branch}@sha1:{pushed.commit}")
    return Done(READY_MESSAGE, news=news)


def _setters_update(
    run: ImageRun, automation: ImageUpdateAutomation, images: list[PolicyImage], heads: list[str]
) -> tuple[Callable[[Path], SetterResult | None], Callable[[SetterResult], str]]:
    """The Setters strategy's edit (markers set for the policies' choices) and message."""
    spec = automation.spec

    def edit(tree: Path) -> SetterResult | None:
        heads.append(_head_commit(tree))
        result = apply_setters(tree, images, update_path=spec.update.path)
        return result if result.changed else None

    def message(result: SetterResult) -> str:
        return commit_message(
            spec.git.commit.message, result,
            namespace=run.key.namespace, name=run.key.name,
            values=spec.git.commit.message_template_values,
            legacy=automation.legacy_template_data,
        )  # fmt: skip

    return edit, message


def _v1_update(
    run: ImageRun,
    automation: ImageUpdateAutomation,
    source: _Source,
    heads: list[str],
    runs: list[V1Result],
) -> tuple[Callable[[Path], V1Result | None], Callable[[V1Result], str]]:
    """The FluxV1 strategy's edit (``v1automation.update_tree``; each result kept in
    ``runs``) and message: fluxd's ``Auto-release ...`` unless ``messageTemplate`` is set."""
    spec = automation.spec
    registry = RegistryTags(lambda image: _v1_access(run, image, timeout=source.timeout))

    def edit(tree: Path) -> V1Result | None:
        heads.append(_head_commit(tree))
        result = update_tree(tree, update_path=spec.update.path, registry=registry)
        runs.append(result)
        for skipped in result.skipped:
            log.info("%s: FluxV1 left %s", run.key, skipped)
        return result if result.changed else None

    def message(result: V1Result) -> str:
        if not spec.git.commit.message_template:
            return auto_release_message(result)
        return commit_message(
            spec.git.commit.message_template, setter_result(result),
            namespace=run.key.namespace, name=run.key.name,
            values=spec.git.commit.message_template_values,
            legacy=automation.legacy_template_data,
        )  # fmt: skip

    return edit, message


def _v1_skipped(status: dict[str, Any], result: V1Result) -> None:
    """``status.fluxV1Skipped``: what the last FluxV1 run left alone and why (fluxd only logged
    it), at most V1_SKIPPED_SHOWN lines; absent when nothing was."""
    if not result.skipped:
        status.pop(V1_SKIPPED, None)
        return
    shown = list(result.skipped[:V1_SKIPPED_SHOWN])
    if len(result.skipped) > V1_SKIPPED_SHOWN:
        shown.append(f"... and {len(result.skipped) - V1_SKIPPED_SHOWN} more")
    status[V1_SKIPPED] = shown


def _v1_access(run: ImageRun, image: ImageName, *, timeout: float) -> RegistryAccess:
    """How FluxV1 reaches an image's registry: through an ImageRepository of the automation's
    namespace for the same image (its pull Secret, TLS, ``insecure``), else anonymously."""
    for doc in run.ctx.store.list("ImageRepository", run.key.namespace, scope=run.key.scope):
        try:
            repository = parse_as(doc, ImageRepository, source=f"{run.key.namespace}")
            named = parse_image(repository.spec.image, insecure=repository.spec.insecure)
        except (InvalidObjects, InvalidImageError):
            continue
        if named.canonical == image.canonical:
            key = ObjectKey.of(doc, run.key.scope)
            return registry_access(run.ctx.store, key, repository, named)
    return RegistryAccess(timeout=timeout)


def _author(name: str, email: str) -> Author:
    """``git.commit.author``; Flux allows no name, which git refuses: the email stands in."""
    return Author(name or email, email)


def _unchanged(
    run: ImageRun,
    automation: ImageUpdateAutomation,
    source: _Source,
    observed: dict[str, dict[str, str]],
) -> bool:
    """Whether nothing can have changed since the last run: the same spec and choices, and
    the branch the setters ran on still at the commit they saw (one ``ls-remote``, no clone).

    A refspec push always runs, as in Flux (its target cannot be compared).
    """
    spec = automation.spec
    branch = spec.git.push_branch or source.checkout.branch
    status = run.status
    seen = str(status.get("observedSourceRevision") or "")
    if (
        not branch
        or spec.git.refspec
        or status.get("observedGeneration") != run.generation
        or status.get("observedPolicies") != observed
        or not seen.startswith(f"{branch}@sha1:")
    ):
        return False
    try:
        head = remote_head(source.url, auth=source.auth, branch=branch, timeout=source.timeout)
    except InvalidSourceError as err:
        raise Stalled(INVALID_SOURCE_CONFIGURATION, str(err)) from None
    except GitError as err:
        raise Transient(GIT_OPERATION_FAILED, f"failed to checkout source: {err}") from None
    return bool(head) and seen == f"{branch}@sha1:{head}"


def push_summary(pushed: Pushed[SetterResult], *, refspec: str = "") -> str:
    """Flux's ``PushResult.Summary()``: the short sha, the branch (and refspec), the message."""
    text = f"pushed commit '{pushed.commit[:7]}' to branch '{pushed.branch}'"
    if refspec:
        text += f" and refspecs '{refspec}'"
    if pushed.message:
        text += f"\n{pushed.message}"
    return text


def _source(run: ImageRun, automation: ImageUpdateAutomation) -> _Source:
    """The GitRepository's URL, credentials and ref; SourceManagerFailed when unreadable."""
    ref = automation.spec.source_ref
    wanted = ObjectKey("GitRepository", ref.namespace or run.key.namespace, ref.name)
    key, doc = resolve(run.ctx.store, wanted, run.key.scope)
    what = f"GitRepository '{wanted.namespace}/{wanted.name}'"
    if doc is None:
        raise Transient(
            SOURCE_MANAGER_FAILED, f"failed configuring source manager: {what} not found"
        )
    try:
        repo = parse_as(doc, GitRepository, source=str(key))
    except InvalidObjects as err:
        raise Transient(
            SOURCE_MANAGER_FAILED, f"failed configuring source manager: {what}: {err}"
        ) from None
    auth = GitAuth()
    if repo.spec.secret_ref is not None:
        secret_key, secret = resolve(
            run.ctx.store, ObjectKey("Secret", key.namespace, repo.spec.secret_ref.name), key.scope
        )
        if secret is None:
            raise Transient(
                SOURCE_MANAGER_FAILED,
                f"failed configuring source manager: secret "
                f"'{secret_key.namespace}/{secret_key.name}' of {what} not found",
            )
        data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        try:
            auth = GitAuth.from_secret(data)
        except InvalidSourceError as err:
            raise Stalled(INVALID_SOURCE_CONFIGURATION, str(err)) from None
    checkout = automation.spec.git.checkout
    wanted_ref = checkout.ref if checkout is not None else repo.spec.ref
    return _Source(
        key=key,
        url=repo.spec.url,
        auth=auth,
        checkout=_checkout_ref(wanted_ref),
        timeout=repo.spec.timeout_seconds,
    )


def _checkout_ref(ref: GitRepositoryRef | None) -> CheckoutRef:
    """The ref to check out; Flux's GitRepository default is branch master."""
    if ref is None:
        return CheckoutRef(branch="master")
    if ref.commit:
        return CheckoutRef(branch=ref.branch or "", commit=ref.commit)
    if ref.name:
        name = ref.name
        if name.startswith("refs/heads/"):
            return CheckoutRef(branch=name.removeprefix("refs/heads/"))
        if name.startswith("refs/tags/"):
            return CheckoutRef(tag=name.removeprefix("refs/tags/"))
        raise Stalled(
            INVALID_SOURCE_CONFIGURATION,
            f"checkout ref name '{name}': only refs/heads/* and refs/tags/* can be updated",
        )
    if ref.semver:
        raise Stalled(
            INVALID_SOURCE_CONFIGURATION,
            "a semver checkout ref cannot be updated: set spec.git.checkout.ref.branch",
        )
    if ref.tag:
        return CheckoutRef(tag=ref.tag)
    return CheckoutRef(branch=ref.branch or "master")


def _policies(
    run: ImageRun, automation: ImageUpdateAutomation
) -> tuple[list[PolicyImage], dict[str, dict[str, str]]]:
    """The selected policies that have chosen: setter values and ``observedPolicies``."""
    selector = automation.spec.policy_selector
    images: list[PolicyImage] = []
    observed: dict[str, dict[str, str]] = {}
    for doc in run.ctx.store.list("ImagePolicy", run.key.namespace, scope=run.key.scope):
        try:
            policy = parse_as(doc, ImagePolicy, source=f"{run.key.namespace}")
        except InvalidObjects:
            continue  # its own reconcile stalls it and says why
        if selector is not None and not selector.matches(policy.metadata.labels):
            continue
        image = PolicyImage.of(policy)
        if image is None or not image.tag:
            continue  # Flux skips policies that have not chosen yet
        images.append(image)
        ref = {"name": image.name, "tag": image.tag}
        observed[policy.metadata.name] = {**ref, "digest": image.digest} if image.digest else ref
    return images, observed


def _head_commit(tree: Path) -> str:
    """The commit a fresh checkout is at (its HEAD's branch file; "" when unreadable)."""
    git = tree / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            return (git / head.removeprefix("ref: ")).read_text().strip()
        return head
    except OSError:
        return ""


IMAGE_UPDATE_AUTOMATION = ImageKind(
    kind="ImageUpdateAutomation", model=ImageUpdateAutomation, step=run_automation
)
