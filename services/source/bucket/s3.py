"""The S3 API as a Bucket uses it: confirm the bucket, list keys and etags, download objects.

A thin adapter over the ``minio`` library (MinIO's Python SDK, the sibling of
the Go client Flux's generic provider uses), which signs requests with SigV4.
Every failure is a :class:`BucketError` whose message says what was tried and
the server's own words (``Access Denied.``), never a key, a signature or a
request id:

    BucketError            any failure talking to the server
    └── ObjectGone         an indexed object was deleted before its download
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

__all__ = ["BucketError", "Listed", "ObjectGone", "S3Bucket", "S3Keys"]

_CHUNK = 1 << 16
# Connection failures are retried by the reconcile's backoff, not here.
_RETRIES = urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504])


class BucketError(Exception):
    """A request to the bucket failed; ``str()`` is safe to show."""


class ObjectGone(BucketError, LookupError):
    """The object was deleted between the listing and its download."""


@dataclass(frozen=True)
class S3Keys:
    """Static access keys (Flux's ``accesskey``/``secretkey``); never shown."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)


@dataclass(frozen=True)
class Listed:
    """One object of a listing: its key, etag (quotes removed, as Flux's client does) and size."""

    key: str
    etag: str
    size: int = 0


def _describe(err: Exception) -> str:
    """The failure in words safe for a status: the S3 message or the connection error."""
    if isinstance(err, S3Error):
        return err.message or err.code or "request refused"
    if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
        return _describe(err.reason)
    if isinstance(err, urllib3.exceptions.NewConnectionError):
        return str(err).rpartition(": ")[2] or "connection failed"
    if isinstance(err, urllib3.exceptions.SSLError | ssl.SSLError):
        return f"TLS: {err.args[-1] if err.args else err}"
    if isinstance(err, urllib3.exceptions.TimeoutError):
        return "timed out"
    return type(err).__name__ if not str(err) else str(err)


class S3Bucket:
    """One bucket on one endpoint, with the credentials and TLS settings of one Bucket object."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        *,
        secure: bool,
        region: str | None = None,
        keys: S3Keys | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.bucket = bucket
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout, 15.0), read=timeout),
            retries=_RETRIES,
            maxsize=8,
            cert_reqs="CERT_REQUIRED",
            ssl_context=tls if secure else None,
        )
        try:
            self._client = Minio(
                endpoint,
                access_key=keys.access_key if keys else None,
                secret_key=keys.secret_key if keys else None,
                secure=secure,
                region=region or None,
                http_client=http,
            )
        except ValueError as err:
            raise BucketError(f"invalid endpoint '{endpoint}': {err}") from None

    def confirm(self) -> None:
        """Raise unless the bucket exists and these credentials may see it (Flux's messages)."""
        try:
            exists = self._client.bucket_exists(self.bucket)
        except (MinioException, urllib3.exceptions.HTTPError, ValueError) as err:
            raise BucketError(
                f"failed to confirm existence of '{self.bucket}' bucket: {_describe(err)}"
            ) from None
        if not exists:
            raise BucketError(f"bucket '{self.bucket}' not found")

    def list(self, prefix: str | None = None, *, max_objects: int) -> list[Listed]:
        """Every object under ``prefix`` (all of them when None), directory markers left out.

        More than ``max_objects`` is refused as soon as the listing passes it,
        before the rest is held in memory.
        """
        found: list[Listed] = []
        try:
            objects = self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            for obj in objects:
                if not obj.object_name or obj.object_name.endswith("/"):
                    continue
                if len(found) == max_objects:
                    raise BucketError(
                        f"bucket '{self.bucket}' holds more than {max_objects} objects under "
                        f"'{prefix or ''}', more than an artifact may hold: narrow spec.prefix"
                    )
                found.append(Listed(str(obj.object_name), str(obj.etag or ""), int(obj.size or 0)))
            return found
        except (MinioException, urllib3.exceptions.HTTPError) as err:
            raise BucketError(
                f"indexation of objects from bucket '{self.bucket}' failed: "
                f"listing objects from bucket '{self.bucket}' failed: {_describe(err)}"
            ) from None

    def etag_of(self, key: str) -> str | None:
        """The etag of object ``key`` (a HEAD request, no body), None when there is none."""
        try:
            stat = self._client.stat_object(self.bucket, key)
        except S3Error as err:
            if err.code == "NoSuchKey":
                return None
            raise BucketError(f"failed to get Etag for '{key}' object: {_describe(err)}") from None
        except (MinioException, urllib3.exceptions.HTTPError) as err:
            raise BucketError(f"failed to get Etag for '{key}' object: {_describe(err)}") from None
        return str(stat.etag or "").replace('"', "")

    def download(self, key: str, dest: Path, *, max_bytes: int | None = None) -> str:
        """Write object ``key`` to ``dest`` (atomically); return the etag the server sent.

        A body longer than ``max_bytes`` is refused, whatever the listing said.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        try:
            with self._response(key) as response, _atomic(dest) as out:
                for chunk in response.stream(_CHUNK):
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise BucketError(
                            f"object '{key}' is larger than {max_bytes} bytes: refused"
                        )
                    out.write(chunk)
                etag = str(response.headers.get("ETag", "")).replace('"', "")
        except S3Error as err:
            if err.code == "NoSuchKey":
                raise ObjectGone(
                    f"object '{key}' disappeared from '{self.bucket}' bucket"
                ) from None
            raise BucketError(f"failed to get '{key}' object: {_describe(err)}") from None
        except (MinioException, urllib3.exceptions.HTTPError) as err:
            raise BucketError(f"failed to get '{key}' object: {_describe(err)}") from None
        return etag

    @contextmanager
    def _response(self, key: str) -> Iterator[urllib3.BaseHTTPResponse]:
        response = self._client.get_object(self.bucket, key)
        try:
            yield response
        finally:
            response.close()
            response.release_conn()


@contextmanager
def _atomic(dest: Path) -> Iterator[BinaryIO]:
    """A temp file beside ``dest``, renamed over it when the block succeeds."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
