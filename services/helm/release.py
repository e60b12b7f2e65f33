"""Helm's act step on one cluster: observe the release, choose the next action, act, observe again.

This is helm-controller's atomic release loop (``internal/reconcile/atomic_release.go``)
run on each target cluster: Helm's storage on the cluster is read, the release
state classified (``release_state``), the next action chosen (``next_action``)
and run with the pinned ``helm`` (``helm.py``), until no action is left, the
same kind of action comes round twice, or a remediation ran. What Flux keeps in
the HelmRelease's status (the history snapshots, the failure counters, the
conditions Released, TestSuccess and Remediated) is kept per cluster
(``history.ClusterRecord``) and summed up by the fan-out kit.

A failed install or upgrade that wrote a release is observed again in the same
run, so its remediation follows at once, as in Flux; one that wrote nothing
ends the run with an error, retried with backoff. A stall (retries exhausted,
no rollback target) is recorded as ``Stalled`` and not retried until the
HelmRelease changes. A release left pending by a killed worker is unlocked.
Each action emits one event with Flux's reason.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.helm.chart import ChartError, chart_root
from services.helm.conditions import RELEASED, REMEDIATED, TEST_SUCCESS, ReleaseConditions
from services.helm.crds import ChartCrdsError, apply_chart_crds
from services.helm.drift import DriftError, correct, detect
from services.helm.driftreport import (
    DriftReport,
    corrected_message,
    correction_failed_message,
    drifted_message,
)
from services.helm.helm import HelmError, ReleaseRef
from services.helm.next_action import (
    RETRIES_EXCEEDED,
    Action,
    LoopStep,
    NextAction,
    after_action,
    after_error,
    before_action,
    next_action,
)
from services.helm.options import (
    crds_policy,
    install_options,
    release_policy,
    rollback_options,
    test_options,
    uninstall_options,
    upgrade_options,
)
from services.helm.postrender import PostRender
from services.helm.release_state import (
    Desired,
    Recorded,
    Release,
    ReleaseState,
    determine_state,
    latest,
)
from services.helm.releaseplan import ReleasePlan
from services.helm.remediation import ReleaseAction, active_remediation, failures_reset_reason
from services.helm.runhelm import helm_for, record_of
from services.helm.storage import StorageConflict, StorageError
from services.helm.target import Target, must_reinstall, target_change
from shared.api import parse_as
from shared.api.conditions import (
    ARTIFACT_FAILED,
    FALSE,
    RECONCILIATION_FAILED,
    STALLED,
    TRUE,
)
from shared.api.helmrelease import HelmRelease
from shared.artifacts import ArtifactError, fetch_artifact
from shared.fleet.run import Acted, ClusterFailure, ClusterRun
from shared.kube.apply import ApplyError
from shared.kube.client import KubeClient
from shared.kube.errors import KubeError
from shared.kube.inventory import Inventory
from shared.kube.owner import Owner
from shared.worker import requested_at

__all__ = ["KEEP", "SERVICE", "act"]

log = logging.getLogger(__name__)

SERVICE = "helm"
# Desired.deletion of a suspended HelmRelease: deleting it leaves its releases (Flux).
KEEP = "keep"
FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"
# A reconcile runs at most one action of each kind; five kinds, plus the observations.
_MAX_STEPS = 12
# Envoy Gateway's envoyproxies CRD is 1.4 MB: its apply outlasts a usual request timeout.
_CRD_REQUEST_TIMEOUT = 120.0


def _chart(run: ClusterRun, plan: ReleasePlan) -> Path:
    try:
        unpacked = fetch_artifact(
            plan.chart_url, plan.chart_digest, cache_dir=run.ctx.settings.cache_dir
        )
        return chart_root(unpacked)
    except (ArtifactError, ChartError) as err:
        raise ClusterFailure(ARTIFACT_FAILED, f"chart {plan.chart_name}: {err}") from err


class _Loop:
    """One run of the atomic release loop on one cluster."""

    def __init__(self, run: ClusterRun, hr: HelmRelease, plan: ReleasePlan, chart: Path) -> None:
        self.run = run
        self.hr = hr
        self.plan = plan
        self.chart = chart
        self.helm = helm_for(run)
        self.ref = ReleaseRef(plan.release_name, plan.storage_namespace)
        self.policy = release_policy(hr)
        self.conds = ReleaseConditions.of(run.previous.conditions if run.previous else ())
        self.conds.drop(STALLED)
        if not self.policy.test.enable:
            self.conds.drop(TEST_SUCCESS)  # Flux removes it as soon as tests are disabled
        self.record = record_of(run)
        self.recorded = self.record.recorded
        self.done: list[Action] = []
        # (reason, message) of the events this run emitted: a failure saying the same adds none.
        self.emitted: set[tuple[str, str]] = set()
        self.drift = DriftReport(())
        self.owner = Owner.helm_release(hr.name, hr.namespace)
        self.wanted = Desired(
            chart_name=plan.chart_name,
            chart_version=plan.chart_version,
            config_digest=plan.config_digest,
            generation=plan.generation,
            post_renderers_digest=plan.post_renderers_digest,
            common_metadata_digest=plan.common_metadata_digest,
        )
        token = requested_at(run.doc or {})
        annotations = (run.doc or {}).get("metadata", {}).get("annotations") or {}
        force = annotations.get(FORCE_AT)
        reset = annotations.get(RESET_AT)
        self.force = bool(force) and force == token and force != self.record.last_handled_force_at
        self.reset = bool(reset) and reset == token and reset != self.record.last_handled_reset_at
        self.force_token = str(force or "")
        self.reset_token = str(reset or "")

    # -- what the run leaves behind -------------------------------------------

    def _extra(self) -> dict[str, Any]:
        record = replace(
            self.record,
            recorded=self.recorded,
            storage_namespace=self.plan.storage_namespace,
            helm_chart=self._helm_chart(),
        )
        return record.to_extra()

    def _helm_chart(self) -> str:
        if self.hr.spec.chart is None:
            return ""
        return f"{self.hr.helm_chart_namespace}/{self.hr.helm_chart_name}"

    def _failure(self, reason: str, message: str, *, stalled: bool = False) -> ClusterFailure:
        return ClusterFailure(
            reason,
            message,
            Inventory(),
            extra=self._extra(),
            conditions=self.conds.listed(),
            stalled=stalled,
            announced=(reason, message) in self.emitted,
        )

    def _stalled(self, reason: str, message: str) -> ClusterFailure:
        """Stalled with ``reason``; Ready says what the conditions say, as Flux leaves it."""
        self.conds.set(STALLED, TRUE, reason, message)
        shown = self._summary()
        if shown is not None:
            reason, message = str(shown["reason"]), str(shown["message"])
        return self._failure(reason, message, stalled=True)

    def _summary(self) -> dict[str, Any] | None:
        return self.conds.summary(self.policy.test)

    def _emit(self, reason: str, message: str, *, failed: bool = False) -> None:
        self.emitted.add((reason, message))
        self.run.ctx.emit(
            "reconcile-failed" if failed else "applied",
            self.run.key,
            reason=reason,
            message=message,
            revision=self.plan.chart_version,
            severity="error" if failed else "info",
            cluster=self.run.cluster,
        )

    def _chart_label(self) -> str:
        return f"{self.plan.chart_name}@{self.plan.chart_version}"

    # -- the loop ------------------------------------------------------------

    def go(self) -> Acted:
        self._moved()
        self._reset_counters()
        for _ in range(_MAX_STEPS):
            stored = self.helm.history(self.ref)
            assessment = determine_state(
                stored, desired=self.wanted, recorded=self.recorded, policy=self.policy
            )
            if assessment.state == ReleaseState.IN_SYNC and self.policy.drift.detects:
                self.drift = self._detect(stored)
                if self.drift.drifted:
                    assessment = determine_state(
                        stored,
                        desired=self.wanted,
                        recorded=self.recorded,
                        policy=self.policy,
                        drifted=True,
                    )
            chosen = next_action(
                assessment,
                stored=stored,
                recorded=self.recorded,
                policy=self.policy,
                force_requested=self.force,
            )
            if chosen.history is not None:
                self.recorded = replace(self.recorded, history=chosen.history)
            if chosen.action == Action.NONE:
                if assessment.state == ReleaseState.DRIFTED:
                    self._warn_drift(stored)
                return self._settled()
            if chosen.action == Action.STALL:
                raise self._stalled(chosen.stalled_reason, chosen.reason)
            if chosen.action == Action.ERROR:
                raise self._failure(RECONCILIATION_FAILED, chosen.reason)
            step = before_action(
                chosen.action, done=self.done, policy=self.policy, attempts=self.recorded.attempts
            )
            if step != LoopStep.RUN:
                return self._stop(step)
            self.done.append(chosen.action)
            step = self._do(chosen, stored)
            if step != LoopStep.RUN:
                return self._stop(step)
        raise self._failure(RECONCILIATION_FAILED, "the release loop did not settle")

    def _moved(self) -> None:
        """Uninstall the release where it was when its name or namespaces changed (Flux)."""
        newest = latest(self.recorded.history)
        wanted = Target(
            storage_namespace=self.plan.storage_namespace,
            release_namespace=self.plan.release_namespace,
            release_name=self.plan.release_name,
            chart_name=self.plan.chart_name,
        )
        change = target_change(
            newest, recorded_storage_namespace=self.record.storage_namespace, wanted=wanted
        )
        if newest is None or not must_reinstall(change):
            return
        old = ReleaseRef(newest.name, self.record.storage_namespace)
        try:
            self.helm.uninstall(old, options=uninstall_options(self.hr, timeout=self._time()))
        except HelmError as err:
            message = f"release target changed ({change}): {err}"
            raise self._failure("UninstallFailed", message) from err
        self._emit("UninstallSucceeded", f"Helm uninstall of moved release {old.name} ({change})")
        self.recorded = Recorded()

    def _reset_counters(self) -> None:
        attempts = self.recorded.attempts
        why = failures_reset_reason(
            attempts,
            generation=self.plan.generation,
            revision=self.plan.chart_version,
            config_digest=self.plan.config_digest,
            reset_requested=self.reset,
        )
        if self.reset:
            self.record = replace(self.record, last_handled_reset_at=self.reset_token)
        if why is not None and (attempts.install_failures or attempts.upgrade_failures):
            log.info("%s on %s: failure counters reset: %s", self.run.key, self.run.cluster, why)
            self.recorded = replace(
                self.recorded, attempts=replace(attempts, install_failures=0, upgrade_failures=0)
            )

    def _time(self) -> float:
        return self.run.time_left(self.hr.spec.timeout_seconds)

    def _settled(self) -> Acted:
        """The release is as wanted: Ready as its conditions say."""
        shown = self._summary()
        # Any remediation is a failure; so is a failed test unless its failures are ignored.
        if shown is not None and (shown["type"] == REMEDIATED or shown["status"] != TRUE):
            raise self._failure(str(shown["reason"]), str(shown["message"]))
        newest = latest(self.recorded.history)
        if shown is None:
            where = newest.full_name if newest else self.ref.name
            self.conds.set(RELEASED, TRUE, "InstallSucceeded", f"Helm release {where} in sync")
            shown = self.conds.get(RELEASED)
        assert shown is not None
        self.recorded = replace(
            self.recorded,
            observed_generation=self.plan.generation,
            observed_post_renderers_digest=self.plan.post_renderers_digest,
            observed_common_metadata_digest=self.plan.common_metadata_digest,
        )
        return Acted(
            Inventory(),
            reason=str(shown["reason"]),
            message=str(shown["message"]),
            extra=self._extra(),
            conditions=self.conds.listed(),
            announced=True,
        )

    def _stop(self, step: LoopStep) -> Acted:
        """The loop ends before the release is as wanted: say why, retried as the step says."""
        if step == LoopStep.STALL:
            attempts = self.recorded.attempts
            remediation = active_remediation(self.policy, attempts)
            count = remediation.failure_count(attempts) if remediation else 0
            message = f"Failed to {attempts.action or 'release'} after {count} attempt(s)"
            raise self._stalled(RETRIES_EXCEEDED, message)
        if step == LoopStep.DONE:
            return self._settled()
        # REQUEUE and RETRY_AFTER_INTERVAL: not ready yet, tried again by the run's backoff.
        cond = self._summary()
        reason = str(cond["reason"]) if cond else RECONCILIATION_FAILED
        message = str(cond["message"]) if cond else "release not ready; retrying"
        raise self._failure(reason, message)

    # -- the actions ---------------------------------------------------------

    def _do(self, chosen: NextAction, stored: tuple[Release, ...]) -> LoopStep:
        action = chosen.action
        if action in (Action.INSTALL, Action.UPGRADE):
            return self._release(action)
        if action == Action.TEST:
            return self._test()
        if action == Action.ROLLBACK:
            assert chosen.rollback_to is not None
            return self._rollback(chosen.rollback_to)
        if action == Action.UNINSTALL:
            return self._uninstall_remediation()
        if action == Action.UNLOCK:
            return self._unlock(stored)
        if action == Action.CORRECT_DRIFT:
            return self._correct(stored)
        raise self._failure(RECONCILIATION_FAILED, f"action {action} is not supported")

    def _attempt(self, action: ReleaseAction) -> None:
        attempts = replace(
            self.recorded.attempts,
            action=action,
            generation=self.plan.generation,
            revision=self.plan.chart_version,
            config_digest=self.plan.config_digest,
        )
        self.recorded = replace(self.recorded, attempts=attempts)
        if self.force:
            self.record = replace(self.record, last_handled_force_at=self.force_token)
            self.force = False

    def _count_failure(self, action: ReleaseAction) -> None:
        attempts = self.recorded.attempts
        if action == ReleaseAction.INSTALL:
            attempts = replace(attempts, install_failures=attempts.install_failures + 1)
        else:
            attempts = replace(attempts, upgrade_failures=attempts.upgrade_failures + 1)
        self.recorded = replace(self.recorded, attempts=attempts)

    def _remember(self, release: Release) -> None:
        """Put ``release`` in the history: a new revision first, an observed one replaced."""
        others = tuple(r for r in self.recorded.history if r.version != release.version)
        history = tuple(sorted((release, *others), key=lambda r: r.version, reverse=True))
        self.recorded = replace(self.recorded, history=history)

    def _release(self, action: Action) -> LoopStep:
        install = action == Action.INSTALL
        kind = ReleaseAction.INSTALL if install else ReleaseAction.UPGRADE
        word = "install" if install else "upgrade"
        self._attempt(kind)
        # A new release: none of the previous test or remediation results apply (Flux).
        self.conds.drop(TEST_SUCCESS)
        self.conds.drop(REMEDIATED)
        stored = self.helm.history(self.ref) if not install else ()
        before = latest(stored)
        post = PostRender.of(self.hr)
        try:
            # Flux applies the chart's CRDs itself, as crds says, then runs helm without them.
            apply_chart_crds(
                self._crd_client(),
                self.chart,
                policy=crds_policy(self.hr, kind),
                owner=Owner.helm_release(self.hr.name, self.hr.namespace),
                values=self.plan.values,
                timeout=self._time(),
            )
            if install:
                written = self.helm.install(
                    self.ref,
                    chart=self.chart,
                    values=self.plan.values,
                    options=install_options(self.hr, timeout=self._time()),
                    post_renderer=post,
                )
            else:
                written = self.helm.upgrade(
                    self.ref,
                    chart=self.chart,
                    values=self.plan.values,
                    options=upgrade_options(self.hr, timeout=self._time()),
                    post_renderer=post,
                )
        except (HelmError, ChartCrdsError) as err:
            reason = "InstallFailed" if install else "UpgradeFailed"
            message = (
                f"Helm {word} failed for release {self._where()} "
                f"with chart {self._chart_label()}: {err}"
            )
            self.conds.set(RELEASED, FALSE, reason, message)
            self._emit(reason, message, failed=True)
            now = latest(self.helm.history(self.ref))
            if now is not None and (before is None or now.version != before.version):
                # Counted only when a release was stored, as Flux: without one there is
                # nothing to remediate, and the action is simply tried again.
                self._count_failure(kind)
                self._remember(now)  # the failed revision: remediated on the next pass
                self._observe(stored)
                return LoopStep.RUN
            step = after_error(policy=self.policy, attempts=self.recorded.attempts)
            if step == LoopStep.ERROR:
                raise self._failure(reason, message) from err
            return step
        self._remember(written)
        self._observe(stored)
        # Flux records the post-renderers it released with at once: compared again
        # before the run settles, an old digest would ask for upgrade after upgrade.
        self.recorded = replace(
            self.recorded,
            observed_post_renderers_digest=self.plan.post_renderers_digest,
            observed_common_metadata_digest=self.plan.common_metadata_digest,
        )
        reason = "InstallSucceeded" if install else "UpgradeSucceeded"
        message = (
            f"Helm {word} succeeded for release {written.full_name} "
            f"with chart {self._chart_label()}"
        )
        self.conds.set(RELEASED, TRUE, reason, message)
        self._emit(reason, message)
        return after_action(action, policy=self.policy, attempts=self.recorded.attempts)

    def _crd_client(self) -> KubeClient:
        """A client whose requests may last as long as a large CRD's apply takes."""
        access = self.run.access
        if access is None or access.timeout >= _CRD_REQUEST_TIMEOUT:
            return self.run.client
        return replace(access, timeout=_CRD_REQUEST_TIMEOUT).client()

    def _where(self) -> str:
        return f"{self.ref.namespace}/{self.ref.name}"

    def _test(self) -> LoopStep:
        try:
            tested = self.helm.test(self.ref, options=test_options(self.hr, timeout=self._time()))
        except HelmError as err:
            now = self.helm.read(self.ref)
            if now is not None:
                self._remember(now)
            message = (
                f"Helm test failed for release {self._where()} "
                f"with chart {self._chart_label()}: {err}"
            )
            self.conds.set(TEST_SUCCESS, FALSE, "TestFailed", message)
            self._emit("TestFailed", message, failed=True)
            if not self.policy.test.ignore_failures:
                action = self.recorded.attempts.action or ReleaseAction.INSTALL
                self._count_failure(action)
            return LoopStep.RUN
        self._remember(tested)
        hooks = len(tested.test_hooks or ())
        message = (
            f"Helm test succeeded for release {tested.full_name} with chart "
            f"{self._chart_label()}: {hooks} test hook(s) completed successfully"
            if hooks
            else f"Helm test succeeded for release {tested.full_name} with chart "
            f"{self._chart_label()}: no test hooks"
        )
        self.conds.set(TEST_SUCCESS, TRUE, "TestSucceeded", message)
        self._emit("TestSucceeded", message)
        return after_action(Action.TEST, policy=self.policy, attempts=self.recorded.attempts)

    def _observe(self, stored: tuple[Release, ...]) -> None:
        """Take in the snapshots of the revisions the action itself rewrote, as Flux observes
        every release an action writes: the revision upgraded or rolled back from turns
        superseded, and a snapshot still saying deployed would no longer match storage, so
        it could never be a rollback target."""
        was = {r.version: r.digest for r in stored}
        ours = {r.version for r in self.recorded.history}
        for now in self.helm.history(self.ref):
            if now.version in ours and was.get(now.version, now.digest) != now.digest:
                self._remember(now)

    def _rollback(self, target: Release) -> LoopStep:
        stored = self.helm.history(self.ref)
        try:
            written = self.helm.rollback(
                self.ref,
                to=target.version,
                options=rollback_options(self.hr, timeout=self._time()),
            )
        except HelmError as err:
            message = (
                f"Helm rollback to previous release {target.full_name} with chart "
                f"{target.chart_name}@{target.chart_version} failed: {err}"
            )
            self.conds.set(REMEDIATED, FALSE, "RollbackFailed", message)
            self._emit("RollbackFailed", message, failed=True)
            raise self._failure("RollbackFailed", message) from err
        self._remember(written)
        self._observe(stored)
        message = (
            f"Helm rollback to previous release {target.full_name} with chart "
            f"{target.chart_name}@{target.chart_version} succeeded"
        )
        self.conds.set(REMEDIATED, TRUE, "RollbackSucceeded", message)
        self._emit("RollbackSucceeded", message)
        return after_action(Action.ROLLBACK, policy=self.policy, attempts=self.recorded.attempts)

    def _uninstall_remediation(self) -> LoopStep:
        newest = latest(self.recorded.history)
        try:
            self.helm.uninstall(self.ref, options=uninstall_options(self.hr, timeout=self._time()))
        except HelmError as err:
            message = f"Helm uninstall failed for release {self._where()}: {err}"
            self.conds.set(REMEDIATED, FALSE, "UninstallFailed", message)
            self._emit("UninstallFailed", message, failed=True)
            raise self._failure("UninstallFailed", message) from err
        label = newest.full_name if newest else self._where()
        message = f"Helm uninstall succeeded for release {label} with chart {self._chart_label()}"
        self.conds.set(REMEDIATED, TRUE, "UninstallSucceeded", message)
        self._emit("UninstallSucceeded", message)
        return after_action(Action.UNINSTALL, policy=self.policy, attempts=self.recorded.attempts)

    def _manifest(self, stored: tuple[Release, ...]) -> tuple[Release, str]:
        newest = latest(stored)
        assert newest is not None
        return newest, self.helm.storage(self.ref.namespace).manifest(newest.name, newest.version)

    def _detect(self, stored: tuple[Release, ...]) -> DriftReport:
        """The cluster against the deployed revision's manifest (driftDetection)."""
        newest, manifest = self._manifest(stored)
        try:
            return detect(
                self.run.client,
                manifest,
                release=newest.name,
                namespace=self.ref.namespace,
                owner=self.owner,
                ignore=self.hr.spec.drift.ignore,
            )
        except DriftError as err:
            raise self._failure("DriftDetectionFailed", str(err)) from err

    def _warn_drift(self, stored: tuple[Release, ...]) -> None:
        newest = latest(stored)
        assert newest is not None
        self._emit("DriftDetected", drifted_message(newest.full_name, self.drift), failed=True)

    def _correct(self, stored: tuple[Release, ...]) -> LoopStep:
        newest, manifest = self._manifest(stored)
        try:
            changes = correct(
                self.run.client,
                manifest,
                release=newest.name,
                namespace=self.ref.namespace,
                owner=self.owner,
                report=self.drift,
                ignore=self.hr.spec.drift.ignore,
            )
        except ApplyError as err:
            message = correction_failed_message(newest.full_name, err)
            self._emit("DriftCorrectionFailed", message, failed=True)
            raise self._failure("DriftCorrectionFailed", message) from err
        self._emit("DriftCorrected", corrected_message(newest.full_name, changes))
        return LoopStep.RUN

    def _unlock(self, stored: tuple[Release, ...]) -> LoopStep:
        pending = latest(stored)
        assert pending is not None
        try:
            unlocked = self.helm.storage(self.ref.namespace).unlock(pending)
        except StorageConflict:
            return LoopStep.RUN  # someone else moved it: observe again
        except StorageError as err:
            message = f"cannot unlock release {pending.full_name}: {err}"
            raise self._failure(RECONCILIATION_FAILED, message) from err
        self._remember(unlocked)
        message = f"Unlocked Helm release {pending.full_name} from stale '{pending.status}' state"
        self._emit("PendingRelease", message)
        return LoopStep.RUN


def act(run: ClusterRun) -> Acted:
    """Bring the HelmRelease's release on one cluster to its plan; ClusterFailure if not."""
    assert run.doc is not None
    hr = parse_as(run.doc, HelmRelease)
    try:
        plan = ReleasePlan.from_objects(run.objects)
    except ValueError as err:
        raise ClusterFailure(RECONCILIATION_FAILED, f"release plan unreadable: {err}") from err
    loop = _Loop(run, hr, plan, _chart(run, plan))
    try:
        return loop.go()
    except (KubeError, StorageError) as err:
        # Helm's storage cannot be read (the cluster is unreachable): an expected
        # failure, said plainly and with the record kept, not an unexpected traceback.
        raise loop._failure(RECONCILIATION_FAILED, f"Helm release storage: {err}") from err
