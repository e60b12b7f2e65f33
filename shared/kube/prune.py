"""Garbage collection: delete what left the revision, and only what sluice applied (§3.7).

``prune`` takes the stale entries (``inventory.stale_objects(old, new)``) and
deletes each with background propagation, in the reverse of apply order, but
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
from typing import Any

from shared.kube.annotations import left_alone
from shared.kube.client import KubeClient
from shared.kube.errors import ApiError, KubeError, UnknownKindError
from shared.kube.inventory import Action, Change, ChangeSet, ObjectError, ObjectRef
from shared.kube.order import prune_order
from shared.kube.owner import Owner

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


def prune(
    client: KubeClient, stale: Iterable[ObjectRef], *, owner: Owner, dry_run: bool = False
) -> PruneResult:
    """Delete the stale objects ``owner`` still owns; what was deleted, skipped and failed."""
    deleted: list[ObjectRef] = []
    skipped: list[Skipped] = []
    failed: list[ObjectError] = []
    for ref in prune_order(list(stale)):
        if not ref.version:
            failed.append(ObjectError(ref, "Invalid", "inventory entry has no version", "prune"))
            continue
        try:
            live = client.get(_stub(ref))
        except UnknownKindError:
            continue  # its kind is no longer served, so neither is the object
        except KubeError as exc:
            failed.append(ObjectError(ref, _reason(exc), str(exc), "prune"))
            continue
        if live is None:
            continue
        reason = _keep_reason(live, owner)
        if reason:
            skipped.append(Skipped(ref, reason))
            continue
        if dry_run:
            deleted.append(ref)
            continue
        try:
            uid = str(live["metadata"].get("uid", ""))
            if client.delete(live, propagation="Background", uid=uid):
                deleted.append(ref)
        except KubeError as exc:
            if isinstance(exc, ApiError) and exc.status == 409:
                # The uid precondition failed: someone recreated it since the check.
                skipped.append(Skipped(ref, "recreated by someone else while pruning"))
                continue
            failed.append(ObjectError(ref, _reason(exc), str(exc), "prune"))
    return PruneResult(tuple(deleted), tuple(skipped), tuple(failed))


def _reason(exc: KubeError) -> str:
    return exc.reason if isinstance(exc, ApiError) else type(exc).__name__
