"""The ImageRepository step: scan the registry's tags, keep them, report ``lastScanResult``.

As image-reflector-controller's ImageRepository reconcile (FLUX-API §5.1):
the image is parsed (ImageURLInvalid stalls), the Secrets give the access
(AuthenticationFailed), the scan lists the tags (ReadOperationFailed, with
Flux's ``scan failed:``), and status says ``canonicalImageName``,
``observedExclusionList`` and ``lastScanResult`` (revision, tagCount,
scanTime, latestTags), Ready ``successful scan: found N tags with checksum R``.

A scan that finds the tags it found last time (the same revision, or the
registry's 304 to the last ETag) changes nothing: ``scanTime`` stays the
time the tags were last seen to change, so the status is not written and no
event goes out; only the remembered ETag may move (in Redis). A scan that
finds something new stores the tags and announces the new revision, which
wakes the ImagePolicies that read this repository.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.image.access import image_name, registry_access
from services.image.reconcile import Done, ImageKind, ImageRun, News
from services.image.registry import ImageScanError, ScanResult, scan_tags
from services.image.tags import ExclusionList, InvalidExclusionError
from services.image.tagstore import TagStore
from shared.api.conditions import format_time
from shared.api.imagerepository import ImageRepository
from shared.keys import ObjectKey
from shared.reconcile import Stalled, Transient
from shared.worker import WorkerContext

__all__ = ["IMAGE_REPOSITORY", "READ_OPERATION_FAILED", "scan_repository"]

READ_OPERATION_FAILED = "ReadOperationFailed"


def scan_repository(run: ImageRun) -> Done:
    """Scan one ImageRepository; its status copy gets what the scan found."""
    repository: ImageRepository = run.obj
    image = image_name(repository)
    try:
        exclusions = ExclusionList.compile(repository.spec.exclusion_list)
    except InvalidExclusionError as err:  # the model refuses these at apply
        raise Stalled(READ_OPERATION_FAILED, f"scan failed: {err}") from None
    access = registry_access(run.ctx.store, run.key, repository, image)
    tags = TagStore(run.ctx.client)
    record = tags.get(run.key)
    try:
        result = scan_tags(
            image, access=access, exclusions=exclusions,
            previous=record.memo if record is not None else None,
        )  # fmt: skip
    except ImageScanError as err:
        raise Transient(err.reason, f"scan failed: {err}") from None
    status = run.status
    last = status.get("lastScanResult") or {}
    seen = result.unchanged and last.get("revision") == result.revision
    # A 304 read nothing (keep the record); the same tags under a new ETag rewrite it.
    if result.tags is not None and (record is None or record.memo != result.memo()):
        tags.save(run.key, tags=result.tags, memo=result.memo())
    status["canonicalImageName"] = result.canonical_image_name
    status["observedExclusionList"] = list(result.exclusion_list)
    if not seen:
        status["lastScanResult"] = _scan_result(result)
    message = f"successful scan: found {result.tag_count} tags with checksum {result.revision}"
    if seen:
        return Done(message)
    news = News(
        message=message,
        revision=result.revision,
        metadata={"image.toolkit.fluxcd.io/canonical-name": result.canonical_image_name},
    )
    return Done(message, news=news)


def _scan_result(result: ScanResult) -> dict[str, object]:
    scanned: dict[str, object] = {
        "revision": result.revision,
        "tagCount": result.tag_count,
        "scanTime": format_time(datetime.now(UTC)),
    }
    if result.latest_tags:
        scanned["latestTags"] = list(result.latest_tags)
    return scanned


def _forget(ctx: WorkerContext, key: ObjectKey) -> None:
    TagStore(ctx.client).drop(key)


IMAGE_REPOSITORY = ImageKind(
    kind="ImageRepository", model=ImageRepository, step=scan_repository, deleted=_forget
)
