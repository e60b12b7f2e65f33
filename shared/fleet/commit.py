"""Store a build's toolkit objects once every target cluster applied the build.

A revision is all or nothing across the store and the clusters: its objects for
sluice's own store (a Kustomization's GitRepositories, Kustomizations, ...) are
kept with the desired build and written only when the apply of that build
passed on every target cluster (the dry run included: a health check or prune
that fails after it does not hold them back, as Flux has applied them by then).
One target that refuses the build, or cannot be reached, keeps the previous
revision's toolkit objects in the store; Flux has one cluster, and "refused
there → nothing stored" is this rule for one target.

Each cluster's run records that its apply passed (``FleetState.mark_applied``)
*before* it looks at the others, so of two runs that end together at least the
later one sees both and commits. Committing twice writes nothing new (the
store's apply is idempotent), and a run that finds a newer desired build leaves
the commit to that build's runs. A build with no cluster objects, or no target,
has nothing a cluster could refuse: its reconcile commits it at once.

An object another owner holds is refused (the store names the owner), unless
that owner's newest build no longer yields it (``released_by``): the object
moved between Kustomizations in Git, and is handed over as it is, never
deleted by the old owner's prune and created again by the new one.
"""

from __future__ import annotations

from shared.fleet.state import Desired, FleetState
from shared.keys import ObjectKey
from shared.store import Released, Store

__all__ = ["CommitExpired", "all_applied", "commit", "commit_when_applied", "released_by"]


class CommitExpired(Exception):
    """The build's toolkit objects are no longer kept (expired): a new reconcile rebuilds."""


def all_applied(desired: Desired, applied: dict[str, str]) -> bool:
    """Whether every target of ``desired`` applied exactly this build."""
    return all(applied.get(target) == desired.token for target in desired.targets)


def released_by(state: FleetState) -> Released:
    """Whether an object's owner lets it go: its newest build no longer yields it."""
    builds: dict[ObjectKey, set[ObjectKey] | None] = {}

    def yielded(holder: ObjectKey) -> set[ObjectKey] | None:
        if holder not in builds:
            desired = state.desired(holder)
            objects = state.build(desired.store_key) if desired and desired.store_key else None
            builds[holder] = (
                None if objects is None else {ObjectKey.of(o, holder.scope) for o in objects}
            )
        return builds[holder]

    def released(key: ObjectKey, holder: ObjectKey) -> bool:
        keys = yielded(holder)
        return keys is not None and key not in keys

    return released


def commit(store: Store, state: FleetState, key: ObjectKey, desired: Desired) -> None:
    """Store the build's toolkit objects owned by ``key``; with prune, drop what left it.

    Raises the store's errors (OwnedByAnother names the owner) with nothing written.
    """
    objects = state.build(desired.store_key)
    if objects is None:
        raise CommitExpired(f"the toolkit objects of revision {desired.revision} expired")
    store.apply_all(objects, owner=key, scope=key.scope, released=released_by(state))
    if desired.prune:
        keep = {ObjectKey.of(obj, key.scope) for obj in objects}
        for owned in store.list_owned(key):
            if owned not in keep:
                store.delete(owned)


def commit_when_applied(store: Store, state: FleetState, key: ObjectKey, desired: Desired) -> bool:
    """Commit ``desired`` if it is still the newest and every target applied it; say if so."""
    if not desired.store_key or store.get(key) is None:
        return False  # nothing to store, or the owner was deleted meanwhile
    newest, applied = state.desired_and_applied(key)
    if newest is None or newest.token != desired.token:
        return False
    if not all_applied(newest, applied):
        return False
    commit(store, state, key, newest)
    return True
