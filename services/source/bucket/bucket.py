"""Bucket: index an S3 bucket's objects, download what changed, archive them as the artifact.

The steps of source-controller's Bucket reconciler (FLUX-API §2.5): confirm the
bucket exists, read its root ``.sourceignore``, list the objects under the
prefix into an etag index (after the ignore rules), and compare the index's
revision with the stored artifact's. An unchanged revision downloads no
object body; a new one downloads only the objects whose etag changed into the
bucket's local mirror, then archives the indexed objects as
``<revision hex>.tar.gz``.

Every failure of the server (unreachable, wrong keys, missing bucket) is
Transient with Flux's reason ``BucketOperationFailed`` on ``FetchFailed``; a
missing or incomplete Secret is ``AuthenticationFailed``. Messages carry the
server's words, never the keys.
"""

from __future__ import annotations

import ssl
import tempfile
import time
from pathlib import Path

from services.source.bucket.bucketindex import EtagIndex, UnsafeKey, bucket_matcher, build_index
from services.source.bucket.bucketmirror import (
    BucketMirror,
    Download,
    MirrorLockTimeout,
    mirror_for,
)
from services.source.bucket.s3 import BucketError, Listed, S3Bucket, S3Keys
from services.source.reconcile import Produced, SourceKind, SourceRun
from shared.api import Bucket
from shared.api.bucket import BucketSpec
from shared.api.conditions import (
    AUTHENTICATION_FAILED,
    BUCKET_OPERATION_FAILED,
    FETCH_FAILED,
    STORAGE_OPERATION_FAILED,
)
from shared.archive import MAX_ENTRIES
from shared.artifacts import MAX_ARTIFACT_BYTES
from shared.oci.auth import CredentialsError, TlsMaterial
from shared.reconcile import Transient
from shared.sourceignore import SOURCEIGNORE
from shared.tarball import KEEP_ALL, ArchiveError, build_tarball

__all__ = ["BUCKET", "MAX_BUCKET_BYTES", "MAX_BUCKET_OBJECTS"]

# The objects one artifact may hold, in bytes: what every consumer of an
# artifact accepts (a bigger one could never be applied), and a bound on the
# disk a hostile or runaway bucket can fill. Flux has no limit.
MAX_BUCKET_BYTES = MAX_ARTIFACT_BYTES
# Consumers refuse an archive of more entries (shared.archive.MAX_ENTRIES).
MAX_BUCKET_OBJECTS = MAX_ENTRIES


def _produce(run: SourceRun) -> Produced:
    bucket: Bucket = run.obj
    spec = bucket.spec
    client = _client(run, bucket)
    mirror = mirror_for(
        run.ctx.settings.cache_dir,
        endpoint=spec.endpoint,
        bucket=spec.bucket_name,
        prefix=spec.prefix or "",
    )
    deadline = time.monotonic() + spec.timeout_seconds
    try:
        with mirror.lock(timeout=spec.timeout_seconds):
            return _fetch_and_store(run, bucket, client, mirror, deadline)
    except (BucketError, UnsafeKey, MirrorLockTimeout) as err:
        message = _scrubbed(run, str(err))
        raise Transient(BUCKET_OPERATION_FAILED, message, condition=FETCH_FAILED) from None
    except ArchiveError as err:
        raise Transient(
            "ArchiveOperationFailed", str(err), condition=STORAGE_OPERATION_FAILED
        ) from err


def _fetch_and_store(
    run: SourceRun, bucket: Bucket, client: S3Bucket, mirror: BucketMirror, deadline: float
) -> Produced:
    spec = bucket.spec
    client.confirm()
    sourceignore, ignore_etag = _sourceignore(client, mirror)
    listing = client.list(spec.prefix, max_objects=MAX_BUCKET_OBJECTS)
    index = build_index(
        ((obj.key, obj.etag) for obj in listing),
        matcher=bucket_matcher(sourceignore=sourceignore, spec_ignore=spec.ignore),
    )
    # The ignore rules are part of the index, so its revision alone says whether
    # the stored artifact still holds what this spec selects (as source-controller).
    if spec.ignore is None:
        run.status.pop("observedIgnore", None)
    else:
        run.status["observedIgnore"] = spec.ignore
    stored = run.stored()
    if stored is not None and stored.get("revision") == index.revision:
        return Produced(index.revision, changed=False)
    _check_size(spec, listing, index)
    listed = {obj.key for obj in listing} | ({SOURCEIGNORE} if ignore_etag else set())
    synced = mirror.sync(index, listed=listed, download=_bounded(client, spec, deadline))
    _archive(run, mirror, synced.index)
    revision = synced.index.revision
    return Produced(revision, changed=True, news=f"new upstream revision '{revision}'")


def _check_size(spec: BucketSpec, listing: list[Listed], index: EtagIndex) -> None:
    """Refuse, before any download, objects that add up to more than an artifact may hold."""
    total = sum(obj.size for obj in listing if obj.key in index.entries)
    if total > MAX_BUCKET_BYTES:
        raise BucketError(
            f"the objects selected from bucket '{spec.bucket_name}' hold {total} bytes, "
            f"more than the {MAX_BUCKET_BYTES} an artifact may hold: narrow spec.prefix "
            "or spec.ignore"
        )


def _bounded(client: S3Bucket, spec: BucketSpec, deadline: float) -> Download:
    """``client.download``, refused once ``spec.timeout`` has passed since the reconcile began."""

    def download(key: str, dest: Path) -> str:
        if time.monotonic() > deadline:
            raise BucketError(
                f"fetch from bucket '{spec.bucket_name}' failed: not done within "
                f"spec.timeout ({spec.timeout or '60s'})"
            )
        return client.download(key, dest, max_bytes=MAX_BUCKET_BYTES)

    return download


def _sourceignore(client: S3Bucket, mirror: BucketMirror) -> tuple[str | None, str | None]:
    """The bucket's root ``.sourceignore`` and its etag; downloaded only when it changed."""
    etag = client.etag_of(SOURCEIGNORE)
    if etag is None:
        return None, None
    path = mirror.cached(SOURCEIGNORE, etag)
    if path is None:
        if mirror.put(SOURCEIGNORE, client.download) is None:
            return None, None
        path = mirror.path_of(SOURCEIGNORE)
    return path.read_text(errors="replace"), etag


def _archive(run: SourceRun, mirror: BucketMirror, index: EtagIndex) -> None:
    revision = index.revision
    # Beside the mirror, so staging is hard links on the same filesystem.
    with tempfile.TemporaryDirectory(prefix=".stage-", dir=mirror.root.parent) as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        mirror.stage(index, tree)
        tarball = build_tarball(tree, Path(scratch) / "artifact.tar.gz", matcher=KEEP_ALL)
        filename = f"{revision.partition(':')[2]}.tar.gz"
        run.store(tarball.path, filename=filename, revision=revision)


def _client(run: SourceRun, bucket: Bucket) -> S3Bucket:
    spec = bucket.spec
    keys = None
    if spec.secret_ref is not None:
        name = spec.secret_ref.name
        data = run.secret(name, field="spec.secretRef")
        if not data.get("accesskey") or not data.get("secretkey"):
            raise Transient(
                AUTHENTICATION_FAILED,
                f"invalid '{name}' secret data: required fields 'accesskey' and 'secretkey'",
                condition=FETCH_FAILED,
            )
        keys = S3Keys(data["accesskey"].decode(), data["secretkey"].decode())
    tls: ssl.SSLContext | None = None
    if spec.cert_secret_ref is not None and not spec.insecure:
        tls = _tls(run, spec.cert_secret_ref.name)
    try:
        return S3Bucket(
            spec.endpoint,
            spec.bucket_name,
            secure=not spec.insecure,
            region=spec.region,
            keys=keys,
            tls=tls,
            timeout=spec.timeout_seconds,
        )
    except BucketError as err:
        raise Transient(AUTHENTICATION_FAILED, str(err), condition=FETCH_FAILED) from None


def _tls(run: SourceRun, name: str) -> ssl.SSLContext:
    """The TLS context of certSecretRef ``name``: its ``ca.crt``, ``tls.crt``/``tls.key``."""
    material = TlsMaterial.from_secret(run.secret(name, field="spec.certSecretRef"))
    try:
        if not (material.ca_cert or material.client_cert or material.client_key):
            raise CredentialsError("expected 'ca.crt', and/or 'tls.crt' with 'tls.key'")
        return material.context()
    except CredentialsError as err:
        raise Transient(
            AUTHENTICATION_FAILED,
            f"failed to get TLS config: secret '{name}': {err}",
            condition=FETCH_FAILED,
        ) from None


def _scrubbed(run: SourceRun, message: str) -> str:
    """``message`` without the Secret's values, whatever a server chose to echo."""
    bucket: Bucket = run.obj
    if bucket.spec.secret_ref is None:
        return message
    for value in run.secret(bucket.spec.secret_ref.name, field="spec.secretRef").values():
        text = value.decode(errors="replace")
        if len(text) >= 4:
            message = message.replace(text, "***")
    return message


BUCKET = SourceKind(kind="Bucket", model=Bucket, produce=_produce)
