"""What becomes of a deleted Kustomization's objects: ``spec.deletionPolicy`` as Flux reads it.

Pure. When a Kustomization is deleted, the objects of its inventory on each
cluster are:

- ``MirrorPrune`` (the default): deleted when ``prune`` is true, else left;
- ``Delete``: deleted, whatever ``prune`` says;
- ``WaitForTermination``: deleted, and the deletion waits (at most
  ``spec.timeout``) until the API server no longer has them, so finalizers
  have run; a timeout is reported and the deletion completes anyway;
- ``Orphan``: left in the cluster, whatever ``prune`` says.

A Kustomization that was suspended when it was deleted leaves its objects
alone, as Flux's finalizer does. The same rule applies to the toolkit objects
its builds put into sluice's store.
"""

from __future__ import annotations

from enum import StrEnum

from shared.fleet.state import Desired

__all__ = ["DELETION_POLICIES", "OnDeletion", "deletion_of", "on_deletion"]

DELETION_POLICIES = ("MirrorPrune", "Delete", "WaitForTermination", "Orphan")


class OnDeletion(StrEnum):
    """What to do with a deleted Kustomization's objects."""

    ORPHAN = "Orphan"
    DELETE = "Delete"
    DELETE_AND_WAIT = "WaitForTermination"

    @property
    def deletes(self) -> bool:
        """Whether the objects are deleted."""
        return self != OnDeletion.ORPHAN


def on_deletion(policy: str | None, *, prune: bool, suspended: bool = False) -> OnDeletion:
    """The action for ``policy`` (None: MirrorPrune) on a Kustomization being deleted."""
    if suspended:
        return OnDeletion.ORPHAN
    if policy in (None, "", "MirrorPrune"):
        return OnDeletion.DELETE if prune else OnDeletion.ORPHAN
    if policy == "Delete":
        return OnDeletion.DELETE
    if policy == "WaitForTermination":
        return OnDeletion.DELETE_AND_WAIT
    if policy == "Orphan":
        return OnDeletion.ORPHAN
    raise ValueError(
        f"unknown deletionPolicy {policy!r}: expected one of {', '.join(DELETION_POLICIES)}"
    )


def deletion_of(desired: Desired | None) -> OnDeletion:
    """What deleting a Kustomization does, as its last reconcile recorded it.

    Never built (no desired state): nothing was applied, so there is nothing to keep.
    """
    if desired is None:
        return OnDeletion.DELETE
    if not desired.deletion:  # recorded before deletionPolicy was: MirrorPrune
        return OnDeletion.DELETE if desired.prune else OnDeletion.ORPHAN
    return OnDeletion(desired.deletion)
