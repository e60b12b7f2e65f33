"""Local control planes: etcd plus kube-apiservers on loopback."""

from shared.sandbox.controlplane import (
    MAX_CLUSTERS,
    RESTRICTED_NAMESPACE,
    ClusterInfo,
    ControlPlane,
)
from shared.sandbox.process import PortInUseError, SandboxError, StartupError

__all__ = [
    "MAX_CLUSTERS",
    "RESTRICTED_NAMESPACE",
    "ClusterInfo",
    "ControlPlane",
    "PortInUseError",
    "SandboxError",
    "StartupError",
]
