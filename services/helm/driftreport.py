"""A release's drift, object by object, and Flux's words for it.

Pure: no I/O. ``drift.detect`` fills a :class:`DriftReport`; the messages are
helm-controller's, so an event reads the same under sluice as under Flux:

- ``DriftDetected`` (Warning, also the ``Drifted`` condition's message)::

    Cluster state of release apps/web.v1 has drifted from the desired state:
    Deployment/apps/web changed (0 additions, 1 changes, 0 removals)
    ConfigMap/apps/web-settings removed

  One line per object in manifest order: ``removed`` (missing from the
  cluster: re-applying creates it), ``changed (...)`` counted as Flux's JSON
  patch counts it, ``excluded`` (left out by annotation or ignore rule).
- ``DriftCorrected`` (Normal)::

    Cluster state of release apps/web.v1 has been corrected:
    ConfigMap/apps/web-settings created
    Deployment/apps/web configured

- ``DriftCorrectionFailed`` (Warning): the refused objects, then the
  corrections made before the refusal, if any.

Flux sources: internal/diff/summarize.go, internal/reconcile/atomic_release.go
(ReleaseStatusDrifted), internal/reconcile/correct_cluster_drift.go.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from services.helm.fieldchanges import FieldChange, count
from shared.kube.inventory import Action, ChangeSet, ObjectRef
from shared.kube.plan import ApplyError

__all__ = [
    "DriftReport",
    "ObjectDrift",
    "corrected_message",
    "correction_failed_message",
    "drifted_message",
]


@dataclass(frozen=True)
class ObjectDrift:
    """One object of the release as the cluster has it.

    ``action`` is what re-applying the release would do: CREATED (the object
    is missing), CONFIGURED (``changes`` lists the fields), UNCHANGED, or
    SKIPPED (excluded from drift detection, ``reason`` says why).
    """

    ref: ObjectRef
    action: Action
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""

    @property
    def drifted(self) -> bool:
        """Whether the cluster differs from the release here."""
        return self.action in (Action.CREATED, Action.CONFIGURED)

    def __str__(self) -> str:
        # Flux's SummarizeDiffSet line.
        if self.action == Action.CREATED:
            return f"{self.ref} removed"
        if self.action == Action.SKIPPED:
            return f"{self.ref} excluded"
        if self.action == Action.CONFIGURED:
            added, changed, removed = count(self.changes)
            return f"{self.ref} changed ({added} additions, {changed} changes, {removed} removals)"
        return f"{self.ref} unchanged"

    def detail(self) -> str:
        """The line with the changed fields' pointers (no values), for a log."""
        if not self.changes:
            return str(self)
        return f"{self} [{', '.join(str(c) for c in self.changes)}]"


@dataclass(frozen=True)
class DriftReport:
    """Every object of a release manifest against the cluster, in manifest order."""

    objects: tuple[ObjectDrift, ...] = ()

    def __iter__(self) -> Iterator[ObjectDrift]:
        return iter(self.objects)

    @property
    def drifted(self) -> bool:
        """Whether any object is missing or changed."""
        return any(o.drifted for o in self.objects)

    @property
    def changed(self) -> tuple[ObjectDrift, ...]:
        """The objects missing (CREATED) or changed (CONFIGURED): what a correction applies."""
        return tuple(o for o in self.objects if o.drifted)

    @property
    def excluded(self) -> tuple[ObjectRef, ...]:
        """The objects left out of drift detection."""
        return tuple(o.ref for o in self.objects if o.action == Action.SKIPPED)

    def summary(self) -> str:
        """One line per object missing, changed or excluded (Flux's ``SummarizeDiffSet``)."""
        shown = (Action.CREATED, Action.CONFIGURED, Action.SKIPPED)
        return "\n".join(str(o) for o in self.objects if o.action in shown)

    def brief(self) -> str:
        """``removed: 1, changed: 2, excluded: 0`` (Flux's ``SummarizeDiffSetBrief``), for a log."""
        actions = [o.action for o in self.objects]
        return (
            f"removed: {actions.count(Action.CREATED)}, "
            f"changed: {actions.count(Action.CONFIGURED)}, "
            f"excluded: {actions.count(Action.SKIPPED)}"
        )


def drifted_message(release: str, report: DriftReport) -> str:
    """The ``DriftDetected`` event and ``Drifted`` condition message; ``release`` is ns/name.vN."""
    return f"Cluster state of release {release} has drifted from the desired state:\n" + (
        report.summary()
    )


def corrected_message(release: str, changes: ChangeSet) -> str:
    """The ``DriftCorrected`` event message: each object created or configured."""
    return f"Cluster state of release {release} has been corrected:\n{changes.summary()}"


def correction_failed_message(release: str, error: ApplyError) -> str:
    """The ``DriftCorrectionFailed`` event message: what was refused, what was corrected."""
    done = error.changes.summary()
    partially = "partially " if done else ""
    lines = [f"Failed to {partially}correct cluster state of release {release}:"]
    lines += [str(e) for e in error.errors]
    if done:
        lines += ["", "Successful corrections:", done]
    return "\n".join(lines)
