"""deletionPolicy: what a deleted Kustomization does with its objects, as Flux decides."""

from __future__ import annotations

import pytest

from services.kustomize.deletion import OnDeletion, deletion_of, on_deletion
from shared.fleet.state import Desired


@pytest.mark.parametrize(
    ("policy", "prune", "suspended", "action"),
    [
        (None, True, False, OnDeletion.DELETE),
        (None, False, False, OnDeletion.ORPHAN),
        ("MirrorPrune", True, False, OnDeletion.DELETE),
        ("MirrorPrune", False, False, OnDeletion.ORPHAN),
        ("Delete", False, False, OnDeletion.DELETE),
        ("Delete", True, False, OnDeletion.DELETE),
        ("WaitForTermination", False, False, OnDeletion.DELETE_AND_WAIT),
        ("Orphan", True, False, OnDeletion.ORPHAN),
        ("Orphan", False, False, OnDeletion.ORPHAN),
        # A suspended Kustomization leaves everything in place, whatever the policy.
        ("Delete", True, True, OnDeletion.ORPHAN),
        ("WaitForTermination", True, True, OnDeletion.ORPHAN),
        (None, True, True, OnDeletion.ORPHAN),
    ],
)
def test_the_policy_decides_what_deletion_does(
    policy: str | None, prune: bool, suspended: bool, action: OnDeletion
) -> None:
    assert on_deletion(policy, prune=prune, suspended=suspended) == action


def test_only_orphan_keeps_the_objects() -> None:
    assert [a for a in OnDeletion if not a.deletes] == [OnDeletion.ORPHAN]


def test_an_unknown_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown deletionPolicy 'Keep'"):
        on_deletion("Keep", prune=True)


def desired(*, prune: bool, deletion: str = "") -> Desired:
    return Desired("main@sha1:1", "k", ("default",), 1, prune=prune, deletion=deletion)


@pytest.mark.parametrize(
    ("recorded", "action"),
    [
        (None, OnDeletion.DELETE),  # never built: nothing to keep
        (desired(prune=True), OnDeletion.DELETE),  # recorded before deletionPolicy
        (desired(prune=False), OnDeletion.ORPHAN),
        (desired(prune=False, deletion="Delete"), OnDeletion.DELETE),
        (desired(prune=True, deletion="Orphan"), OnDeletion.ORPHAN),
        (desired(prune=False, deletion="WaitForTermination"), OnDeletion.DELETE_AND_WAIT),
    ],
)
def test_a_deleted_kustomization_does_what_its_last_reconcile_recorded(
    recorded: Desired | None, action: OnDeletion
) -> None:
    assert deletion_of(recorded) == action
