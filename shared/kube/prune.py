"""Garbage collection: delete what left the revision, and only what sluice applied (§3.7).

``prune`` takes the stale entries (``inventory.stale_objects(old, new)``) and
deletes each with background propagation, kind by kind in the reverse of
apply order, but
only when the live object still carries its owner's labels and
``annotations.left_alone`` lets it go (``prune: disabled``, ``reconcile:
disabled``, ``ssa: Ignore`` keep it).
The delete is conditioned on the uid that was checked, so an object someone
recreated in the meantime is left alone. An object already gone, or whose kind
is no longer served, needs nothing. Failures are returned, not raised: Flux
keeps those objects in the inventory (``PruneResult.survivors``) and reports
``PruneFailed`` with their names. With ``dry_run`` nothing is deleted and
``deleted`` lists what would be: ``sluice diff`` previews the same decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from typing import Any

from shared.kube.annotations import left_alone
from shared.kube.client import KubeClient
from shared.kube.errors import ApiError, KubeError, UnknownKindError
from shared.kube.inventory import Action, Change, ChangeSet, ObjectError, ObjectRef
from shared.kube.order import prune_order, sort_key, stage_of
from shared.kube.owner import Owner
from shared.kube.parallel import run_all

__all__ = ["PruneResult", "Skipped", "prune"]


@dataclass(frozen=True)
class Skipped:
    """A stale object left in place, and why."""

    ref: ObjectRef
    reason: str

    def __str__(self) -> str:
        return f"{self.ref} skipped: {self.reason}"


@dataclass(frozen=True)
class PruneResult:
    """What one prune deleted, left alone, and failed to delete."""

    deleted: tuple[ObjectRef, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    failed: tuple[ObjectError, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every deletion that was due succeeded."""
        return not self.failed

    @property
    def survivors(self) -> tuple[ObjectRef, ...]:
        """Objects that failed to be deleted: keep them in the inventory."""
        return tuple(e.ref for e in self.failed)

    def changes(self) -> ChangeSet:
        """The deletions as a change set (``Kind/ns/name deleted``)."""
        return ChangeSet(tuple(Change(ref, Action.DELETED) for ref in self.deleted))

    def message(self) -> str:
        """One line per failed deletion, for the PruneFailed condition."""
        return "\n".join(str(e) for e in self.failed)


def _stub(ref: ObjectRef) -> dict[str, Any]:
    meta = {"name": ref.name, "namespace": ref.namespace}
    return {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta}


def _keep_reason(live: dict[str, Any], owner: Owner) -> str:
    if not owner.owns(live):
        return f"not owned by {owner}"
    return left_alone(None, live, deleting=True)


def _prune_one(
    client: KubeClient, ref: ObjectRef, owner: Owner, *, dry_run: bool
) -> ObjectRef | Skipped | ObjectError | None:
    """Delete one stale object if ``owner`` still owns it: what happened (None: already gone)."""
    if not ref.version:
        return ObjectError(ref, "Invalid", "inventory entry has no version", "prune")
    try:
        live = client.get(_stub(ref))
    except UnknownKindError:
        return None  # its kind is no longer served, so neither is the object
    except KubeError as exc:
        return ObjectError(ref, _reason(exc), str(exc), "prune")
    if live is None:
        return None
    reason = _keep_reason(live, owner)
    if reason:
        return Skipped(ref, reason)
    if dry_run:
        return ref
    try:
        uid = str(live["metadata"].get("uid", ""))
        return ref if client.delete(live, propagation="Background", uid=uid) else None
    except KubeError as exc:
        if isinstance(exc, ApiError) and exc.status == 409:
            # The uid precondition failed: someone recreated it since the check.
            return Skipped(ref, "recreated by someone else while pruning")
        return ObjectError(ref, _reason(exc), str(exc), "prune")


def _kind_rank(ref: ObjectRef) -> tuple[str, int]:
    return stage_of(ref), sort_key(ref)[0]


def prune(
    client: KubeClient, stale: Iterable[ObjectRef], *, owner: Owner, dry_run: bool = False
) -> PruneResult:
    """Delete the stale objects ``owner`` still owns; what was deleted, skipped and failed.

    Kind by kind in prune order (a custom resource goes before the Deployment that
    may serve its finalizer, namespaces and CRDs last); the objects of one kind
    are checked and deleted side by side (``parallel.py``).
    """
    outcomes: list[ObjectRef | Skipped | ObjectError | None] = []
    for _, wave in groupby(prune_order(list(stale)), key=_kind_rank):
        refs = list(wave)
        outcomes += run_all([partial(_prune_one, client, r, owner, dry_run=dry_run) for r in refs])
    return PruneResult(
        deleted=tuple(o for o in outcomes if isinstance(o, ObjectRef)),
        skipped=tuple(o for o in outcomes if isinstance(o, Skipped)),
        failed=tuple(o for o in outcomes if isinstance(o, ObjectError)),
    )


def _reason(exc: KubeError) -> str:
    return exc.reason if isinstance(exc, ApiError) else type(exc).__name__
