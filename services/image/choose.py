"""The ImagePolicy step: read its ImageRepository's tags, choose one, report ``latestRef``.

As image-reflector-controller's ImagePolicy reconcile (FLUX-API §5.2):

- the ImageRepository (same namespace unless ``imageRepositoryRef.namespace``;
  another namespace only when its ``accessFrom`` admits this one: AccessDenied)
  must exist and have been scanned, else DependencyNotReady, tried again
  after ``requeue_dependency`` (its first scan also wakes this policy);
- ``choose_tag`` (``policy.py``) chooses; an unusable spec stalls
  (InvalidPolicy), no tag to choose from is Ready=False, Failure;
- ``latestRef`` is ``{name: <the repository's spec.image>, tag, digest}``, the
  digest read from the registry when ``digestReflectionPolicy`` asks
  (IfNotPresent: once per chosen tag; Always: every run);
- when the ref changes, the old one becomes ``observedPreviousRef`` and an
  event says so, which wakes the ImageUpdateAutomations selecting this policy.

The policy records that it uses its ImageRepository (``shared.dependents``),
so a scan that finds new tags wakes exactly the policies that read them.
"""

from __future__ import annotations

from services.image.access import image_name, registry_access
from services.image.policy import InvalidPolicy, PolicyError, choose_tag
from services.image.reconcile import Done, ImageKind, ImageRun, News
from services.image.registry import ImageScanError, tag_digest
from services.image.tagstore import TagStore
from shared.api import InvalidObjects, parse_as
from shared.api.conditions import ACCESS_DENIED, DEPENDENCY_NOT_READY
from shared.api.imagepolicy import ImagePolicy
from shared.api.imagerepository import ImageRepository
from shared.dependents import DependentsIndex
from shared.keys import ObjectKey
from shared.reconcile import Stalled, Transient, Waiting
from shared.scopes import resolve

__all__ = ["FAILURE", "IMAGE_POLICY", "INVALID_POLICY", "choose_latest", "ready_message"]

FAILURE = "Failure"  # metav1.StatusFailure, Flux's reason for a policy that chose nothing
INVALID_POLICY = "InvalidPolicy"


def choose_latest(run: ImageRun) -> Done:
    """Choose one ImagePolicy's tag; its status copy gets ``latestRef``."""
    policy: ImagePolicy = run.obj
    ref = policy.spec.image_repository_ref
    wanted = ObjectKey("ImageRepository", ref.namespace or run.key.namespace, ref.name)
    repo_key, doc = resolve(run.ctx.store, wanted, run.key.scope)
    DependentsIndex(run.ctx.client).set_uses(run.key, [repo_key])
    retry = run.ctx.settings.requeue_dependency
    what = f"ImageRepository '{wanted.namespace}/{wanted.name}'"
    if doc is None:
        raise Waiting(
            DEPENDENCY_NOT_READY,
            f"failed to get the referred ImageRepository: referenced {what} does not exist",
            retry_after=retry,
        )
    try:
        repository = parse_as(doc, ImageRepository, source=str(repo_key))
    except InvalidObjects as err:
        raise Waiting(
            DEPENDENCY_NOT_READY, f"{what} is not valid: {err}", retry_after=retry
        ) from None
    if not repository.spec.admits(run.key.namespace, own_namespace=repo_key.namespace, labels={}):
        raise Transient(
            ACCESS_DENIED,
            f"failed to get the referred ImageRepository: access denied: cannot access "
            f"{what}, cross-namespace references have been blocked",
        )
    record = TagStore(run.ctx.client).get(repo_key)
    if record is None or not record.tags:
        raise Waiting(
            DEPENDENCY_NOT_READY,
            f"retrying in {retry:g}s error: no tags in database for {what}",
            retry_after=retry,
        )
    name = f"{run.key.namespace}/{run.key.name}"
    try:
        choice = choose_tag(policy.spec, record.tags, policy=name)
    except InvalidPolicy as err:
        raise Stalled(INVALID_POLICY, f"invalid policy: {err.reason}") from None
    except PolicyError as err:
        raise Transient(FAILURE, str(err)) from None
    status = run.status
    old = status.get("latestRef")
    latest = {"name": repository.spec.image, "tag": choice.tag}
    digest = _digest(run, policy, repository, repo_key, old, latest)
    if digest:
        latest["digest"] = digest
    changed = old != latest
    if changed:
        if old:
            status["observedPreviousRef"] = old
        status["latestRef"] = latest
    message = ready_message(status["latestRef"], status.get("observedPreviousRef"))
    if not changed:
        return Done(message)
    text = _reference(latest)
    news = News(
        message=message,
        revision=text,
        metadata={"image.toolkit.fluxcd.io/previous": _reference(old) if old else ""},
    )
    return Done(message, news=news)


def _digest(
    run: ImageRun,
    policy: ImagePolicy,
    repository: ImageRepository,
    repo_key: ObjectKey,
    old: dict[str, str] | None,
    latest: dict[str, str],
) -> str:
    """The digest ``latestRef`` carries: none, the one known (IfNotPresent), or a fresh one."""
    reflect = policy.spec.digest_reflection_policy
    if reflect == "Never":
        return ""
    if (
        reflect == "IfNotPresent"
        and old
        and old.get("name") == latest["name"]
        and old.get("tag") == latest["tag"]
        and old.get("digest")
    ):
        return str(old["digest"])
    image = image_name(repository)
    access = registry_access(run.ctx.store, repo_key, repository, image)
    try:
        return tag_digest(image, latest["tag"], access=access)
    except ImageScanError as err:
        raise Transient(FAILURE, f"failed fetching digest of {_reference(latest)}: {err}") from None


def _reference(ref: dict[str, str]) -> str:
    text = f"{ref.get('name', '')}:{ref.get('tag', '')}"
    return f"{text}@{ref['digest']}" if ref.get("digest") else text


def ready_message(latest: dict[str, str], previous: dict[str, str] | None) -> str:
    """Flux's Ready message: ``Latest image tag for N resolved to T[ with digest D][ (previously
    N:T[@D])]``."""
    message = f"Latest image tag for {latest.get('name')} resolved to {latest.get('tag')}"
    if latest.get("digest"):
        message += f" with digest {latest['digest']}"
    if previous and previous != latest:
        message += f" (previously {_reference(previous)})"
    return message


IMAGE_POLICY = ImageKind(kind="ImagePolicy", model=ImagePolicy, step=choose_latest)
