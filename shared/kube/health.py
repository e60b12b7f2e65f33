"""Health of one Kubernetes object by the kstatus rules Flux waits with (§1.6).

Pure: ``assess`` reads an object dict as the API server returned it (None when
it does not exist) and says Current, InProgress, Failed, Terminating or
NotFound, with kstatus's messages. Generic rules come first (deletion,
unobserved generation, Reconciling/Stalled conditions), then the kind's own,
then a Ready condition, and otherwise the object is Current. A kind with a
``healthCheckExprs`` rule (``customhealth.py``) is judged by that rule instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.kube.customhealth import CustomHealth

__all__ = ["SCHEDULE_WINDOW", "HealthStatus", "Status", "assess"]

# kstatus gives a Pod this long to be scheduled before calling it Failed.
SCHEDULE_WINDOW = timedelta(seconds=15)
_NO_DEADLINE = 2**31 - 1


class Status(StrEnum):
    """kstatus result values; Unknown is for objects that could not be read."""

    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class HealthStatus:
    """A status and kstatus's message for it."""

    status: Status
    message: str = ""

    @property
    def current(self) -> bool:
        """Whether the object is healthy."""
        return self.status == Status.CURRENT

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else str(self.status)


Obj = Mapping[str, Any]


def _current(message: str) -> HealthStatus:
    return HealthStatus(Status.CURRENT, message)


def _progress(message: str) -> HealthStatus:
    return HealthStatus(Status.IN_PROGRESS, message)


def _failed(message: str) -> HealthStatus:
    return HealthStatus(Status.FAILED, message)


def _field(obj: Obj, path: str, default: Any) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return default if node is None else node


def _int(obj: Obj, path: str, default: int) -> int:
    value = _field(obj, path, default)
    return value if isinstance(value, int) else default


def _conditions(obj: Obj) -> list[Mapping[str, Any]]:
    conds = _field(obj, "status.conditions", [])
    return [c for c in conds if isinstance(c, Mapping)] if isinstance(conds, list) else []


def _condition(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    return next((c for c in _conditions(obj) if c.get("type") == kind), None)


def _is_true(obj: Obj, kind: str) -> bool:
    cond = _condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def _generic(obj: Obj) -> HealthStatus | None:
    if _field(obj, "metadata.deletionTimestamp", ""):
        return HealthStatus(Status.TERMINATING, "Resource scheduled for deletion")
    generation = _field(obj, "metadata.generation", None)
    observed = _field(obj, "status.observedGeneration", None)
    if isinstance(generation, int) and isinstance(observed, int) and generation != observed:
        kind = obj.get("kind", "")
        return _progress(
            f"{kind} generation is {generation}, but latest observed generation is {observed}"
        )
    for cond in _conditions(obj):
        if cond.get("type") == "Reconciling" and cond.get("status") == "True":
            return _progress(str(cond.get("message") or cond.get("reason") or "Reconciling"))
        if cond.get("type") == "Stalled" and cond.get("status") == "True":
            return _failed(str(cond.get("message") or cond.get("reason") or "Stalled"))
    return None


def _deployment(obj: Obj, now: datetime) -> HealthStatus:
    progressing = _int(obj, "spec.progressDeadlineSeconds", _NO_DEADLINE) == _NO_DEADLINE
    available = False
    for cond in _conditions(obj):
        if cond.get("type") == "Progressing":
            if cond.get("reason") == "ProgressDeadlineExceeded":
                return _failed("Progress deadline exceeded")
            if cond.get("status") == "True" and cond.get("reason") == "NewReplicaSetAvailable":
                progressing = True
        elif cond.get("type") == "Available" and cond.get("status") == "True":
            available = True
    spec = _int(obj, "spec.replicas", 1)
    replicas = _int(obj, "status.replicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    ready = _int(obj, "status.readyReplicas", 0)
    avail = _int(obj, "status.availableReplicas", 0)
    if spec > replicas:
        return _progress(f"replicas: {replicas}/{spec}")
    if spec > updated:
        return _progress(f"Updated: {updated}/{spec}")
    if replicas > spec:
        return _progress(f"Pending termination: {replicas - spec}")
    if updated > avail:
        return _progress(f"Available: {avail}/{updated}")
    if spec > ready:
        return _progress(f"Ready: {ready}/{spec}")
    if not progressing:
        return _progress("ReplicaSet not Available")
    if not available:
        return _progress("Deployment not Available")
    return _current(f"Deployment is available. Replicas: {replicas}")


def _statefulset(obj: Obj, now: datetime) -> HealthStatus:
    if _field(obj, "spec.updateStrategy.type", "") == "OnDelete":
        return _current("StatefulSet is using the ondelete update strategy")
    spec = _int(obj, "spec.replicas", 1)
    ready = _int(obj, "status.readyReplicas", 0)
    current = _int(obj, "status.currentReplicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    replicas = _int(obj, "status.replicas", 0)
    partition = _int(obj, "spec.updateStrategy.rollingUpdate.partition", -1)
    if spec > replicas:
        return _progress(f"Replicas: {replicas}/{spec}")
    if spec > ready:
        return _progress(f"Ready: {ready}/{spec}")
    if replicas > spec:
        return _progress(f"Pending termination: {replicas - spec}")
    if partition != -1:
        if updated < spec - partition:
            return _progress(f"updated: {updated}/{spec - partition}")
        return _current(f"Partition rollout complete. updated: {updated}")
    if spec > current:
        return _progress(f"current: {current}/{spec}")
    if _field(obj, "status.currentRevision", "") != _field(obj, "status.updateRevision", ""):
        return _progress("Waiting for updated revision to match current")
    return _current(f"All replicas scheduled as expected. Replicas: {replicas}")


def _daemonset(obj: Obj, now: datetime) -> HealthStatus:
    # The DaemonSet controller always writes observedGeneration, so its absence means
    # it has not looked yet (the generic rule is lenient about that).
    if not isinstance(_field(obj, "metadata.generation", None), int):
        return _progress("Missing .metadata.generation field")
    if not isinstance(_field(obj, "status.observedGeneration", None), int):
        return _progress("Missing .status.observedGeneration field")
    desired = _int(obj, "status.desiredNumberScheduled", -1)
    if desired == -1:
        return _progress("Missing .status.desiredNumberScheduled")
    for path, label in (
        ("status.currentNumberScheduled", "Current"),
        ("status.updatedNumberScheduled", "Updated"),
        ("status.numberAvailable", "Available"),
        ("status.numberReady", "Ready"),
    ):
        have = _int(obj, path, 0)
        if desired > have:
            return _progress(f"{label}: {have}/{desired}")
    return _current(f"All replicas scheduled as expected. Replicas: {desired}")


def _replicaset(obj: Obj, now: datetime) -> HealthStatus:
    if _is_true(obj, "ReplicaFailure"):
        return _progress("Replica Failure condition. Check Pods")
    spec = _int(obj, "spec.replicas", 1)
    for path, label in (
        ("status.fullyLabeledReplicas", "Labelled"),
        ("status.availableReplicas", "Available"),
        ("status.readyReplicas", "Ready"),
    ):
        have = _int(obj, path, 0)
        if spec > have:
            return _progress(f"{label}: {have}/{spec}")
    replicas = _int(obj, "status.replicas", 0)
    if replicas > spec:
        return _progress(f"Pending termination: {replicas - spec}")
    return _current(f"ReplicaSet is available. Replicas: {replicas}")


def _created_at(obj: Obj) -> datetime | None:
    stamp = _field(obj, "metadata.creationTimestamp", "")
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def _pod(obj: Obj, now: datetime) -> HealthStatus:
    phase = _field(obj, "status.phase", "")
    if phase == "Succeeded":
        return _current("Pod has completed successfully")
    if phase == "Failed":
        return _current("Pod has completed, but not successfully")
    if phase == "Running":
        if _is_true(obj, "Ready"):
            return _current("Pod is Ready")
        looping = [
            str(c.get("name", ""))
            for c in _field(obj, "status.containerStatuses", [])
            if isinstance(c, Mapping)
            and _field(c, "state.waiting.reason", "") == "CrashLoopBackOff"
        ]
        if looping:
            return _failed(f"Containers in CrashLoop state: {','.join(looping)}")
        return _progress("Pod is running but is not Ready")
    if phase == "Pending":
        cond = _condition(obj, "PodScheduled")
        if cond and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
            created = _created_at(obj)
            if created is not None and now - created > SCHEDULE_WINDOW:
                return _failed("Pod could not be scheduled")
            return _progress("Pod has not been scheduled")
        return _progress("Pod is in the Pending phase")
    if not phase:
        return _progress("Pod phase not available")
    return HealthStatus(Status.UNKNOWN, f"unknown phase {phase}")


def _job(obj: Obj, now: datetime) -> HealthStatus:
    # Flux's Job reader, not kstatus's: a running Job is InProgress until it completes.
    parallelism = _int(obj, "spec.parallelism", 1)
    completions = _int(obj, "spec.completions", parallelism)
    succeeded = _int(obj, "status.succeeded", 0)
    if _is_true(obj, "Complete"):
        return _current(f"Job Completed. succeeded: {succeeded}/{completions}")
    failed = _condition(obj, "Failed")
    if failed and failed.get("status") == "True":
        detail = failed.get("message") or failed.get("reason") or ""
        count = _int(obj, "status.failed", 0)
        suffix = f": {detail}" if detail else ""
        return _failed(f"Job Failed. failed: {count}/{completions}{suffix}")
    if _is_true(obj, "Suspended") or _field(obj, "spec.suspend", False) is True:
        return _current("Job is suspended")
    if not _field(obj, "status.startTime", ""):
        return _progress("Job not started")
    active = _int(obj, "status.active", 0)
    return _progress(f"Job in progress. succeeded: {succeeded}/{completions}, active: {active}")


def _pvc(obj: Obj, now: datetime) -> HealthStatus:
    phase = _field(obj, "status.phase", "unknown")
    if phase != "Bound":
        return _progress(f"PVC is not Bound. phase: {phase}")
    return _current("PVC is Bound")


def _service(obj: Obj, now: datetime) -> HealthStatus:
    if _field(obj, "spec.type", "ClusterIP") == "LoadBalancer" and not _field(
        obj, "spec.clusterIP", ""
    ):
        return _progress("ClusterIP not set. Service type: LoadBalancer")
    return _current("Service is ready")


def _crd(obj: Obj, now: datetime) -> HealthStatus:
    for cond in _conditions(obj):
        kind, status = cond.get("type"), cond.get("status")
        if kind == "NamesAccepted" and status == "False":
            return _failed(str(cond.get("message") or "CRD names not accepted"))
        if kind == "Established":
            if status == "False" and cond.get("reason") != "Installing":
                return _failed(str(cond.get("message") or "CRD not established"))
            if status == "True":
                return _current("CRD is established")
    return _progress("Install in progress")


def _namespace(obj: Obj, now: datetime) -> HealthStatus:
    if _field(obj, "status.phase", "Active") == "Terminating":
        return HealthStatus(Status.TERMINATING, "Namespace is terminating")
    return _current("Namespace is active")


def _always(obj: Obj, now: datetime) -> HealthStatus:
    return _current("Resource is always ready")


_KIND_RULES: dict[tuple[str, str], Callable[[Obj, datetime], HealthStatus]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "Pod"): _pod,
    ("batch", "Job"): _job,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("", "Namespace"): _namespace,
    ("", "ConfigMap"): _always,
    ("", "Secret"): _always,
    ("batch", "CronJob"): _always,
    ("policy", "PodDisruptionBudget"): _always,
}


def _ready_condition(obj: Obj) -> HealthStatus | None:
    cond = _condition(obj, "Ready")
    if cond is None:
        return None
    if cond.get("status") == "True":
        return _current("Resource is Ready")
    if cond.get("status") in ("False", "Unknown"):
        return _progress(str(cond.get("message") or cond.get("reason") or "Resource not Ready"))
    return None


def assess(
    obj: Mapping[str, Any] | None,
    *,
    now: datetime | None = None,
    custom: CustomHealth | None = None,
) -> HealthStatus:
    """The kstatus health of ``obj`` (None: it does not exist); ``now`` is for Pod scheduling.

    A kind that ``custom`` (``healthCheckExprs``) has a rule for is judged by
    that rule alone, as Flux's CEL status reader replaces the generic one.
    """
    if obj is None:
        return HealthStatus(Status.NOT_FOUND, "Resource not found")
    judged = custom.assess(obj) if custom is not None else None
    if judged is not None:
        return HealthStatus(Status(judged[0]), judged[1])
    generic = _generic(obj)
    if generic is not None:
        return generic
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    rule = _KIND_RULES.get((group, str(obj.get("kind", ""))))
    if rule is not None:
        return rule(obj, now or datetime.now(UTC))
    return _ready_condition(obj) or _current("Resource is current")
