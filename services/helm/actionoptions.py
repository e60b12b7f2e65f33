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


def _common(
    *, timeout: float, wait: WaitStrategy, wait_for_jobs: bool, disable_hooks: bool
) -> list[str]:
    args = [f"--timeout={timeout:g}s", f"--wait={wait}"]
    # Helm ignores --wait-for-jobs unless it waits for resources.
    if wait_for_jobs and wait is not WaitStrategy.HOOK_ONLY:
        args.append("--wait-for-jobs")
    if disable_hooks:
        args.append("--no-hooks")
    return args


def _described(description: str) -> list[str]:
    return [f"--description={description}"] if description else []


@dataclass(frozen=True)
class InstallOptions:
    """``spec.install`` as Helm flags; ``timeout`` in seconds (``spec.timeout``)."""

    timeout: float = 300.0
    wait: WaitStrategy = WaitStrategy.WATCHER
    wait_for_jobs: bool = False
    disable_hooks: bool = False
    create_namespace: bool = False
    skip_crds: bool = False
    """``crds: Skip``; Helm installs a chart's crds/ only when they are absent."""
    description: str = ""

    def flags(self) -> list[str]:
        """The ``helm install`` flags."""
        args = _common(
            timeout=self.timeout,
            wait=self.wait,
            wait_for_jobs=self.wait_for_jobs,
            disable_hooks=self.disable_hooks,
        )
        if self.create_namespace:
            args.append("--create-namespace")
        if self.skip_crds:
            args.append("--skip-crds")
        return args + _described(self.description)


@dataclass(frozen=True)
class UpgradeOptions:
    """``spec.upgrade`` as Helm flags. Values are always reset to the chart's plus the given."""

    timeout: float = 300.0
    wait: WaitStrategy = WaitStrategy.WATCHER
    wait_for_jobs: bool = False
    disable_hooks: bool = False
    max_history: int = 5
    """``spec.maxHistory`` (Flux's default 5; 0 = unlimited)."""
    description: str = ""

    def flags(self) -> list[str]:
        """The ``helm upgrade`` flags."""
        args = _common(
            timeout=self.timeout,
            wait=self.wait,
            wait_for_jobs=self.wait_for_jobs,
            disable_hooks=self.disable_hooks,
        )
        # Without --reset-values an upgrade given no values reuses the last ones.
        args += ["--reset-values", f"--history-max={self.max_history}"]
        return args + _described(self.description)


@dataclass(frozen=True)
class RollbackOptions:
    """``spec.rollback`` as Helm flags."""

    timeout: float = 300.0
    wait: WaitStrategy = WaitStrategy.WATCHER
    wait_for_jobs: bool = False
    disable_hooks: bool = False
    max_history: int = 5
    description: str = ""

    def flags(self) -> list[str]:
        """The ``helm rollback`` flags."""
        args = _common(
            timeout=self.timeout,
            wait=self.wait,
            wait_for_jobs=self.wait_for_jobs,
            disable_hooks=self.disable_hooks,
        )
        args.append(f"--history-max={self.max_history}")
        return args + _described(self.description)


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
        return args + _described(self.description)


@dataclass(frozen=True)
class TestOptions:
    """``spec.test`` as Helm flags (filters are not mapped yet)."""

    __test__ = False  # a Flux name, not a pytest test class

    timeout: float = 300.0

    def flags(self) -> list[str]:
        """The ``helm test`` flags."""
        return [f"--timeout={self.timeout:g}s"]
