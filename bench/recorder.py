"""``celery -A bench.recorder worker``: a kustomize worker that records the leases it holds.

The worker is the real one (``services.kustomize.tasks``); only ``Lease`` is
wrapped, to append ``[event, key, holder process, token, time]`` to
``bench.leases.RECORD`` after each acquisition and before each release.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from bench.leases import RECORD
from services.kustomize.tasks import app
from shared.lease import Lease

__all__ = ["app"]

_enter = Lease.__enter__
_exit = Lease.__exit__


def _record(lease: Lease, event: str) -> None:
    holder = f"{lease.holder}/{os.getpid()}"
    entry = [event, str(lease.key), holder, lease.token, time.time()]
    lease._client.rpush(RECORD, json.dumps(entry))


def _recording_enter(self: Lease) -> Lease:
    held = _enter(self)
    _record(self, "acquire")
    return held


def _recording_exit(self: Lease, *exc: Any) -> None:
    _record(self, "release")
    _exit(self, *exc)


setattr(Lease, "__enter__", _recording_enter)  # noqa: B010 (mypy refuses method assignment)
setattr(Lease, "__exit__", _recording_exit)  # noqa: B010
