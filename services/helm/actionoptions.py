"""Typed options of the Helm 4 actions, and the ``helm`` flags each one maps to.

Helm 4 changed the flags Flux's options used to map to; the mapping lives
here so :mod:`services.helm.helm` never spells a flag itself:

- ``--wait`` is a strategy: ``watcher`` (kstatus, what Flux waits with),
  ``hookOnly`` (Helm 4's default: wait for hooks only) or ``legacy``.
  A HelmRelease waits unless ``disableWait``, so the default here is ``watcher``.
- ``--atomic`` is gone (``--rollback-on-failure``), ``--force`` is
  ``--force-replace``: neither is used, Flux remediates itself.
- install and upgrade apply server-side by default (upgrade: ``auto``, the
  method of the previous revision).
- ``--post-renderer`` takes a plugin name: post-renderers are not mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "InstallOptions",
    "RollbackOptions",
    "TestOptions",
    "UninstallOptions",
    "UpgradeOptions",
    "WaitStrategy",
]


class WaitStrategy(StrEnum):
    """Helm 4's ``--wait`` values."""

    WATCHER = "watcher"
    HOOK_ONLY = "hookOnly"
    LEGACY = "legacy"


@dataclass(frozen=True)
class _Waiting:
    """What every action that changes a release shares: timeout, wait, hooks, description."""

    timeout: float = 300.0
    wait: WaitStrategy = WaitStrategy.WATCHER
    wait_for_jobs: bool = False
    disable_hooks: bool = False
    description: str = ""

    def _flags(self, *more: str) -> list[str]:
        args = [f"--timeout={self.timeout:g}s", f"--wait={self.wait}"]
        # Helm ignores --wait-for-jobs unless it waits for resources.
        if self.wait_for_jobs and self.wait is not WaitStrategy.HOOK_ONLY:
            args.append("--wait-for-jobs")
        if self.disable_hooks:
            args.append("--no-hooks")
        args += more
        return args + ([f"--description={self.description}"] if self.description else [])


@dataclass(frozen=True)
class InstallOptions(_Waiting):
    """``spec.install`` as Helm flags; ``timeout`` in seconds (``spec.timeout``)."""

    create_namespace: bool = False
    skip_crds: bool = False
    """``crds: Skip``; Helm installs a chart's crds/ only when they are absent."""

    def flags(self) -> list[str]:
        """The ``helm install`` flags."""
        more = ["--create-namespace"] if self.create_namespace else []
        return self._flags(*more, *(["--skip-crds"] if self.skip_crds else []))


@dataclass(frozen=True)
class UpgradeOptions(_Waiting):
    """``spec.upgrade`` as Helm flags. Values are always reset to the chart's plus the given."""

    max_history: int = 5
    """``spec.maxHistory`` (Flux's default 5; 0 = unlimited)."""

    def flags(self) -> list[str]:
        """The ``helm upgrade`` flags."""
        # Without --reset-values an upgrade given no values reuses the last ones.
        return self._flags("--reset-values", f"--history-max={self.max_history}")


@dataclass(frozen=True)
class RollbackOptions(_Waiting):
    """``spec.rollback`` as Helm flags."""

    max_history: int = 5

    def flags(self) -> list[str]:
        """The ``helm rollback`` flags."""
        return self._flags(f"--history-max={self.max_history}")


@dataclass(frozen=True)
class UninstallOptions:
    """``spec.uninstall`` as Helm flags."""

    timeout: float = 300.0
    disable_hooks: bool = False
    keep_history: bool = False
    wait: WaitStrategy = WaitStrategy.HOOK_ONLY
    """``watcher``: wait until the release's objects are gone (``disableWait: false``)."""
    description: str = ""

    def flags(self) -> list[str]:
        """The ``helm uninstall`` flags."""
        args = [f"--timeout={self.timeout:g}s", f"--wait={self.wait}"]
        if self.disable_hooks:
            args.append("--no-hooks")
        if self.keep_history:
            args.append("--keep-history")
        return args + ([f"--description={self.description}"] if self.description else [])


@dataclass(frozen=True)
class TestOptions:
    """``spec.test`` as Helm flags (filters are not mapped yet)."""

    __test__ = False  # a Flux name, not a pytest test class

    timeout: float = 300.0

    def flags(self) -> list[str]:
        """The ``helm test`` flags."""
        return [f"--timeout={self.timeout:g}s"]
