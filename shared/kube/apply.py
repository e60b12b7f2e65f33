"""Staged server-side apply of one revision to one cluster, all or nothing (§3.6).

First the whole revision is planned (``plan.py``: a server-side dry run of every
object); if the API server refuses any object nothing is applied. Then only
changed objects are patched, stage by stage, with field manager ``sluice``
forcing conflicts as Flux does (manual edits of the fields sluice manages are
reverted), waiting for definitions and classes to be ready. Objects deferred
until the definitions stage (their kind or namespace comes with the revision)
are dry-run once that stage is applied and ready, before any later stage, so a
refusal then leaves only those additive definitions applied. Objects to be
recreated (``force``) are deleted and waited for first; kubectl's leftovers are
taken over before the patch.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from shared.kube.client import KubeClient
from shared.kube.errors import ApiError
from shared.kube.inventory import Action, Change, ChangeSet, ObjectError
from shared.kube.order import DEFINITIONS
from shared.kube.owner import Owner
from shared.kube.parallel import run_all
from shared.kube.plan import (
    FIELD_MANAGER,
    ApplyError,
    ApplyOptions,
    ObjectPlan,
    plan,
    plan_late,
)
from shared.kube.takeover import take_over
from shared.kube.wait import wait_for

# ApplyError, ApplyOptions and FIELD_MANAGER are plan.py's, named here for apply's callers.
__all__ = ["FIELD_MANAGER", "ApplyError", "ApplyOptions", "apply"]


def _wait_gone(client: KubeClient, planned: ObjectPlan, options: ApplyOptions) -> str:
    """Delete the object to recreate and wait until it is gone; "" or why it is not."""
    uid = (planned.live or {}).get("metadata", {}).get("uid", "")
    client.delete(planned.obj, propagation="Background", uid=uid)
    deadline = time.monotonic() + options.wait_timeout
    while (live := client.get(planned.obj)) is not None and live["metadata"].get("uid") == uid:
        if time.monotonic() >= deadline:
            return f"still terminating after {options.wait_timeout:g}s, cannot recreate it"
        time.sleep(options.poll)
    return ""


def _patch(client: KubeClient, planned: ObjectPlan, options: ApplyOptions) -> ObjectError | None:
    """Recreate, take over and patch one changed object; why it failed, or None."""
    try:
        if planned.recreate and (stuck := _wait_gone(client, planned, options)):
            return ObjectError(planned.ref, "Timeout", stuck, "recreate")
        if planned.cleanup:
            take_over(client, planned.obj, options.field_manager, options.override_managers)
        applied = client.apply(planned.obj, field_manager=options.field_manager)
    except ApiError as exc:
        client.known.forget(planned.digest)
        return ObjectError(planned.ref, exc.reason, exc.message, "apply")
    client.known.remember(planned.digest, applied)
    return None


def _execute(
    client: KubeClient, plans: Sequence[ObjectPlan], options: ApplyOptions, done: list[Change]
) -> None:
    """Patch the changed objects of one stage together, recording every plan that held in ``done``.

    Objects of one stage do not depend on each other (order.py puts what others
    need in earlier stages), so their patches go out at once (``parallel.py``).
    """
    changed = [p for p in plans if p.action in (Action.CREATED, Action.CONFIGURED)]
    failures = dict(
        zip(
            (id(p) for p in changed),
            run_all([partial(_patch, client, p, options) for p in changed]),
            strict=True,
        )
    )
    done += [Change(p.ref, p.action) for p in plans if failures.get(id(p)) is None]
    errors = [error for error in failures.values() if error is not None]
    if errors:
        raise ApplyError(errors, changes=ChangeSet(tuple(done)))


def _wait_stage(
    client: KubeClient, plans: Sequence[ObjectPlan], options: ApplyOptions, done: list[Change]
) -> None:
    if not any(p.action in (Action.CREATED, Action.CONFIGURED) for p in plans):
        return
    targets = [p.obj for p in plans if p.action != Action.SKIPPED]
    unhealthy = wait_for(client, targets, timeout=options.wait_timeout, poll=options.poll)
    if unhealthy:
        errors = [
            ObjectError(u.ref, str(u.health.status), u.health.message, "wait") for u in unhealthy
        ]
        raise ApplyError(errors, changes=ChangeSet(tuple(done)))


def apply(
    client: KubeClient,
    objects: Sequence[Mapping[str, Any]],
    *,
    owner: Owner,
    options: ApplyOptions | None = None,
) -> ChangeSet:
    """Apply one revision; what happened to each object, or ApplyError and nothing applied."""
    options = options or ApplyOptions()
    staged = plan(client, objects, owner=owner, options=options).stages
    deferred = [p.obj for stage in staged for p in stage.objects if p.deferred]
    late: dict[int, ObjectPlan] = {}  # by id() of the deferred object
    done: list[Change] = []
    for stage in staged:
        ready = [p for p in stage.objects if id(p.obj) in late or not p.deferred]
        current = [late.get(id(p.obj), p) for p in ready]
        _execute(client, current, options, done)
        if stage.wait:
            _wait_stage(client, current, options, done)
        if stage.name == DEFINITIONS and deferred:
            plans, errors = plan_late(client, deferred, options)
            if errors:
                raise ApplyError(errors, changes=ChangeSet(tuple(done)))
            late.update((id(obj), p) for obj, p in zip(deferred, plans, strict=True))
            # A deferred object of this very stage (a custom kind named like one) goes now.
            own = [late[id(p.obj)] for p in stage.objects if p.deferred]
            _execute(client, own, options, done)
    return ChangeSet(tuple(done))
