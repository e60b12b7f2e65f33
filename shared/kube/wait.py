"""Poll objects on a cluster until they are all healthy, one fails, or time runs out.

Each poll reads the objects not yet Current, side by side, and judges them with
``health.assess`` (with the ``healthCheckExprs`` rules, if any). With
``fail_fast`` (Flux's default) the wait ends as soon as one object is Failed.
A Job that has disappeared and has ``ttlSecondsAfterFinished`` counts as done,
since its TTL controller removes it once it finished. The clock and sleep are
injected so tests need not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from shared.kube.client import KubeClient
from shared.kube.customhealth import CustomHealth
from shared.kube.errors import KubeError, UnknownKindError
from shared.kube.health import HealthStatus, Status, assess
from shared.kube.inventory import ObjectRef
from shared.kube.parallel import run_all

__all__ = ["Target", "Unhealthy", "check_health", "describe", "wait_for", "wait_gone"]

Target = Mapping[str, Any] | ObjectRef
DEFAULT_POLL = 5.0


@dataclass(frozen=True)
class Unhealthy:
    """An object that was not healthy when the wait ended, and its last status."""

    ref: ObjectRef
    health: HealthStatus

    def __str__(self) -> str:
        text = f"{self.ref} status: '{self.health.status}'"
        return f"{text}: {self.health.message}" if self.health.message else text


def _stub(target: Target) -> dict[str, Any]:
    if isinstance(target, ObjectRef):
        meta = {"name": target.name, "namespace": target.namespace}
        return {"apiVersion": target.api_version, "kind": target.kind, "metadata": meta}
    return dict(target)


def _has_ttl(obj: Mapping[str, Any]) -> bool:
    spec = obj.get("spec") or {}
    return obj.get("kind") == "Job" and spec.get("ttlSecondsAfterFinished") is not None


def _status(
    client: KubeClient, obj: Mapping[str, Any], custom: CustomHealth | None
) -> HealthStatus:
    try:
        live = client.get(obj)
    except UnknownKindError as exc:
        return HealthStatus(Status.NOT_FOUND, str(exc))
    except KubeError as exc:
        return HealthStatus(Status.UNKNOWN, f"cannot read it: {exc}")
    if live is None and _has_ttl(obj):
        return HealthStatus(Status.CURRENT, "Job finished and was removed by its TTL")
    return assess(live, custom=custom)


def _ref(target: Target) -> ObjectRef:
    return target if isinstance(target, ObjectRef) else ObjectRef.from_object(target)


def check_health(
    client: KubeClient, targets: Iterable[Target], *, custom: CustomHealth | None = None
) -> list[Unhealthy]:
    """One look at ``targets``: those not Current, with their status (``custom``: CEL rules).

    The objects are read side by side (``parallel.py``).
    """
    wanted = list(targets)
    healths = run_all([partial(_status, client, _stub(t), custom) for t in wanted])
    return [
        Unhealthy(_ref(target), health)
        for target, health in zip(wanted, healths, strict=True)
        if not health.current
    ]


def wait_for(
    client: KubeClient,
    objects: Iterable[Target],
    *,
    timeout: float,
    poll: float = DEFAULT_POLL,
    fail_fast: bool = True,
    custom: CustomHealth | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Unhealthy]:
    """Wait until every object is Current; what is still not healthy at the end (empty: all)."""
    deadline = clock() + timeout
    pending: list[Target] = list(objects)
    while True:
        unhealthy = check_health(client, pending, custom=custom)
        if not unhealthy:
            return []
        failed = any(u.health.status == Status.FAILED for u in unhealthy)
        if (fail_fast and failed) or clock() >= deadline:
            return unhealthy
        still = {u.ref.id for u in unhealthy}
        pending = [t for t in pending if _ref(t).id in still]
        sleep(max(0.0, min(poll, deadline - clock())))


def _present(client: KubeClient, ref: ObjectRef) -> bool:
    try:
        return client.get(_stub(ref)) is not None
    except UnknownKindError:
        return False  # its kind is no longer served, so neither is the object
    except KubeError:
        return True  # cannot tell: keep waiting


def wait_gone(
    client: KubeClient,
    refs: Iterable[ObjectRef],
    *,
    timeout: float,
    poll: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ObjectRef]:
    """Wait until the API server no longer has any of ``refs`` (finalizers done); what remains."""
    deadline = clock() + timeout
    pending = list(refs)
    while True:
        present = run_all([partial(_present, client, ref) for ref in pending])
        pending = [ref for ref, there in zip(pending, present, strict=True) if there]
        if not pending or clock() >= deadline:
            return pending
        sleep(max(0.0, min(poll, deadline - clock())))


def describe(unhealthy: Iterable[Unhealthy]) -> str:
    """Flux's message for a failed wait, naming every object still not healthy."""
    items = list(unhealthy)
    listing = ", ".join(str(u) for u in items)
    if any(u.health.status == Status.FAILED for u in items):
        return f"failed early due to stalled resources: [{listing}]"
    return f"timeout waiting for: [{listing}]"
