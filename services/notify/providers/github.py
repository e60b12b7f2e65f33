"""GitHub (and GitHub Enterprise) commit statuses, as Flux's github notifier sets them.

``POST {api}/repos/{owner}/{repo}/statuses/{sha}`` with ``state``
(success for info, failure for error), ``description`` and ``context``;
``Authorization: Bearer <token>``. The API is ``https://api.github.com``
for github.com and ``https://<host>/api/v3`` for an Enterprise host
(go-github's WithEnterpriseURLs). Flux first lists the commit's statuses to
skip a duplicate; sluice posts (GitHub keeps the latest per context).
Source: internal/notifier/github.go, github_helpers.go.
"""

from __future__ import annotations

from services.notify.notice import Notice, Request, Target
from services.notify.providers.common import json_request
from services.notify.providers.gitcommit import commit_status, token_or_password

__all__ = ["API_VERSION", "build", "state"]

API_VERSION = "2022-11-28"  # go-github's X-GitHub-Api-Version
_MEDIA_TYPE = "application/vnd.github.v3+json"


def state(severity: str) -> str:
    """GitHub's state for an event severity (only info and error reach here)."""
    return "failure" if severity == "error" else "success"


def build(notice: Notice, target: Target) -> Request | None:
    """The commit status request, or None when Flux would set none."""
    status = commit_status(notice, target)
    if status is None:
        return None
    token = token_or_password(target, provider="github")
    repo = status.repository
    owner, name = repo.owner_and_name
    api = "https://api.github.com" if repo.host == "github.com" else f"{repo.base}/api/v3"
    payload = {
        "state": state(notice.severity),
        "description": status.description,
        "context": status.context,
    }
    return json_request(
        f"{api}/repos/{owner}/{name}/statuses/{status.sha}",
        payload,
        headers=(
            ("Accept", _MEDIA_TYPE),
            ("X-GitHub-Api-Version", API_VERSION),
            ("Authorization", f"Bearer {token}"),
        ),
    )
