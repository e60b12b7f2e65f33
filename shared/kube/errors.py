"""The errors of talking to one cluster, in one tree::

KubeError
├── ApiError          the API server answered with an error Status
├── UnknownKindError  no resource serves that apiVersion/kind
├── UnreachableError  the API server could not be reached (transient)
└── KubeconfigError   the kubeconfig is unusable (names the field at fault)
"""

from __future__ import annotations

__all__ = ["ApiError", "KubeError", "KubeconfigError", "UnknownKindError", "UnreachableError"]


class KubeError(Exception):
    """A request to a target cluster failed."""


class ApiError(KubeError):
    """The API server refused a request; ``reason`` and ``message`` are its own."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.status = status
        self.reason = reason
        self.message = message


class UnknownKindError(KubeError):
    """No API resource serves the given apiVersion and kind."""


class UnreachableError(KubeError):
    """The API server did not answer; worth retrying."""


class KubeconfigError(KubeError, ValueError):
    """The kubeconfig cannot be used, with the field at fault."""
