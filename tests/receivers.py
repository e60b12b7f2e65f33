"""Helpers for Receiver tests: the real ``sluice receiver`` process and signed webhook calls."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.notify.receiver.reconcile import reconcile_receiver
from services.notify.receiver.webhook import sign
from shared.api import parse_object
from shared.api.validation import dump_object
from shared.keys import ObjectKey
from shared.settings import Settings
from shared.store import Store
from shared.worker import REQUESTED_AT, WorkerContext
from tests.fixtures.workers import ROOT, settings_env
from tests.helpers import eventually

__all__ = [
    "ReceiverProcess",
    "github_push",
    "receiver_yaml",
    "reconciled",
    "requested",
    "running_receiver",
    "store_objects",
]

SLUICE = str(Path(sys.executable).with_name("sluice"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ReceiverProcess:
    """A running ``sluice receiver``: its base URL and its log."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def post(
        self, path: str, body: bytes = b"{}", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return httpx.post(self.url + path, content=body, headers=headers or {}, timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_receiver(settings: Settings, log_dir: Path) -> Iterator[ReceiverProcess]:
    """``sluice receiver`` on a free loopback port against ``settings``' Redis."""
    port = _free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "receiver.log"
    env = {**os.environ, **settings_env(settings), "PYTHONPATH": str(ROOT)}
    argv = [SLUICE, "receiver", "--address", f"127.0.0.1:{port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = ReceiverProcess(f"http://127.0.0.1:{port}", log, process)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"sluice receiver exited:\n{server.output()}")
        try:
            return httpx.get(server.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(up, timeout=30, interval=0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def receiver_yaml(
    name: str,
    *,
    type_: str = "github",
    secret: str = "webhook-token",
    resources: list[dict[str, Any]] | None = None,
    namespace: str = "flux-system",
    **spec: Any,
) -> dict[str, Any]:
    """A Receiver document (``notification.toolkit.fluxcd.io/v1``)."""
    return {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": type_,
            "secretRef": {"name": secret},
            "resources": resources or [{"kind": "GitRepository", "name": "app"}],
            **spec,
        },
    }


def store_objects(store: Store, *docs: dict[str, Any], scope: str = "") -> None:
    """Validate ``docs`` as ``sluice apply`` does and store them."""
    stored = [dump_object(parse_object(doc)) for doc in docs]
    store.apply_all(stored, scope=scope)


def reconciled(ctx: WorkerContext, key: ObjectKey) -> dict[str, Any]:
    """Reconcile the Receiver ``key`` in this process; its stored document after."""
    reconcile_receiver(ctx, key)
    doc = ctx.store.get(key)
    assert doc is not None
    return doc


def requested(store: Store, key: ObjectKey) -> str | None:
    """The requestedAt token on ``key``, or None when nobody asked for a reconcile."""
    doc = store.get(key) or {}
    return ((doc.get("metadata") or {}).get("annotations") or {}).get(REQUESTED_AT)


def github_push(
    token: str, *, ref: str = "refs/heads/main", event: str = "push"
) -> tuple[bytes, dict[str, str]]:
    """A push delivery as GitHub sends it: JSON body, event and SHA-256 signature headers."""
    body = json.dumps({"ref": ref, "after": "0" * 40, "repository": {"name": "app"}}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": sign(body, token),
    }
    return body, headers
