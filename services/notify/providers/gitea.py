"""Gitea (and Forgejo) commit statuses, as Flux's gitea notifier sets them.

``POST {host}/api/v1/repos/{owner}/{repo}/statuses/{sha}`` with ``state``
(pending for a Progressing event, success for info, failure for error),
``target_url`` (empty), ``description`` and ``context``;
``Authorization: token <token>``. Unlike the others, Flux's Gitea notifier
posts Progressing events (as pending). Source: internal/notifier/gitea.go,
gitea_helpers.go.
"""

from __future__ import annotations

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import json_request
from services.notify.providers.gitcommit import (
    PROGRESSING,
    commit_status,
    go_path_escape,
    token_or_password,
)

__all__ = ["build", "state"]


def state(notice: Notice) -> str:
    """Gitea's status state for an event."""
    if notice.reason == PROGRESSING:
        return "pending"
    return "failure" if notice.severity == "error" else "success"


def build(notice: Notice, target: Target) -> Request | None:
    """The commit status request, or None when Flux would set none."""
    status = commit_status(notice, target, skip_progressing=False)
    if status is None:
        return None
    token = token_or_password(target, provider="gitea")
    repo = status.repository
    owner, name = (go_path_escape(part) for part in repo.owner_and_name)
    payload = {
        "state": state(notice),
        "target_url": "",
        "description": status.description,
        "context": status.context,
    }
    return json_request(
        f"{repo.base}/api/v1/repos/{owner}/{name}/statuses/{status.sha}",
        payload,
        headers=(("Authorization", f"token {token}"),),
    )
