"""Helm 4's release storage read and written straight from the cluster, without running helm.

Helm's default driver keeps one Secret per revision in the release's namespace:

- named ``sh.helm.release.v1.<name>.v<version>``, type ``helm.sh/release.v1``;
- labelled ``owner=helm``, ``name=<name>``, ``status=<info.status>``,
  ``version=<version>`` (and ``createdAt``/``modifiedAt``, Unix seconds);
- ``data.release``: Kubernetes' base64 of Helm's own base64 of the gzipped
  JSON of the release (pkg/storage/driver/secrets.go, util.go).

:class:`ReleaseStorage` reads a release's whole history with one list call
(``owner=helm,name=<name>``), the way ``helm history`` does, and turns each
revision into a :class:`~services.helm.release_state.Release`. Its ``digest``
is Flux's (internal/release/observation.go: ``Digest(ObserveRelease(rls))``):
sha256 over Go's JSON of the release's name, version, info, chart metadata,
config, manifest, non-test hooks and namespace. Test hooks are left out
(``IgnoreHookTestEvents``), so a manual ``helm test`` keeps it; the JSON is
rewritten exactly as Go writes it (:mod:`services.helm.gojson`), so the
digest of a revision is the same whoever reads it, sluice or Flux (Flux adds
``ociDigest`` for charts from OCI; this digest never does).

:meth:`ReleaseStorage.unlock` is Flux's unlock of a revision left
``pending-*`` by a killed process (internal/reconcile/unlock.go): the revision
is marked ``failed`` with Flux's description, and written back only if nobody
wrote it since it was read (its resourceVersion).

A revision's values may hold secrets: nothing decoded from a Secret reaches a
log line or an error message; a Secret that cannot be decoded is named only.

Exceptions (API errors other than these propagate as ``shared.kube.errors``;
``UnreachableError`` is worth retrying)::

    StorageError          a stored revision cannot be read or written
     ├── ReleaseNotFound  no such revision in storage
     └── StorageConflict  someone wrote the revision since it was read
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import logging
import re
import time
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.helm import gojson
from services.helm.digest import values_digest
from services.helm.release_state import HelmStatus, HookPhase, Release, TestHook
from shared.kube.client import KubeClient
from shared.kube.errors import ApiError

__all__ = [
    "ReleaseNotFound",
    "ReleaseStorage",
    "StorageConflict",
    "StorageError",
    "parse_time",
    "release_digest",
    "release_from_secret",
    "secret_name",
]

log = logging.getLogger(__name__)

# A chart with large CRDs stays well below this; a gzip bomb does not.
_MAX_RELEASE_BYTES = 64 << 20
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
# Helm 3 wrote an unset time as Go's zero time; Helm 4 reads it as unset and omits it.
_ZERO_TIMES = ("", "0001-01-01T00:00:00Z")
# Go's Info struct field order: a rewritten info is written in it.
_INFO_FIELDS = (
    "first_deployed",
    "last_deployed",
    "deleted",
    "description",
    "status",
    "rollback_revision",
    "notes",
    "resources",
)


class StorageError(Exception):
    """A revision in Helm's storage cannot be read or written (no Secret content in the message)."""


class ReleaseNotFound(StorageError):
    """No Secret holds that revision."""


class StorageConflict(StorageError):
    """The revision's Secret changed since it was read: someone else wrote it."""


def secret_name(name: str, version: int) -> str:
    """The Secret that holds revision ``version`` of release ``name``."""
    return f"sh.helm.release.v1.{name}.v{version}"


class ReleaseStorage:
    """The Helm releases stored in one namespace of the cluster ``client`` talks to."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self._client = client
        self._namespace = namespace

    def __repr__(self) -> str:
        return f"ReleaseStorage(namespace={self._namespace!r})"

    def history(self, name: str) -> tuple[Release, ...]:
        """Every stored revision of release ``name``, newest first; () when there is none.

        One list call. A Secret that cannot be decoded is skipped, as helm does.
        """
        if not name or len(name) > 63 or not _LABEL_VALUE.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid Helm release name")
        secrets = self._client.list_objects(
            "v1", "Secret", namespace=self._namespace, label_selector=f"owner=helm,name={name}"
        )
        releases: list[Release] = []
        for secret in secrets:
            try:
                releases.append(release_from_secret(secret))
            except StorageError as err:
                log.warning("skipping a Helm release Secret in %s: %s", self._namespace, err)
        return tuple(sorted(releases, key=lambda r: r.version, reverse=True))

    def latest(self, name: str) -> Release | None:
        """The newest stored revision of release ``name``, or None when there is none."""
        history = self.history(name)
        return history[0] if history else None

    def manifest(self, name: str, version: int) -> str:
        """The manifest Helm rendered for revision ``version``; ReleaseNotFound when absent."""
        return str(_decode(self._secret(name, version)).get("manifest") or "")

    def unlock(self, release: Release) -> Release:
        """Mark ``release``'s revision failed if it is still pending; the revision as stored.

        Flux's unlock: ``info.status`` failed, ``info.description`` "Release
        unlocked from stale '<status>' state", the Secret's status label
        failed. A revision no longer pending is left as it is. StorageConflict
        when another process (a helm still running) wrote the revision since
        ``release`` was read (its digest differs), or writes it between this
        read and the write (the write is conditional on the resourceVersion).
        """
        what = f"{self._namespace}/{secret_name(release.name, release.version)}"
        secret = self._secret(release.name, release.version)
        stored = release_from_secret(secret)
        if not stored.status.is_pending:
            return stored
        if stored.digest != release.digest:
            raise StorageConflict(f"{what} changed since it was read: read it again")
        doc = _decode(secret)
        info = dict(doc.get("info") or {})
        status = stored.status
        info["status"] = HelmStatus.FAILED.value
        info["description"] = f"Release unlocked from stale '{status}' state"
        doc["info"] = {key: info[key] for key in _INFO_FIELDS if key in info}
        metadata = dict(secret.get("metadata") or {})
        labels = dict(metadata.get("labels") or {})
        labels["status"] = HelmStatus.FAILED.value
        labels["modifiedAt"] = str(int(time.time()))
        updated = {
            **secret,
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**metadata, "labels": labels},
            "data": {**(secret.get("data") or {}), "release": _encode(doc)},
        }
        try:
            written = self._client.update(updated)
        except ApiError as err:
            if err.status == 409:
                raise StorageConflict(f"{what} changed while being unlocked") from None
            raise StorageError(f"cannot unlock {what}: {err}") from None
        return release_from_secret(written)

    def _secret(self, name: str, version: int) -> dict[str, Any]:
        obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name(name, version), "namespace": self._namespace},
        }
        found = self._client.get(obj)
        if found is None:
            raise ReleaseNotFound(f"no revision {version} of release {self._namespace}/{name}")
        return found


def release_from_secret(secret: Mapping[str, Any]) -> Release:
    """The revision a storage Secret (as the API server returns it) holds; StorageError if none."""
    doc = _decode(secret)
    try:
        return _release(doc)
    except (AttributeError, KeyError, TypeError, ValueError) as err:  # not the shape helm writes
        name = str((secret.get("metadata") or {}).get("name") or "")
        why = type(err).__name__
        raise StorageError(f"{name}: the stored release is malformed ({why})") from None


def _decode(secret: Mapping[str, Any]) -> dict[str, Any]:
    """The release JSON in a storage Secret, numbers kept as Go wrote them."""
    name = str((secret.get("metadata") or {}).get("name") or "")
    try:
        helm_text = base64.b64decode(str((secret.get("data") or {}).get("release") or ""))
        packed = base64.b64decode(helm_text)
        if packed[:3] == b"\x1f\x8b\x08":  # releases stored before compression are plain JSON
            unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            packed = unpacker.decompress(packed, _MAX_RELEASE_BYTES)
            if unpacker.unconsumed_tail:
                raise StorageError(f"{name}: release larger than {_MAX_RELEASE_BYTES} bytes")
        doc = gojson.loads(packed)
    except (binascii.Error, zlib.error, ValueError) as err:
        # The exception's own text may quote the data: name its kind only.
        raise StorageError(f"{name}: cannot decode the release ({type(err).__name__})") from None
    if not isinstance(doc, dict):
        raise StorageError(f"{name}: the stored release is not a JSON object")
    return doc


def _encode(doc: Mapping[str, Any]) -> str:
    """``data.release`` for ``doc``: base64 (Kubernetes) of base64 (Helm) of gzipped Go JSON."""
    packed = gzip.compress(gojson.dumps(doc), compresslevel=9, mtime=0)
    return base64.b64encode(base64.b64encode(packed)).decode("ascii")


def _release(doc: Mapping[str, Any]) -> Release:
    info = doc.get("info") or {}
    chart = (doc.get("chart") or {}).get("metadata") or {}
    tests = [h for h in doc.get("hooks") or [] if "test" in (h.get("events") or [])]
    phases = [
        TestHook(name=str(h.get("name") or ""), phase=_phase(h))
        for h in tests
        if (h.get("last_run") or {}).get("phase")
    ]
    return Release(
        name=str(doc.get("name") or ""),
        namespace=str(doc.get("namespace") or ""),
        version=int(doc.get("version") or 0),
        status=HelmStatus.of(str(info.get("status") or "")),
        chart_name=str(chart.get("name") or ""),
        chart_version=str(chart.get("version") or ""),
        # Flux's snapshot configDigest: the same digest as lastAttemptedConfigDigest.
        config_digest=values_digest(gojson.plain(doc.get("config") or {})),
        digest=release_digest(doc),
        # No hook has run: the release was never tested (Helm keeps no other record).
        test_hooks=tuple(phases) if phases else None,
        app_version=str(chart.get("appVersion") or ""),
        first_deployed=parse_time(info.get("first_deployed")),
        last_deployed=parse_time(info.get("last_deployed")),
        deleted=parse_time(info.get("deleted")),
    )


def release_digest(doc: Mapping[str, Any]) -> str:
    """Flux's digest of a stored release (as read by :func:`gojson.loads`).

    Go's ``json.Encoder`` output of helm-controller's ``Observation``: its
    fields in struct order, an absent config or an empty hook list as
    ``null``, test hooks left out, a trailing newline.
    """
    hooks = [
        {**h, "last_run": _without_zero_times(h.get("last_run") or {"phase": ""})}
        for h in doc.get("hooks") or []
        if "test" not in (h.get("events") or [])
    ]
    observation = {
        "name": doc.get("name") or "",
        "version": doc.get("version") or gojson.GoNumber("0"),
        "info": _without_zero_times(doc.get("info") or {}),
        "chartMetadata": (doc.get("chart") or {}).get("metadata") or {},
        "config": doc.get("config") or None,
        "manifest": doc.get("manifest") or "",
        "hooks": hooks or None,
        "namespace": doc.get("namespace") or "",
    }
    return "sha256:" + hashlib.sha256(gojson.dumps(observation) + b"\n").hexdigest()


def _without_zero_times(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` (an info or a hook run) as Helm 4 writes it back: unset times left out."""
    times = ("first_deployed", "last_deployed", "deleted", "started_at", "completed_at")
    return {k: v for k, v in doc.items() if not (k in times and v in _ZERO_TIMES)}


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or text in _ZERO_TIMES:
        return None
    try:
        return datetime.fromisoformat(text)  # nanoseconds are cut to microseconds
    except ValueError:
        return None


def _phase(hook: Mapping[str, Any]) -> HookPhase:
    return HookPhase.of(str(hook["last_run"]["phase"]))
