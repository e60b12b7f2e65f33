"""Typed options of the Helm 4 actions, and the ``helm`` flags each one maps to.

The defaults are helm-controller's for a HelmRelease that sets nothing
(internal/action/{install,upgrade,rollback,uninstall,test}.go); the mapping
lives here so :mod:`services.helm.helm` never spells a flag itself. Helm 4
changed the flags Flux's options map to:

- ``--wait`` is a strategy: ``watcher`` (kstatus, what Flux waits with),
  ``hookOnly`` (Helm 4's default: wait for hooks only; Flux's ``disableWait``)
  or ``legacy`` (Helm 3's wait).
- objects are applied server-side: ``--server-side`` is a bool on install and
  ``true|false|auto`` on upgrade and rollback. Flux always forces SSA
  conflicts (``--force-conflicts``); Helm refuses that flag, and
  ``--force-replace`` (Helm 3's ``--force``) alongside SSA, so the apply
  method is resolved before the flags are written (``server_side`` is a
  bool here) and ``force`` only replaces under client-side apply.
- ``--take-ownership`` adopts objects no release owns: Flux does unless
  ``disableTakeOwnership``.
- ``--atomic`` (now ``--rollback-on-failure``) is never used: Flux remediates
  itself. ``--post-renderer`` takes a plugin name: post-renderers are not
  mapped here.
- a chart's ``crds/`` are applied by :mod:`services.helm.crds` before install
  and upgrade, as helm-controller does, so install passes ``--skip-crds``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DeletionPropagation",
    "InstallOptions",
    "RollbackOptions",
    "TestFilter",
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


class DeletionPropagation(StrEnum):
    """``uninstall.deletionPropagation``: Helm's ``--cascade``."""

    BACKGROUND = "background"
    FOREGROUND = "foreground"
    ORPHAN = "orphan"


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class _Waiting:
    """What every action that changes a release shares: timeout, wait, hooks, description."""

    timeout: float = 300.0
    wait: WaitStrategy = WaitStrategy.WATCHER
    wait_for_jobs: bool = True
    """Flux waits for Jobs unless ``disableWaitForJobs``."""
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
class _Applying(_Waiting):
    """What install and upgrade share: validation, ownership, the apply method."""

    disable_openapi_validation: bool = False
    skip_schema_validation: bool = False
    """``disableSchemaValidation``: the chart's values.schema.json is not checked."""
    take_ownership: bool = True
    """Adopt objects that exist without a release (Flux: unless ``disableTakeOwnership``)."""
    server_side: bool = True

    def _apply_flags(self) -> list[str]:
        args = ["--disable-openapi-validation"] if self.disable_openapi_validation else []
        if self.skip_schema_validation:
            args.append("--skip-schema-validation")
        if self.take_ownership:
            args.append("--take-ownership")
        # Helm refuses --force-conflicts under client-side apply.
        args.append(f"--server-side={_bool(self.server_side)}")
        return args + (["--force-conflicts"] if self.server_side else [])


@dataclass(frozen=True)
class InstallOptions(_Applying):
    """``spec.install`` as Helm flags; ``timeout`` in seconds.

    Helm's install has no ``--history-max``: a first revision never prunes.
    """

    create_namespace: bool = False
    skip_crds: bool = True
    """The chart's crds/ are applied by ``crds.apply_chart_crds`` first, as Flux does."""
    replace: bool = False
    """Reuse the name of an uninstalled release whose history was kept."""

    def flags(self) -> list[str]:
        """The ``helm install`` flags."""
        more = ["--create-namespace"] if self.create_namespace else []
        if self.skip_crds:
            more.append("--skip-crds")
        if self.replace:
            more.append("--replace")
        return self._flags(*more, *self._apply_flags())


@dataclass(frozen=True)
class UpgradeOptions(_Applying):
    """``spec.upgrade`` as Helm flags; ``server_side`` already resolved from ``auto``."""

    max_history: int = 5
    """``spec.maxHistory`` (Flux's default 5; 0 = unlimited)."""
    preserve_values: bool = False
    """``preserveValues``: the last revision's values under the given ones.

    Mapped to ``--reset-then-reuse-values``: the new chart's defaults, then
    the last revision's user values, then the given. helm-controller sets
    Helm's ``ReuseValues`` (``--reuse-values``), which also keeps the *old*
    chart's defaults, so a new chart version whose templates read a new
    default renders without it (or fails); the user values kept are the same.
    Without preserveValues, ``--reset-values``: an upgrade given no values
    would otherwise reuse the last ones.
    """
    force: bool = False
    """Replace objects instead of patching them; client-side apply only, as Flux."""
    cleanup_on_fail: bool = False

    def flags(self) -> list[str]:
        """The ``helm upgrade`` flags."""
        more = ["--reset-then-reuse-values" if self.preserve_values else "--reset-values"]
        more.append(f"--history-max={self.max_history}")
        if self.cleanup_on_fail:
            more.append("--cleanup-on-fail")
        if self.force and not self.server_side:
            more.append("--force-replace")
        return self._flags(*more, *self._apply_flags())


@dataclass(frozen=True)
class RollbackOptions(_Waiting):
    """``spec.rollback`` as Helm flags; ``server_side`` resolved from the target revision."""

    max_history: int = 5
    server_side: bool = True
    force: bool = False
    """Replace objects instead of patching them; client-side apply only, as Flux."""
    cleanup_on_fail: bool = False

    def flags(self) -> list[str]:
        """The ``helm rollback`` flags."""
        more = [f"--history-max={self.max_history}"]
        if self.cleanup_on_fail:
            more.append("--cleanup-on-fail")
        more.append(f"--server-side={_bool(self.server_side)}")
        if self.server_side:
            more.append("--force-conflicts")
        elif self.force:
            more.append("--force-replace")
        return self._flags(*more)


@dataclass(frozen=True)
class UninstallOptions:
    """``spec.uninstall`` as Helm flags."""

    timeout: float = 300.0
    disable_hooks: bool = False
    keep_history: bool = False
    wait: WaitStrategy = WaitStrategy.WATCHER
    """``watcher``: wait until the release's objects are gone (Flux, unless ``disableWait``)."""
    deletion_propagation: DeletionPropagation = DeletionPropagation.BACKGROUND
    description: str = ""

    def flags(self) -> list[str]:
        """The ``helm uninstall`` flags."""
        args = [f"--timeout={self.timeout:g}s", f"--wait={self.wait}"]
        if self.disable_hooks:
            args.append("--no-hooks")
        if self.keep_history:
            args.append("--keep-history")
        args.append(f"--cascade={self.deletion_propagation}")
        return args + ([f"--description={self.description}"] if self.description else [])


@dataclass(frozen=True)
class TestFilter:
    """``test.filters[]``: run only the test hook ``name``, or leave it out (``exclude``)."""

    __test__ = False  # a Flux name, not a pytest test class

    name: str
    exclude: bool = False

    def flag(self) -> str:
        """``--filter=name=<name>`` or ``--filter=!name=<name>``."""
        text = f"{'!' if self.exclude else ''}name={self.name}"
        # helm reads --filter as CSV: a comma or quote would split the name.
        if "," in text or '"' in text:
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow([text])
            text = out.getvalue()
        return f"--filter={text}"


@dataclass(frozen=True)
class TestOptions:
    """``spec.test`` as Helm flags."""

    __test__ = False  # a Flux name, not a pytest test class

    timeout: float = 300.0
    filters: tuple[TestFilter, ...] = ()

    def flags(self) -> list[str]:
        """The ``helm test`` flags."""
        return [f"--timeout={self.timeout:g}s", *(f.flag() for f in self.filters)]
