"""One webhook call, from its path to the reconciles it asks for, with Flux's status codes.

The order is Flux's ``handlePayload``:

====  ==============================================================
413   the body is over the limit (checked by the route, before this)
404   no Receiver serves the path
503   the Receiver is suspended or not Ready
400   the call is not genuine (``webhook.verify``) or its Secret is gone
500   a filter cannot be evaluated, a named object is missing, or an
      object could not be annotated (the others are still requested)
200   accepted: each selected object's reconcile was requested
====  ==============================================================

What a caller sees is the code and one word; the reason goes to the log,
which names the Receiver (kind, namespace, name) and never the path or the
token. An accepted call is also an event on the Receiver (``sluice events``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from celery import Celery

from services.notify.receiver.index import receiver_at
from services.notify.receiver.reconcile import receiver_token
from services.notify.receiver.request import RequestFailed, ask_reconcile
from services.notify.receiver.targets import compile_filters, select_targets
from services.notify.receiver.webhook import Refused, WebhookCall, json_request, verify
from shared.api import InvalidObjects, parse_as
from shared.api.conditions import READY, TRUE, get_condition
from shared.api.receiver import Receiver
from shared.cel import CelError
from shared.events import Event, EventBus
from shared.keys import ObjectKey
from shared.reconcile import ReconcileError
from shared.store import Store, StoreError

__all__ = ["WEBHOOK_EVENT", "Answer", "ReceiverDesk"]

log = logging.getLogger(__name__)

WEBHOOK_EVENT = "webhook-received"


@dataclass(frozen=True)
class Answer:
    """The HTTP status code of a call and the one word its body says."""

    status: int
    word: str


NOT_FOUND = Answer(404, "not found")
UNAVAILABLE = Answer(503, "unavailable")
REFUSED = Answer(400, "refused")
FAILED = Answer(500, "error")
ACCEPTED = Answer(200, "accepted")


def _name(key: ObjectKey) -> str:
    where = f" (cluster {key.scope})" if key.scope else ""
    return f"Receiver {key.namespace}/{key.name}{where}"


@dataclass(frozen=True)
class ReceiverDesk:
    """What the receiver server needs to answer calls: the store, Redis, a task sender, events."""

    store: Store
    client: redis.Redis
    sender: Celery
    events: EventBus
    no_cross_namespace_refs: bool = False

    def handle(self, path: str, call: WebhookCall) -> Answer:
        """Answer one call to ``path`` (blocking: Redis reads and writes)."""
        key = receiver_at(self.client, path)
        doc = self.store.get(key) if key is not None else None
        if key is None or doc is None or (doc.get("status") or {}).get("webhookPath") != path:
            log.info("webhook call to a path no Receiver serves")
            return NOT_FOUND
        try:
            receiver = parse_as(doc, Receiver, source=str(key))
        except InvalidObjects:
            log.warning("%s: the stored object is not valid; refusing calls", _name(key))
            return UNAVAILABLE
        ready = get_condition(doc.get("status"), READY) or {}
        if receiver.spec.suspend or ready.get("status") != TRUE:
            why = "suspended" if receiver.spec.suspend else "not ready"
            log.warning("%s is %s: unable to process request", _name(key), why)
            return UNAVAILABLE
        try:
            token = receiver_token(self.store, key, receiver)
            accepted = verify(
                call, receiver_type=receiver.spec.type, token=token, events=receiver.spec.events
            )
        except (Refused, ReconcileError) as err:
            log.warning("%s: unable to validate payload: %s", _name(key), err)
            return REFUSED
        if not accepted.reconcile:
            log.info("%s: %s answered; nothing to reconcile", _name(key), accepted.note)
            return ACCEPTED
        return self._request(key, receiver, call, note=accepted.note)

    def _request(
        self, key: ObjectKey, receiver: Receiver, call: WebhookCall, *, note: str
    ) -> Answer:
        try:
            filters = compile_filters(receiver)
            req = json_request(call) if filters.any else {}
        except (CelError, ValueError) as err:
            log.error("%s: unable to create resource filters: %s", _name(key), err)
            return FAILED
        selection = select_targets(
            self.store,
            receiver,
            scope=key.scope,
            filters=filters,
            req=req,
            no_cross_namespace_refs=self.no_cross_namespace_refs,
        )
        errors = list(selection.errors)
        requested: list[ObjectKey] = []
        for target in selection.keys:
            try:
                ask_reconcile(self.store, self.client, self.sender, target)
                requested.append(target)
            except (RequestFailed, StoreError, redis.RedisError) as err:
                errors.append(
                    f"unable to annotate {target.kind} '{target.namespace}/{target.name}': {err}"
                )
        names = ", ".join(f"{k.kind}/{k.namespace}/{k.name}" for k in requested) or "nothing"
        message = f"{note}: requested reconcile of {names}"
        if selection.filtered_out:
            message += f" ({selection.filtered_out} left out by filters)"
        log.info("%s: %s", _name(key), message)
        for error in errors:
            log.error("%s: unable to request reconciliation: %s", _name(key), error)
        self._emit(key, message=message, errors=errors)
        return FAILED if errors else ACCEPTED

    def _emit(self, key: ObjectKey, *, message: str, errors: list[str]) -> None:
        reason = "ReconciliationFailed" if errors else "ReconcileRequested"
        text = "; ".join([message, *errors])
        try:
            self.events.publish(
                Event(
                    type=WEBHOOK_EVENT,
                    object=key,
                    severity="error" if errors else "info",
                    reason=reason,
                    message=text,
                )
            )
        except redis.RedisError as err:
            log.error("%s: the event could not be published: %s", _name(key), err)
