"""OCIRepository: resolve the ref to a manifest digest, pull the selected layer, store it.

Cheap when nothing changed: the tag is resolved with one ``HEAD`` (a semver
ref lists the tags first), and when the revision ``<tag>@sha256:<digest>``
is the stored artifact's, built with the same ``ignore`` and
``layerSelector``, nothing is downloaded. Otherwise the manifest is read,
the layer chosen (the first, or the first of ``layerSelector.mediaType``) and
downloaded against its digest; ``extract`` (the default) unpacks it safely and
re-archives the tree with the ignore rules as a deterministic tarball, ``copy``
keeps the layer as it is; ``status.url`` names ``latest.tar.gz``, a link to
the newest artifact. Failures carry source-controller's reasons.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from services.source.reconcile import Produced, SourceKind, SourceRun
from services.source.storage import StorageError
from shared.api import OCIRepository
from shared.api.conditions import AUTHENTICATION_FAILED, FETCH_FAILED, STORAGE_OPERATION_FAILED
from shared.api.ocirepository import LAYER_COPY, OCIRepositorySpec
from shared.archive import UnsafeArchiveError, extract_tarball
from shared.goregexp import compile_go
from shared.oci import (
    HELM_CHART_MEDIA_TYPE,
    CredentialsError,
    OciError,
    OciReference,
    RegistryClient,
    RegistryCredentials,
    TlsMaterial,
    credentials_from_dockerconfig,
    parse_repository_url,
    select_layer,
)
from shared.reconcile import Transient
from shared.semver import InvalidConstraint, highest_matching
from shared.tarball import ArchiveError, build_tarball

__all__ = ["OCI_REPOSITORY", "pick_tag"]

log = logging.getLogger(__name__)

# source-controller's reasons for this kind (api/v1 ocirepository_types.go).
OCI_PULL_FAILED = "OCIArtifactPullFailed"
OCI_LAYER_OPERATION_FAILED = "OCIArtifactLayerOperationFailed"
READ_OPERATION_FAILED = "ReadOperationFailed"
ARCHIVE_OPERATION_FAILED = "ArchiveOperationFailed"
# An extracted layer may not grow past this (the artifact client's limit too).
_MAX_EXTRACTED_BYTES = 1 << 30


def pick_tag(tags: list[str], *, semver: str, semver_filter: str = "", media_type: str = "") -> str:
    """The tag of the highest version in ``semver`` among ``tags`` (after ``semver_filter``).

    A Helm chart's tags spell ``+`` as ``_`` (``+`` is not allowed in a tag):
    with that layer media type they are read, and given back, Helm's way.
    Raises ValueError when no tag matches.
    """
    helm = media_type == HELM_CHART_MEDIA_TYPE
    pattern = compile_go(semver_filter) if semver_filter else None
    candidates = [t for t in tags if pattern is None or pattern.search(t)]
    as_versions = {(t.replace("_", "+") if helm else t): t for t in candidates}
    try:
        best = highest_matching(semver, as_versions)
    except InvalidConstraint as err:
        raise ValueError(f"semver '{semver}' parse error: {err}") from err
    if best is None:
        raise ValueError(f"no match found for semver: {semver}")
    return as_versions[best]


def _produce(run: SourceRun) -> Produced:
    repo: OCIRepository = run.obj
    spec = repo.spec
    repository = parse_repository_url(spec.url)
    credentials, tls = _credentials(run, spec, repository)
    with RegistryClient(
        repository,
        credentials=credentials,
        tls=tls,
        insecure=spec.insecure,
        timeout=spec.timeout_seconds,
        # spec.timeout bounds the whole pull (Flux's context), not each read.
        deadline=time.monotonic() + spec.timeout_seconds,
    ) as client:
        tag, digest = _resolve(client, spec)
        revision = f"{tag}@{digest}" if tag else digest
        if _up_to_date(run, spec, revision):
            return Produced(revision, changed=False, ready_message=_stored_message(revision))
        metadata = _pull_and_store(run, client, spec, digest=digest, revision=revision)
    run.status["artifact"]["metadata"] = metadata
    _link_latest(run, str(run.status["artifact"]["path"]))
    run.status["observedIgnore"] = spec.ignore
    run.status["observedLayerSelector"] = _selector(spec)
    shown = repository.with_tag(tag) if tag else repository.with_digest(digest)
    return Produced(
        revision,
        changed=True,
        news=f"new revision '{revision}' for '{shown}'",
        ready_message=_stored_message(revision),
    )


def _link_latest(run: SourceRun, path: str) -> None:
    """``latest.tar.gz`` beside the artifact, its URL as ``status.url`` (best effort, as Flux)."""
    try:
        alias = run.storage.symlink(path, alias="latest.tar.gz")
    except StorageError as err:
        log.warning("%s: cannot update latest.tar.gz: %s", run.key, err)
        return
    run.status["url"] = f"{run.ctx.settings.artifact_url.rstrip('/')}/{alias}"


def _stored_message(revision: str) -> str:
    return f"stored artifact for digest '{revision}'"


def _credentials(
    run: SourceRun, spec: OCIRepositorySpec, repository: OciReference
) -> tuple[RegistryCredentials | None, TlsMaterial | None]:
    credentials = tls = None
    try:
        if spec.secret_ref is not None:
            name = spec.secret_ref.name
            data = run.secret(name, field="spec.secretRef")
            credentials = credentials_from_dockerconfig(
                data, repository.registry, where=f"secret '{run.key.namespace}/{name}'"
            )
        if spec.cert_secret_ref is not None:
            data = run.secret(spec.cert_secret_ref.name, field="spec.certSecretRef")
            tls = TlsMaterial.from_secret(data)
            tls.context()  # refuse unusable PEM here, with the reason
    except CredentialsError as err:
        raise Transient(
            AUTHENTICATION_FAILED, f"failed to get credential: {err}", condition=FETCH_FAILED
        ) from err
    return credentials, tls


def _resolve(client: RegistryClient, spec: OCIRepositorySpec) -> tuple[str, str]:
    """The tag (empty for a digest ref) and the manifest digest to use."""
    ref = spec.ref
    url = spec.url
    if ref is not None and ref.digest:
        return "", ref.digest
    if ref is not None and ref.semver:
        try:
            tag = pick_tag(
                client.tags(),
                semver=ref.semver,
                semver_filter=ref.semver_filter or "",
                media_type=spec.layer_media_type,
            )
        except (OciError, ValueError) as err:
            raise Transient(
                READ_OPERATION_FAILED,
                f"failed to determine the artifact tag for '{url}': {err}",
                condition=FETCH_FAILED,
            ) from err
    else:
        tag = (ref.tag if ref is not None else None) or "latest"
    try:
        return tag, client.resolve(tag)
    except OciError as err:
        raise Transient(
            OCI_PULL_FAILED, f"failed to determine artifact digest: {err}", condition=FETCH_FAILED
        ) from err


def _selector(spec: OCIRepositorySpec) -> dict[str, Any] | None:
    selector = spec.layer_selector
    return selector.model_dump(by_alias=True, exclude_none=True) if selector else None


def _up_to_date(run: SourceRun, spec: OCIRepositorySpec, revision: str) -> bool:
    """The stored artifact is this revision, built with the same ignore and layer selector."""
    stored = run.stored()
    return (
        stored is not None
        and stored.get("revision") == revision
        and run.status.get("observedIgnore") == spec.ignore
        and run.status.get("observedLayerSelector") == _selector(spec)
    )


def _pull_and_store(
    run: SourceRun, client: RegistryClient, spec: OCIRepositorySpec, *, digest: str, revision: str
) -> dict[str, str]:
    """Download the selected layer of ``digest``, store the artifact; return the annotations."""
    try:
        manifest = client.manifest(digest)
    except OciError as err:
        raise Transient(
            OCI_PULL_FAILED,
            f"failed to pull artifact from '{spec.url}': {err}",
            condition=FETCH_FAILED,
        ) from err
    filename = f"{digest.removeprefix('sha256:')}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="sluice-oci-") as scratch:
        layer_file = Path(scratch) / "layer"
        try:
            layer = select_layer(manifest, spec.layer_media_type)
            client.fetch_blob(layer, layer_file)
        except OciError as err:
            raise Transient(OCI_LAYER_OPERATION_FAILED, str(err), condition=FETCH_FAILED) from err
        if spec.layer_operation == LAYER_COPY:
            run.store(layer_file, filename=filename, revision=revision)
        else:
            tree = Path(scratch) / "tree"
            try:
                extract_tarball(layer_file, tree, max_bytes=_MAX_EXTRACTED_BYTES)
            except UnsafeArchiveError as err:
                raise Transient(
                    OCI_LAYER_OPERATION_FAILED,
                    f"failed to extract layer contents from artifact: {err}",
                    condition=FETCH_FAILED,
                ) from err
            try:
                tarball = build_tarball(tree, Path(scratch) / filename, ignore=spec.ignore)
            except ArchiveError as err:
                raise Transient(
                    ARCHIVE_OPERATION_FAILED,
                    f"unable to archive artifact to storage: {err}",
                    condition=STORAGE_OPERATION_FAILED,
                ) from err
            run.store(tarball.path, filename=filename, revision=revision)
    return dict(manifest.annotations)


OCI_REPOSITORY = SourceKind(kind="OCIRepository", model=OCIRepository, produce=_produce)
