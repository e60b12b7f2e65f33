"""What lets a sandbox cluster run workloads: a controller-manager, a scheduler and kwok nodes.

An API-only cluster stores objects and nothing acts on them: a Deployment
stays 0/1, a Job never completes, a deleted Namespace stays Terminating. A
full cluster also runs, each talking to its own apiserver:

- kube-controller-manager: namespace, garbage-collector, deployment,
  replicaset, job, service-account (and token signing) controllers, all of
  its defaults;
- kube-scheduler, which binds pods to nodes;
- kwok, which plays the kubelet for ``NODES`` simulated nodes: it keeps them
  Ready and moves the pods bound to them through their lifecycle (Running and
  Ready; a Job's pods then Succeeded) without running any container.

A pod no node can take (say, an unknown nodeSelector) stays Pending, as on
any cluster.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.sandbox.admin import AdminClient
from shared.sandbox.certs import Credentials
from shared.sandbox.kwokstages import KWOK_STAGES
from shared.sandbox.state import ServerRecord
from shared.settings import Settings
from shared.tools import require_tool

__all__ = [
    "COMPONENTS",
    "KWOK_CONFIG",
    "NODES",
    "WorkloadTools",
    "component_ready",
    "node_names",
    "register_nodes",
    "workload_records",
    "write_kwok_config",
]

# The processes of one full cluster, in start order; a record is named
# ``cluster-N-<component>``.
COMPONENTS = ("controller-manager", "scheduler", "kwok")
NODES = 2
KWOK_CONFIG = "kwok.yaml"
# Pod addresses kwok hands out: apart from the service range (10.0.0.0/24).
_POD_CIDR = "10.244.0.0/16"
_NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110"}


@dataclass(frozen=True)
class WorkloadTools:
    """Where the three binaries are."""

    controller_manager: Path
    scheduler: Path
    kwok: Path

    @classmethod
    def require(cls, settings: Settings | None = None) -> WorkloadTools:
        """Find all three; ToolMissingError (saying `make tools`) for the first one missing."""
        return cls(
            controller_manager=require_tool("kube-controller-manager", settings=settings),
            scheduler=require_tool("kube-scheduler", settings=settings),
            kwok=require_tool("kwok", settings=settings),
        )


def write_kwok_config(directory: Path) -> Path:
    """Write the Stages kwok plays (one file for every cluster); return its path."""
    path = directory / KWOK_CONFIG
    path.write_text(KWOK_STAGES)
    return path


def _serving(kubeconfig: Path, creds: Credentials, port: int) -> list[str]:
    # Both components serve /healthz over HTTPS; the sandbox's serving cert
    # (valid for 127.0.0.1) lets up() check it against the sandbox CA. The
    # kubeconfig is the admin's: a sandbox has no per-component identities.
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={creds.serving_cert}",
        f"--tls-private-key-file={creds.serving_key}",
        # One instance per cluster: no lease to win, so a restart is at once.
        "--leader-elect=false",
        "--profiling=false",
    ]


def _cluster_records(
    number: int,
    tools: WorkloadTools,
    creds: Credentials,
    ports: tuple[int, int],
    *,
    directory: Path,
    logs: Path,
) -> tuple[ServerRecord, ...]:
    manager_port, scheduler_port = ports
    name = f"cluster-{number}"
    kubeconfig = directory / f"{name}.kubeconfig"
    manager = [
        str(tools.controller_manager),
        *_serving(kubeconfig, creds, manager_port),
        f"--service-account-private-key-file={creds.sa_key}",
        f"--root-ca-file={creds.ca_cert}",
        f"--cluster-signing-cert-file={creds.ca_cert}",
        f"--cluster-signing-key-file={creds.ca_cert.with_name('ca.key')}",
    ]
    scheduler = [str(tools.scheduler), *_serving(kubeconfig, creds, scheduler_port)]
    kwok = [
        str(tools.kwok),
        f"--kubeconfig={kubeconfig}",
        f"--config={directory / KWOK_CONFIG}",
        "--manage-all-nodes=true",
        f"--cidr={_POD_CIDR}",
        "--node-lease-duration-seconds=40",
    ]
    argvs = {"controller-manager": manager, "scheduler": scheduler, "kwok": kwok}
    ports_of = {"controller-manager": (manager_port,), "scheduler": (scheduler_port,), "kwok": ()}
    return tuple(
        ServerRecord(
            f"{name}-{component}",
            tuple(argvs[component]),
            ports_of[component],
            logs / f"{name}-{component}.log",
        )
        for component in COMPONENTS
    )


def workload_records(
    tools: WorkloadTools, creds: Credentials, ports: list[int], *, directory: Path, logs: Path
) -> tuple[ServerRecord, ...]:
    """The (not yet started) processes of every cluster, ``COMPONENTS`` of cluster-1 first.

    ``ports`` holds two per cluster (controller-manager, scheduler); the
    kubeconfigs and kwok config are the ones the sandbox writes in ``directory``.
    """
    pairs = [(ports[i], ports[i + 1]) for i in range(0, len(ports), 2)]
    return tuple(
        record
        for number, pair in enumerate(pairs, start=1)
        for record in _cluster_records(number, tools, creds, pair, directory=directory, logs=logs)
    )


def node_names() -> list[str]:
    """The simulated nodes every full cluster has."""
    return [f"kwok-node-{n}" for n in range(1, NODES + 1)]


def _node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "status": {"allocatable": _NODE_CAPACITY, "capacity": _NODE_CAPACITY},
    }


def register_nodes(admin: AdminClient) -> None:
    """Create the cluster's simulated Node objects (kwok then keeps them Ready)."""
    for name in node_names():
        admin.create("/api/v1/nodes", _node(name))


def _nodes_ready(admin: AdminClient) -> bool:
    nodes = admin.get("/api/v1/nodes")["items"]
    ready = {
        n["metadata"]["name"]
        for n in nodes
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (n.get("status") or {}).get("conditions") or []
        )
    }
    return set(node_names()) <= ready


def _healthz(port: int, ca_cert: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca_cert))
    try:
        response = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context, timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def component_ready(record: ServerRecord, *, admin: AdminClient, ca_cert: Path) -> bool:
    """Whether one workload process does its job yet: /healthz, or (kwok) its nodes Ready."""
    if record.name.endswith("-kwok"):
        try:
            return _nodes_ready(admin)
        except httpx.HTTPError:
            return False
    return _healthz(record.port, ca_cert)
