"""kstatus health rules, one table row per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.kube.health import Status, assess

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

CURRENT, PROGRESS, FAILED = Status.CURRENT, Status.IN_PROGRESS, Status.FAILED


def make(
    api_version: str,
    kind: str,
    *,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int | None = None,
    **meta: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "x", "namespace": "n", **meta}
    if generation is not None:
        metadata["generation"] = generation
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        out["spec"] = spec
    if status is not None:
        out["status"] = status
    return out


def cond(kind: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def deploy(status: dict[str, Any], replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return make("apps/v1", "Deployment", spec={"replicas": replicas, **spec}, status=status)


AVAILABLE = {
    "replicas": 2,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
    "conditions": [
        cond("Progressing", "True", "NewReplicaSetAvailable"),
        cond("Available", "True", "MinimumReplicasAvailable"),
    ],
}

CASES: list[tuple[str, dict[str, Any] | None, Status, str]] = [
    ("missing object", None, Status.NOT_FOUND, "not found"),
    (
        "being deleted",
        make("v1", "ConfigMap", deletionTimestamp="2026-01-01T00:00:00Z"),
        Status.TERMINATING,
        "scheduled for deletion",
    ),
    (
        "generation not observed",
        make("example.com/v1", "Widget", generation=3, status={"observedGeneration": 2}),
        PROGRESS,
        "Widget generation is 3, but latest observed generation is 2",
    ),
    (
        "Reconciling condition",
        make(
            "example.com/v1",
            "Widget",
            status={"conditions": [cond("Reconciling", "True", "R", "busy")]},
        ),
        PROGRESS,
        "busy",
    ),
    (
        "Stalled condition",
        make(
            "example.com/v1",
            "Widget",
            status={"conditions": [cond("Stalled", "True", "S", "stuck")]},
        ),
        FAILED,
        "stuck",
    ),
    (
        "Ready=True",
        make("example.com/v1", "W", status={"conditions": [cond("Ready", "True")]}),
        CURRENT,
        "Ready",
    ),
    (
        "Ready=False",
        make(
            "example.com/v1",
            "W",
            status={"conditions": [cond("Ready", "False", "Wait", "not yet")]},
        ),
        PROGRESS,
        "not yet",
    ),
    ("unknown kind without status", make("example.com/v1", "Widget"), CURRENT, "current"),
    ("ConfigMap", make("v1", "ConfigMap"), CURRENT, ""),
    ("Secret", make("v1", "Secret"), CURRENT, ""),
    ("PodDisruptionBudget", make("policy/v1", "PodDisruptionBudget", status={}), CURRENT, ""),
    # Deployment
    ("Deployment just created", deploy({}), PROGRESS, "replicas: 0/2"),
    (
        "Deployment default replicas",
        make("apps/v1", "Deployment", spec={}),
        PROGRESS,
        "replicas: 0/1",
    ),
    ("Deployment available", deploy(AVAILABLE), CURRENT, "Deployment is available. Replicas: 2"),
    (
        "Deployment not updated",
        deploy({**AVAILABLE, "updatedReplicas": 1}),
        PROGRESS,
        "Updated: 1/2",
    ),
    (
        "Deployment surplus",
        deploy({**AVAILABLE, "replicas": 3}),
        PROGRESS,
        "Pending termination: 1",
    ),
    (
        "Deployment less available",
        deploy({**AVAILABLE, "availableReplicas": 1}),
        PROGRESS,
        "Available: 1/2",
    ),
    ("Deployment less ready", deploy({**AVAILABLE, "readyReplicas": 1}), PROGRESS, "Ready: 1/2"),
    (
        "Deployment deadline exceeded",
        deploy(
            {**AVAILABLE, "conditions": [cond("Progressing", "False", "ProgressDeadlineExceeded")]}
        ),
        FAILED,
        "Progress deadline exceeded",
    ),
    (
        "Deployment new RS not yet available",
        deploy(
            {
                **AVAILABLE,
                "conditions": [
                    cond("Available", "True"),
                    cond("Progressing", "True", "ReplicaSetUpdated"),
                ],
            },
            progressDeadlineSeconds=600,
        ),
        PROGRESS,
        "ReplicaSet not Available",
    ),
    (
        "Deployment without deadline needs no Progressing",
        deploy(
            {**AVAILABLE, "conditions": [cond("Available", "True")]},
            progressDeadlineSeconds=2**31 - 1,
        ),
        CURRENT,
        "",
    ),
    (
        "Deployment not Available",
        deploy(
            {**AVAILABLE, "conditions": [cond("Progressing", "True", "NewReplicaSetAvailable")]}
        ),
        PROGRESS,
        "Deployment not Available",
    ),
    (
        "Deployment older generation observed",
        {
            **deploy({**AVAILABLE, "observedGeneration": 1}),
            "metadata": {"name": "x", "generation": 2},
        },
        PROGRESS,
        "Deployment generation is 2, but latest observed generation is 1",
    ),
    # StatefulSet
    (
        "StatefulSet ready",
        make(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 2},
            status={
                "replicas": 2,
                "readyReplicas": 2,
                "currentReplicas": 2,
                "currentRevision": "a",
                "updateRevision": "a",
            },
        ),
        CURRENT,
        "All replicas scheduled",
    ),
    (
        "StatefulSet revision mismatch",
        make(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 1},
            status={
                "replicas": 1,
                "readyReplicas": 1,
                "currentReplicas": 1,
                "currentRevision": "a",
                "updateRevision": "b",
            },
        ),
        PROGRESS,
        "Waiting for updated revision",
    ),
    (
        "StatefulSet less ready",
        make(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 3},
            status={"replicas": 3, "readyReplicas": 1},
        ),
        PROGRESS,
        "Ready: 1/3",
    ),
    (
        "StatefulSet partition rolled out",
        make(
            "apps/v1",
            "StatefulSet",
            spec={
                "replicas": 3,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            },
            status={"replicas": 3, "readyReplicas": 3, "updatedReplicas": 1},
        ),
        CURRENT,
        "Partition rollout complete",
    ),
    (
        "StatefulSet partition rolling",
        make(
            "apps/v1",
            "StatefulSet",
            spec={"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 1}}},
            status={"replicas": 3, "readyReplicas": 3, "updatedReplicas": 1},
        ),
        PROGRESS,
        "updated: 1/2",
    ),
    (
        "StatefulSet OnDelete",
        make("apps/v1", "StatefulSet", spec={"updateStrategy": {"type": "OnDelete"}}, status={}),
        CURRENT,
        "ondelete",
    ),
    # DaemonSet
    (
        "DaemonSet not observed",
        make("apps/v1", "DaemonSet", generation=1, status={}),
        PROGRESS,
        "observedGeneration",
    ),
    (
        "DaemonSet all scheduled",
        make(
            "apps/v1",
            "DaemonSet",
            generation=1,
            status={
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "currentNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 3,
                "numberReady": 3,
            },
        ),
        CURRENT,
        "Replicas: 3",
    ),
    (
        "DaemonSet less available",
        make(
            "apps/v1",
            "DaemonSet",
            generation=1,
            status={
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "currentNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 2,
            },
        ),
        PROGRESS,
        "Available: 2/3",
    ),
    # ReplicaSet
    (
        "ReplicaSet ready",
        make(
            "apps/v1",
            "ReplicaSet",
            spec={"replicas": 2},
            status={
                "replicas": 2,
                "fullyLabeledReplicas": 2,
                "availableReplicas": 2,
                "readyReplicas": 2,
            },
        ),
        CURRENT,
        "ReplicaSet is available",
    ),
    (
        "ReplicaSet failure",
        make("apps/v1", "ReplicaSet", status={"conditions": [cond("ReplicaFailure", "True")]}),
        PROGRESS,
        "Replica Failure",
    ),
    # Pod
    (
        "Pod succeeded",
        make("v1", "Pod", status={"phase": "Succeeded"}),
        CURRENT,
        "completed successfully",
    ),
    (
        "Pod failed phase",
        make("v1", "Pod", status={"phase": "Failed"}),
        CURRENT,
        "not successfully",
    ),
    (
        "Pod running and ready",
        make("v1", "Pod", status={"phase": "Running", "conditions": [cond("Ready", "True")]}),
        CURRENT,
        "Pod is Ready",
    ),
    (
        "Pod crash looping",
        make(
            "v1",
            "Pod",
            status={
                "phase": "Running",
                "containerStatuses": [
                    {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ],
            },
        ),
        FAILED,
        "CrashLoop state: app",
    ),
    (
        "Pod running not ready",
        make("v1", "Pod", status={"phase": "Running"}),
        PROGRESS,
        "not Ready",
    ),
    (
        "Pod unschedulable for long",
        make(
            "v1",
            "Pod",
            creationTimestamp=(NOW - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            status={
                "phase": "Pending",
                "conditions": [cond("PodScheduled", "False", "Unschedulable")],
            },
        ),
        FAILED,
        "could not be scheduled",
    ),
    (
        "Pod unschedulable briefly",
        make(
            "v1",
            "Pod",
            creationTimestamp=(NOW - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            status={
                "phase": "Pending",
                "conditions": [cond("PodScheduled", "False", "Unschedulable")],
            },
        ),
        PROGRESS,
        "not been scheduled",
    ),
    ("Pod without phase", make("v1", "Pod", status={}), PROGRESS, "phase not available"),
    # Job
    ("Job not started", make("batch/v1", "Job", spec={}, status={}), PROGRESS, "Job not started"),
    (
        "Job running",
        make(
            "batch/v1",
            "Job",
            spec={"completions": 2},
            status={"startTime": "t", "active": 1, "succeeded": 1},
        ),
        PROGRESS,
        "succeeded: 1/2",
    ),
    (
        "Job complete",
        make(
            "batch/v1",
            "Job",
            spec={},
            status={"succeeded": 1, "conditions": [cond("Complete", "True")]},
        ),
        CURRENT,
        "Job Completed",
    ),
    (
        "Job failed",
        make(
            "batch/v1",
            "Job",
            spec={},
            status={"failed": 6, "conditions": [cond("Failed", "True", "BackoffLimitExceeded")]},
        ),
        FAILED,
        "BackoffLimitExceeded",
    ),
    (
        "Job suspended",
        make("batch/v1", "Job", spec={"suspend": True}, status={}),
        CURRENT,
        "suspended",
    ),
    # PVC, Service, CRD, Namespace
    (
        "PVC pending",
        make("v1", "PersistentVolumeClaim", status={"phase": "Pending"}),
        PROGRESS,
        "phase: Pending",
    ),
    ("PVC bound", make("v1", "PersistentVolumeClaim", status={"phase": "Bound"}), CURRENT, "Bound"),
    ("Service ClusterIP", make("v1", "Service", spec={"clusterIP": "10.0.0.1"}), CURRENT, ""),
    (
        "LoadBalancer without IP",
        make("v1", "Service", spec={"type": "LoadBalancer"}),
        PROGRESS,
        "ClusterIP not set",
    ),
    (
        "CRD established",
        make(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            status={"conditions": [cond("Established", "True")]},
        ),
        CURRENT,
        "established",
    ),
    (
        "CRD installing",
        make(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            status={"conditions": [cond("Established", "False", "Installing")]},
        ),
        PROGRESS,
        "Install in progress",
    ),
    (
        "CRD names not accepted",
        make(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            status={"conditions": [cond("NamesAccepted", "False", "Conflict", "plural in use")]},
        ),
        FAILED,
        "plural in use",
    ),
    ("Namespace active", make("v1", "Namespace", status={"phase": "Active"}), CURRENT, "active"),
    (
        "Namespace terminating",
        make("v1", "Namespace", status={"phase": "Terminating"}),
        Status.TERMINATING,
        "",
    ),
]


@pytest.mark.parametrize(
    ("obj", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_assess(obj: dict[str, Any] | None, status: Status, message: str) -> None:
    health = assess(obj, now=NOW)
    assert health.status == status
    assert message in health.message
    assert health.current == (status == CURRENT)


def test_status_prints_with_its_message() -> None:
    assert str(assess(deploy({}))) == "InProgress: replicas: 0/2"
