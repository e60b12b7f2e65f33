"""Reconcile a Provider or an Alert: check what it names, and say so in its Ready condition.

Flux's v1beta3 keeps no status on these; sluice keeps v1beta2's ``Ready`` so
that ``sluice get alerts`` shows a broken reference (a Secret or Provider that
is not there) before the first event is lost to it. A Provider is also
Ready=False while its endpoint fails (``delivery.py``); its reconcile wakes
the sender of anything still queued. One status write, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from services.notify.delivery import DELIVERY_FAILED
from services.notify.outbox import Outbox
from services.notify.targets import TargetError, resolve_provider
from shared.api.alert import Alert
from shared.api.conditions import READY, Outcome, get_condition, summarize
from shared.api.meta import ApiObject
from shared.api.provider import Provider
from shared.keys import ObjectKey
from shared.reconcile import (
    ReconcileError,
    Waiting,
    as_failure,
    conclude,
    parse_or_stall,
    record_failure,
    update_status,
)
from shared.worker import WorkerContext, requested_at

__all__ = ["reconcile_alert", "reconcile_provider"]

T = TypeVar("T", bound=ApiObject)
# A missing Secret or Provider is looked for again after this many seconds.
_RETRY_SECONDS = 30.0
PROVIDER_NOT_FOUND = "ProviderNotFound"
SECRET_NOT_FOUND = "SecretNotFound"


def _reconcile(
    ctx: WorkerContext, key: ObjectKey, model: type[T], check: Callable[[T], str]
) -> None:
    doc = ctx.store.get(key)
    if doc is None:
        return
    obj = parse_or_stall(ctx, key, doc, model)
    if obj is None:
        return
    generation = int(doc["metadata"].get("generation", 1))
    token = requested_at(doc)
    failure: ReconcileError | None = None
    message = ""
    try:
        message = check(obj)
    except Exception as err:
        failure = as_failure(err)

    def change(_doc: dict[str, Any], status: dict[str, Any]) -> None:
        if failure is not None:
            record_failure(status, failure, generation=generation)
        else:
            ready = get_condition(status, READY) or {}
            # A failing endpoint stays reported until a notice lands.
            if ready.get("reason") != DELIVERY_FAILED:
                summarize(status, Outcome.SUCCEEDED, message=message, generation=generation)
            status["observedGeneration"] = generation
        if token is not None:
            status["lastHandledReconcileAt"] = token

    update_status(ctx.store, key, change)
    conclude(ctx, key, failure=failure, retry_interval=_RETRY_SECONDS)


def reconcile_provider(
    ctx: WorkerContext, key: ObjectKey, *, kick: Callable[[ObjectKey], None]
) -> None:
    """Check the Provider's Secrets; wake its sender if notices wait."""

    def check(provider: Provider) -> str:
        if provider.spec.suspend:
            return "Provider is suspended: its notices are dropped"
        try:
            resolve_provider(ctx.store, provider, scope=key.scope)
        except TargetError as err:
            raise Waiting(SECRET_NOT_FOUND, str(err), retry_after=_RETRY_SECONDS) from err
        if len(Outbox(ctx.client, key)):
            kick(key)
        return "Initialized"

    _reconcile(ctx, key, Provider, check)


def reconcile_alert(ctx: WorkerContext, key: ObjectKey) -> None:
    """Check that the Alert's Provider exists."""

    def check(alert: Alert) -> str:
        ref = ObjectKey("Provider", key.namespace, alert.spec.provider_ref.name, key.scope)
        if ctx.store.get(ref) is None:
            raise Waiting(
                PROVIDER_NOT_FOUND,
                f"provider '{ref.namespace}/{ref.name}' named in spec.providerRef not found",
                retry_after=_RETRY_SECONDS,
            )
        return "Initialized"

    _reconcile(ctx, key, Alert, check)
