"""Bitbucket Cloud build statuses, as Flux's bitbucket notifier sets them.

``POST https://api.bitbucket.org/2.0/repositories/{owner}/{repo}/commit/{sha}/statuses/build``
with ``key`` (the SHA-1 hex of the context: Bitbucket keys are at most 40
characters), ``url`` (https://bitbucket.org), ``state`` (SUCCESSFUL or
FAILED), ``name`` (kind/name) and ``description``; Basic auth from a
token of the form ``<username>:<app password>``. The address only names
the repository: Bitbucket Cloud has one API host. Source:
internal/notifier/bitbucket.go.
"""

from __future__ import annotations

import base64
import hashlib

from services.notify.notice import Notice, PayloadError, Request, Target
from services.notify.providers.common import json_request
from services.notify.providers.gitcommit import commit_status

__all__ = ["API", "build", "state"]

API = "https://api.bitbucket.org/2.0"


def state(severity: str) -> str:
    """Bitbucket's build state for an event severity."""
    return "FAILED" if severity == "error" else "SUCCESSFUL"


def _basic_auth(token: str) -> str:
    # Flux splits on every colon and wants exactly two parts.
    parts = token.split(":")
    if len(parts) != 2:
        raise PayloadError(
            "the Provider's Secret 'token' is not of the form <username>:<app password>"
        )
    return "Basic " + base64.b64encode(token.encode()).decode()


def build(notice: Notice, target: Target) -> Request | None:
    """The build status request, or None when Flux would set none."""
    status = commit_status(notice, target)
    if status is None:
        return None
    if not target.token:
        raise PayloadError("the Provider's Secret has no 'token': bitbucket needs <user>:<pass>")
    auth = _basic_auth(target.token)
    owner, name = status.repository.owner_and_name
    payload = {
        "key": hashlib.sha1(status.context.encode()).hexdigest(),  # Flux's key, not a secret
        "url": "https://bitbucket.org",
        "state": state(notice.severity),
        "name": status.name,
        "description": status.description,
    }
    return json_request(
        f"{API}/repositories/{owner}/{name}/commit/{status.sha}/statuses/build",
        payload,
        headers=(("Authorization", auth),),
    )
