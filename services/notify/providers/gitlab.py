"""GitLab (and self-hosted GitLab) commit statuses, as Flux's gitlab notifier sets them.

``POST {host}/api/v4/projects/{project}/statuses/{sha}`` with ``state``
(success for info, failed for error), ``name`` (the context) and
``description``; ``PRIVATE-TOKEN: <token>``. The project is the address's
whole path (nested groups too), escaped as one path segment, dots included,
as the GitLab client does. Source: internal/notifier/gitlab.go.
"""

from __future__ import annotations

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import json_request
from services.notify.providers.gitcommit import commit_status, go_path_escape, token_or_password

__all__ = ["build", "project_id", "state"]


def state(severity: str) -> str:
    """GitLab's build state for an event severity."""
    return "failed" if severity == "error" else "success"


def project_id(path: str) -> str:
    """``group/sub/project`` as GitLab's API takes it in a URL (client-go's PathEscape)."""
    return go_path_escape(path).replace(".", "%2E")


def build(notice: Notice, target: Target) -> Request | None:
    """The commit status request, or None when Flux would set none."""
    status = commit_status(notice, target, segments=None)
    if status is None:
        return None
    token = token_or_password(target, provider="gitlab")
    repo = status.repository
    payload = {"state": state(notice.severity), "name": status.context}
    payload["description"] = status.description
    url = f"{repo.base}/api/v4/projects/{project_id(repo.path)}/statuses/{status.sha}"
    return json_request(url, payload, headers=(("PRIVATE-TOKEN", token),))
