"""Helm's part of a per-cluster run: release (the loop in ``release.py``) or uninstall.

The per-cluster run around it (desired plan, connect, record, summarize, emit)
is ``shared.fleet.run``. A cluster that is no longer a target, or whose
HelmRelease was deleted, is uninstalled with the HelmRelease's ``uninstall``
options (once deleted, those its last plan kept); a HelmRelease deleted while
suspended leaves its releases, as Flux does.
"""

from __future__ import annotations

from typing import Any

from services.helm.actionoptions import UninstallOptions
from services.helm.helm import HelmError, ReleaseRef
from services.helm.options import uninstall_options
from services.helm.release import KEEP, SERVICE, act
from services.helm.release_state import latest
from services.helm.releaseplan import ReleasePlan
from services.helm.runhelm import helm_for, record_of
from shared.api import InvalidObjects, parse_as
from shared.api.helmrelease import HelmRelease
from shared.fleet.run import Acted, ClusterFailure, ClusterRun, FanOut, FleetService
from shared.fleet.state import Desired, FleetState
from shared.kube.inventory import Inventory

__all__ = ["HELM", "release"]


def release(run: ClusterRun) -> Acted:
    """Uninstall the release from a cluster that is no longer a target, or on deletion.

    The uninstall options are the HelmRelease's, or once it is deleted those of
    its last plan; Flux's defaults when that expired too.
    """
    record = record_of(run)
    newest = latest(record.recorded.history)
    if newest is None or not record.storage_namespace:
        return Acted(Inventory(), "no Helm release to uninstall")
    hr = _document_of(run)
    options = UninstallOptions()
    if hr is not None:
        options = uninstall_options(hr, timeout=run.time_left(hr.spec.timeout_seconds))
    ref = ReleaseRef(newest.name, record.storage_namespace)
    try:
        helm_for(run).uninstall(ref, options=options)
    except HelmError as err:
        message = f"Helm uninstall failed for release {ref.namespace}/{ref.name}: {err}"
        raise ClusterFailure("UninstallFailed", message) from err
    message = (
        f"Helm uninstall succeeded for release {newest.full_name} "
        f"with chart {newest.chart_name}@{newest.chart_version}"
    )
    run.ctx.emit(
        "applied", run.key, reason="UninstallSucceeded", message=message, cluster=run.cluster
    )
    return Acted(Inventory(), message, announced=True)


def _document_of(run: ClusterRun) -> HelmRelease | None:
    """The HelmRelease as it is, or as its last plan kept it once deleted."""
    if run.doc is not None:
        return parse_as(run.doc, HelmRelease)
    if run.desired is None:
        return None
    state = FleetState(run.ctx.client, service=SERVICE, cipher=run.ctx.store.cipher)
    objects = state.build(run.desired.build_key)
    if not objects:
        return None
    try:
        document = ReleasePlan.from_objects(objects).document
        return parse_as(document, HelmRelease) if document else None
    except (ValueError, InvalidObjects):
        return None  # a plan of an older sluice: Flux's default options


def _releases(doc: dict[str, Any] | None, desired: Desired | None) -> bool:
    # A cluster left behind is uninstalled; a deleted HelmRelease's releases too,
    # unless it was suspended when deleted (Flux skips the uninstall then).
    if doc is not None:
        return not bool(doc["spec"].get("suspend"))
    return desired is not None and desired.deletion != KEEP


def _read(doc: dict[str, Any]) -> FanOut:
    hr = parse_as(doc, HelmRelease)
    return FanOut(hr.spec, hr.spec.suspend, hr.spec.interval_seconds)


HELM = FleetService(
    name=SERVICE,
    read=_read,
    act=act,
    release=release,
    releases=_releases,
    needs_inventory=False,
)
