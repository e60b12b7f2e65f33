"""The object store: Flux-shaped documents in Redis, written with optimistic concurrency.

Every write runs the same way: WATCH the objects' keys, read them, decide
(a pure plan that may refuse with Conflict or NotFound), take resourceVersions
from the global counter, then MULTI/EXEC the objects, their indexes and the
changes feed together. If another writer touched a watched key in between,
EXEC fails and the whole decision is made again from fresh reads, so a
stale writer is refused rather than silently overwriting. The key layout is
described in ``shared.store.layout``.

Spec and status are written apart: create/update/apply drop an incoming
status and keep the stored one; update_status touches nothing else.
``generation`` counts changes of the spec (everything but apiVersion, kind,
metadata and status: ``data`` for Secrets and ConfigMaps); ``resourceVersion``
changes on every write. A write that would change nothing is not made.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import redis

from shared.keys import ObjectKey
from shared.labels import Selector, as_selector
from shared.redisconn import connect
from shared.secrets import SecretCipher
from shared.settings import Settings
from shared.store import documents as docs
from shared.store.changes import Change, ChangeType, decode_entries
from shared.store.errors import (
    AlreadyExists,
    Conflict,
    InvalidObject,
    NotFound,
    OwnedByAnother,
    StoreError,
)
from shared.store.layout import Layout, check_key
from shared.store.limits import apply_too_big

__all__ = ["ApplyResult", "Released", "Store"]

ApplyResult = Literal["created", "configured", "unchanged"]
Document = docs.Document
_Plan = Callable[[Mapping[ObjectKey, Document | None]], list["_Write"]]
_Decoder = Callable[[bytes | str | None, ObjectKey], Document | None]
_Docs = list[Document]
_Keys = list[ObjectKey]
# Whether an object's owner (second key) lets it go to another owner.
Released = Callable[[ObjectKey, ObjectKey], bool]

_MAX_ATTEMPTS = 100  # WATCH retries before giving up under extreme contention
_MGET_CHUNK = 500
_RESULTS: dict[ChangeType | None, ApplyResult] = {
    "created": "created",
    "updated": "configured",
    None: "unchanged",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Write:
    """One object's outcome in a transaction; ``type`` None means nothing to write."""

    key: ObjectKey
    type: ChangeType | None
    doc: Document | None
    previous: Document | None
    resource_version: str = ""


class Store:
    """Objects by ObjectKey in Redis; Secrets sealed with ``cipher`` at rest."""

    def __init__(
        self,
        client: redis.Redis,
        cipher: SecretCipher,
        *,
        prefix: str = "sluice:",
        changes_max_len: int = 10_000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._client = client
        self._cipher = cipher
        self._layout = Layout(prefix)
        self._changes_max_len = changes_max_len
        self._clock = clock

    @property
    def cipher(self) -> SecretCipher:
        """The installation's cipher, for anything else that keeps Secrets at rest."""
        return self._cipher

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """A store on ``settings.redis_url`` with the installation's secret key."""
        return cls(connect(settings), SecretCipher.from_settings(settings))

    # -- reads ---------------------------------------------------------------

    def get(self, key: ObjectKey) -> Document | None:
        """The object (Secret values decrypted), or None when it does not exist."""
        return self._decode(cast(bytes | None, self._client.get(self._layout.object(key))), key)

    def require(self, key: ObjectKey) -> Document:
        """The object, or NotFound naming it."""
        doc = self.get(key)
        if doc is None:
            raise NotFound(key)
        return doc

    def scopes(self) -> list[str]:
        """The Cluster scopes that hold (or held) objects, sorted; the fleet-wide one not listed."""
        return sorted(
            _text(m) for m in cast(set[bytes], self._client.smembers(self._layout.scopes))
        )

    def list_owned(self, owner: ObjectKey) -> _Keys:
        """Keys of the objects ``owner`` owns (per the Flux owner labels), sorted."""
        members = cast(set[bytes], self._client.smembers(self._layout.owned(owner)))
        return sorted(ObjectKey.parse(_text(m)) for m in members)

    def changes(
        self, after: str = "0-0", *, count: int = 100, block_ms: int | None = None
    ) -> list[Change]:
        """Changes after stream id ``after`` ("$": only new ones), waiting up to ``block_ms``."""
        reply = self._client.xread({self._layout.changes: after}, count=count, block=block_ms)
        entries = [e for _stream, stream_entries in cast(Any, reply) or [] for e in stream_entries]
        return decode_entries(entries)

    def newest_change(self) -> str:
        """The stream id of the newest change, or ``0-0``: where a new reader starts."""
        newest = cast(Any, self._client.xrevrange(self._layout.changes, count=1))
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    # -- spec writes ---------------------------------------------------------

    def create(self, doc: Document, *, owner: ObjectKey | None = None, scope: str = "") -> Document:
        """Store a new object in ``scope``; AlreadyExists when one with its key is stored."""
        key, desired = docs.prepare(doc, owner=owner, scope=scope)

        def plan(current: Mapping[ObjectKey, Document | None]) -> list[_Write]:
            if current[key] is not None:
                raise AlreadyExists(key)
            return [self._spec_write(key, desired, None)]

        return _doc(self._transact([key], plan)[0])

    def update(self, doc: Document, *, scope: str = "") -> Document:
        """Replace an object's spec and metadata; Conflict if its resourceVersion is stale."""
        key, desired = docs.prepare(doc, scope=scope)
        expected = doc["metadata"].get("resourceVersion")

        def plan(current: Mapping[ObjectKey, Document | None]) -> list[_Write]:
            previous = current[key]
            if previous is None:
                raise NotFound(key, "create it first, or use apply")
            _check_version(key, previous, expected)
            return [self._spec_write(key, desired, previous)]

        return _doc(self._transact([key], plan)[0])

    def apply(
        self, doc: Document, *, owner: ObjectKey | None = None, scope: str = ""
    ) -> tuple[ApplyResult, Document]:
        """Create or update ``doc`` whatever its resourceVersion; say what happened."""
        return self.apply_all([doc], owner=owner, scope=scope)[0]

    def apply_all(
        self,
        docs_in: Iterable[Document],
        *,
        owner: ObjectKey | None = None,
        scope: str = "",
        released: Released | None = None,
    ) -> list[tuple[ApplyResult, Document]]:
        """Apply every document in one transaction: all are stored, or none (and it raises).

        The documents go into ``scope`` (the fleet-wide scope by default).
        A call over ``shared.store.limits`` (objects, bytes) is refused before Redis sees it.
        With an ``owner``, an object another existing owner holds is refused with
        OwnedByAnother and nothing is written, unless ``released(key, holder)`` says the
        holder lets it go (its newest build no longer yields it: the object moved in Git).
        One without an owner (``sluice apply``) or whose owner is gone (orphaned by its
        deletionPolicy) is adopted.
        """
        prepared = _prepare_all(docs_in, owner=owner, scope=scope)
        if not prepared:
            return []

        def plan(current: Mapping[ObjectKey, Document | None]) -> list[_Write]:
            if owner is not None:
                for key in prepared:
                    self._refuse_takeover(key, current[key], owner, released)
            return [
                self._spec_write(key, desired, current[key], keep_owner=True)
                for key, desired in prepared.items()
            ]

        writes = self._transact(list(prepared), plan)
        return [(_RESULTS[w.type], _doc(w)) for w in writes]

    def check_apply_all(
        self,
        docs_in: Iterable[Document],
        *,
        owner: ObjectKey,
        scope: str = "",
        released: Released | None = None,
    ) -> None:
        """Raise what ``apply_all`` with these arguments would refuse now; write nothing."""
        for key in _prepare_all(docs_in, owner=owner, scope=scope):
            self._refuse_takeover(key, self.get(key), owner, released)

    def _refuse_takeover(
        self,
        key: ObjectKey,
        previous: Document | None,
        owner: ObjectKey,
        released: Released | None,
    ) -> None:
        """OwnedByAnother when ``previous`` belongs to another owner that still holds it."""
        held = docs.owner_of(previous, scope=key.scope)
        if held is None or held == owner:
            return
        if released is not None and released(key, held):
            return
        # Not watched: an owner re-created during this write is told at its own next write.
        if self._client.exists(self._layout.object(held)):
            raise OwnedByAnother(key, owner=held, writer=owner)

    def _spec_write(
        self,
        key: ObjectKey,
        desired: Document,
        previous: Document | None,
        *,
        keep_owner: bool = False,
    ) -> _Write:
        # A copy: a WATCH retry plans again from the same desired document.
        desired = copy.deepcopy(desired)
        if keep_owner:
            docs.keep_owner_labels(desired, previous)
        if previous is None:
            return _Write(key, "created", docs.finish(desired, None, now=self._now()), None)
        problem = docs.immutable_violation(previous, desired)
        if problem:
            raise Conflict(key, problem)
        if docs.same_desired(previous, desired):
            return _Write(key, None, previous, previous)
        return _Write(key, "updated", docs.finish(desired, previous, now=self._now()), previous)

    # -- status and delete ---------------------------------------------------

    def update_status(
        self, key: ObjectKey, status: dict[str, Any], *, resource_version: str | None = None
    ) -> Document:
        """Replace the object's status only; spec and generation stay as stored."""
        if not isinstance(status, dict):
            raise InvalidObject(f"{key}: status must be a mapping")

        def plan(current: Mapping[ObjectKey, Document | None]) -> list[_Write]:
            previous = current[key]
            if previous is None:
                raise NotFound(key, "it may have been deleted; stop reconciling it")
            _check_version(key, previous, resource_version)
            if previous.get("status") == status:
                return [_Write(key, None, previous, previous)]
            doc = copy.deepcopy(previous)
            doc["status"] = copy.deepcopy(status)
            return [_Write(key, "status", doc, previous)]

        return _doc(self._transact([key], plan)[0])

    def change_status(
        self, key: ObjectKey, change: Callable[[Document, dict[str, Any]], None]
    ) -> Document | None:
        """Read-modify-write the status in one transaction: ``change(doc, status)``.

        ``change`` edits ``status`` (a copy) after reading the newest stored object,
        and runs again if a concurrent write lands first, so nothing written
        meanwhile is overwritten with an older snapshot. An unchanged status writes
        nothing. None when the object does not exist.
        """

        def plan(current: Mapping[ObjectKey, Document | None]) -> list[_Write]:
            previous = current[key]
            if previous is None:
                return [_Write(key, None, None, None)]
            status = copy.deepcopy(previous.get("status") or {})
            change(previous, status)
            if not isinstance(status, dict):
                raise InvalidObject(f"{key}: status must be a mapping")
            if previous.get("status") == status:
                return [_Write(key, None, previous, previous)]
            doc = {**previous, "metadata": {**previous["metadata"]}, "status": status}
            return [_Write(key, "status", doc, previous)]

        return self._transact([key], plan)[0].doc

    def delete(self, key: ObjectKey, *, resource_version: str | None = None) -> bool:
        """Remove the object and its index entries; False when it did not exist."""

        def plan(current: Mapping[ObjectKey, Document | None]) -> list[_Write]:
            previous = current[key]
            if previous is None:
                return [_Write(key, None, None, None)]
            _check_version(key, previous, resource_version)
            return [_Write(key, "deleted", None, previous)]

        # No decryption: a Secret sealed with a lost key can still be deleted.
        return self._transact([key], plan, decode=_decode_sealed)[0].type == "deleted"

    # -- the transaction -----------------------------------------------------

    def _transact(
        self, keys: Sequence[ObjectKey], plan: _Plan, *, decode: _Decoder | None = None
    ) -> list[_Write]:
        """Run ``plan`` on fresh reads of ``keys`` and commit its writes atomically."""
        decode = decode or self._decode
        names = [self._layout.object(k) for k in keys]
        with self._client.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    pipe.watch(*names)  # type: ignore[no-untyped-call]
                    raws = cast(list[bytes | None], pipe.mget(names))
                    current = {k: decode(raw, k) for k, raw in zip(keys, raws, strict=True)}
                    writes = plan(current)
                    pending = [w for w in writes if w.type is not None]
                    if not pending:
                        return writes
                    top = int(pipe.incrby(self._layout.resource_version, len(pending)))
                    payloads = [
                        self._stamp(w, str(top - len(pending) + 1 + i))
                        for i, w in enumerate(pending)
                    ]
                    pipe.multi()
                    for write, payload in zip(pending, payloads, strict=True):
                        self._queue(pipe, write, payload)
                    pipe.execute()
                    return writes
                except redis.WatchError as exc:
                    if isinstance(exc.__context__, redis.ConnectionError | redis.TimeoutError):
                        raise exc.__context__ from None  # Redis stalled or went away: no retry
                    continue
        raise Conflict(keys[0], "too many concurrent writes to this object: retry later")

    def _stamp(self, write: _Write, resource_version: str) -> str | None:
        """Give ``write`` its resourceVersion; the JSON to store (None for a delete)."""
        write.resource_version = resource_version
        if write.doc is None:
            return None
        write.doc["metadata"]["resourceVersion"] = resource_version
        try:
            return json.dumps(self._cipher.seal(write.doc, copy_other=False), separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise InvalidObject(f"{write.key}: cannot be stored: {exc}") from None

    def _queue(self, pipe: redis.client.Pipeline, write: _Write, payload: str | None) -> None:
        """Queue the object, index and feed commands of one write inside MULTI."""
        key, layout = write.key, self._layout
        old_owner = docs.owner_of(write.previous, scope=key.scope)
        new_owner = docs.owner_of(write.doc, scope=key.scope)
        kind_index = layout.kind_index(key.kind, key.scope)
        namespace_index = layout.namespace_index(key.kind, key.namespace, key.scope)
        if payload is None:
            pipe.delete(layout.object(key))
            pipe.srem(kind_index, f"{key.namespace}/{key.name}")
            pipe.srem(namespace_index, key.name)
        else:
            pipe.set(layout.object(key), payload)
            pipe.sadd(kind_index, f"{key.namespace}/{key.name}")
            pipe.sadd(namespace_index, key.name)
            if key.scope:
                pipe.sadd(layout.scopes, key.scope)
        if old_owner is not None and old_owner != new_owner:
            pipe.srem(layout.owned(old_owner), str(key))
        if new_owner is not None:
            pipe.sadd(layout.owned(new_owner), str(key))
        entry: dict[Any, Any] = {
            "key": str(key),
            "type": str(write.type),
            "resourceVersion": write.resource_version,
        }
        pipe.xadd(layout.changes, entry, maxlen=self._changes_max_len, approximate=True)

    # -- encoding ------------------------------------------------------------

    def _decode(self, raw: bytes | str | None, key: ObjectKey) -> Document | None:
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise StoreError(
                f"{key}: stored JSON is damaged ({exc}): delete and apply it again"
            ) from exc
        return self._cipher.unseal(cast(Document, doc), copy_other=False)

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # Last in the class: a method named ``list`` would shadow the builtin in annotations.
    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | Mapping[str, Any] | Selector | None = None,
        *,
        scope: str = "",
    ) -> _Docs:
        """Objects of ``kind`` in ``scope`` (in ``namespace``, or all), matching, sorted."""
        problem = check_key(ObjectKey(kind, namespace or "default", "x", scope))
        if problem:
            raise InvalidObject(f"cannot list {kind}: {problem}")
        selector = as_selector(label_selector)
        if namespace is None:
            index = self._layout.kind_index(kind, scope)
            members = cast(set[bytes], self._client.smembers(index))
            pairs = [_text(m).partition("/") for m in members]
            keys = [ObjectKey(kind, ns, name, scope) for ns, _, name in pairs]
        else:
            index = self._layout.namespace_index(kind, namespace, scope)
            keys = [
                ObjectKey(kind, namespace, _text(m), scope)
                for m in cast(set[bytes], self._client.smembers(index))
            ]
        keys.sort()
        out: _Docs = []
        for start in range(0, len(keys), _MGET_CHUNK):
            chunk = keys[start : start + _MGET_CHUNK]
            raws = cast(
                list[bytes | None], self._client.mget([self._layout.object(k) for k in chunk])
            )
            for key, raw in zip(chunk, raws, strict=True):
                doc = self._decode(raw, key)  # None: deleted since the index was read
                if doc is not None and selector.matches(doc["metadata"].get("labels")):
                    out.append(doc)
        return out


def _prepare_all(
    docs_in: Iterable[Document], *, owner: ObjectKey | None, scope: str
) -> dict[ObjectKey, Document]:
    """Each document as ``apply_all`` stores it, by key; InvalidObject for a repeat or excess."""
    prepared: dict[ObjectKey, Document] = {}
    for index, doc in enumerate(docs_in):
        key, desired = docs.prepare(doc, owner=owner, scope=scope)
        if key in prepared:
            raise InvalidObject(
                f"{key} appears twice (document #{index + 1} repeats an earlier one): "
                "keep one of them"
            )
        prepared[key] = desired
    problem = apply_too_big(list(prepared.values()))
    if problem:
        raise InvalidObject(problem)
    return prepared


def _check_version(key: ObjectKey, previous: Document, expected: object) -> None:
    stored = previous["metadata"].get("resourceVersion")
    if expected not in (None, "") and str(expected) != stored:
        raise Conflict(
            key,
            f"resourceVersion {expected} is stale (stored: {stored}): "
            "someone changed it since you read it; re-read and retry",
        )


def _doc(write: _Write) -> Document:
    doc = write.doc if write.doc is not None else write.previous
    assert doc is not None, "a write always carries its document"
    return doc


def _decode_sealed(raw: bytes | str | None, key: ObjectKey) -> Document | None:
    """The stored JSON as is (Secret values still sealed); a damaged one as bare metadata."""
    if raw is None:
        return None
    try:
        return cast(Document, json.loads(raw))
    except ValueError:
        return {"kind": key.kind, "metadata": {"name": key.name, "namespace": key.namespace}}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
