"""Reconcile one Receiver: check its filters, read its token, publish its webhook path.

As notification-controller's ReceiverReconciler (FLUX-API §7.4): guard clauses
(deleted: its path is forgotten; suspended; stalled at this generation), then
the steps, then one status write:

1. every CEL filter compiles, with ``res`` and ``req`` declared and a bool
   result; else Stalled, InvalidCELExpression, until the spec changes;
2. the Secret in ``spec.secretRef`` holds a non-empty ``token``; else Ready
   False, TokenNotFound, ``webhookPath`` cleared and retried with backoff
   (a Secret applied later is picked up on the retry);
3. ``status.webhookPath`` = ``/hook/`` + sha256(token + name + namespace)
   (``webhook.webhook_path``), Ready True, Succeeded.

After the write the path index (``index.py``) follows the status: the server
finds the Receiver by its path in one Redis read. The token never leaves this
function: not in status, events, logs or errors.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
from typing import Any

from services.notify.receiver.index import forget_path, index_path
from services.notify.receiver.targets import compile_filters
from services.notify.receiver.webhook import webhook_path
from shared.api.conditions import INVALID_CEL_EXPRESSION, SUCCEEDED, Outcome, summarize
from shared.api.receiver import Receiver
from shared.cel import CelError
from shared.keys import ObjectKey
from shared.reconcile import (
    ReconcileError,
    Stalled,
    Transient,
    as_failure,
    conclude,
    parse_or_stall,
    record_failure,
    stalled_at_generation,
    update_status,
)
from shared.scopes import resolve
from shared.store import Store
from shared.worker import WorkerContext, requested_at

__all__ = ["TOKEN_NOT_FOUND", "receiver_token", "reconcile_receiver"]

log = logging.getLogger(__name__)

TOKEN_NOT_FOUND = "TokenNotFound"
_TERMINAL = "Reconciliation failed terminally due to configuration error"


def receiver_token(store: Store, key: ObjectKey, receiver: Receiver) -> str:
    """The ``token`` of the Receiver's Secret; Transient TokenNotFound when missing or empty.

    The message names the Secret and the key, never a value.
    """
    name = receiver.spec.secret_ref.name
    where = f"secret '{key.namespace}/{name}'"
    _, doc = resolve(store, ObjectKey("Secret", key.namespace, name), key.scope)
    if doc is None:
        raise Transient(TOKEN_NOT_FOUND, f"unable to read token from {where}: not found")
    encoded = (doc.get("data") or {}).get("token")
    if encoded is None:
        raise Transient(TOKEN_NOT_FOUND, f"invalid {where} data: required field 'token'")
    try:
        token = base64.b64decode(encoded).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Transient(
            TOKEN_NOT_FOUND, f"invalid {where} data: 'token' is not UTF-8 text"
        ) from None
    if not token:
        raise Transient(TOKEN_NOT_FOUND, f"invalid {where} data: 'token' is empty")
    return token


def _check_filters(receiver: Receiver) -> None:
    try:
        compile_filters(receiver)
    except CelError as err:
        raise Stalled(INVALID_CEL_EXPRESSION, f"{_TERMINAL}: {err}") from err


def reconcile_receiver(ctx: WorkerContext, key: ObjectKey) -> None:
    """One reconcile of the Receiver ``key``; the status is written once, at the end."""
    doc = ctx.store.get(key)
    if doc is None:
        forget_path(ctx.client, key)
        return
    receiver = parse_or_stall(ctx, key, doc, Receiver)
    if receiver is None or receiver.spec.suspend or stalled_at_generation(doc):
        return
    status: dict[str, Any] = copy.deepcopy(doc.get("status") or {})
    generation = int(doc["metadata"].get("generation", 1))
    handled = requested_at(doc)
    failure: ReconcileError | None = None
    path = ""
    try:
        _check_filters(receiver)
        token = receiver_token(ctx.store, key, receiver)
        path = webhook_path(token, name=key.name, namespace=key.namespace, scope=key.scope)
        status["webhookPath"] = path
        summarize(
            status,
            Outcome.SUCCEEDED,
            message=f"Receiver initialized for path: {path}",
            reason=SUCCEEDED,
            generation=generation,
        )
    except Exception as err:
        failure = as_failure(err)
        if not isinstance(err, ReconcileError):
            log.exception("reconcile of %s failed unexpectedly", key)
        if failure.reason == TOKEN_NOT_FOUND:
            status.pop("webhookPath", None)
        record_failure(status, failure, generation=generation)
    finally:
        _write(ctx, key, status, handled)
    if path:
        index_path(ctx.client, key, path)
    elif "webhookPath" not in status:
        forget_path(ctx.client, key)
    conclude(ctx, key, failure=failure, retry_interval=receiver.spec.interval_seconds)


def _write(ctx: WorkerContext, key: ObjectKey, status: dict[str, Any], token: str | None) -> None:
    """The one status write, on the newest resourceVersion."""
    if token is not None:
        status["lastHandledReconcileAt"] = token

    def change(_doc: dict[str, Any], current: dict[str, Any]) -> None:
        current.clear()
        current.update(status)

    update_status(ctx.store, key, change)
