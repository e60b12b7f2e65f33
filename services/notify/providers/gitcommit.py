"""What the commit-status providers (github, gitlab, gitea, bitbucket) share.

Flux sets a commit status only for an event that says so (metadata
``commit_status: update``) or that reports an error; the commit is the one
in the event's ``originRevision`` or ``revision`` (``main@sha1:<sha>``, or
the older ``main/<sha>``); the repository comes from the Provider's address
(https or ssh, any host); the status's description is the event's reason
split into lower-case words; its context (GitHub/Gitea "context", GitLab
"name", Bitbucket "key") is the Provider's ``commitStatusExpr`` or else
``<kind>/<name>/<provider uid's first group>``, lower-cased
(internal/server/provider_commit_status.go, internal/notifier/util.go).

``commit_status()`` applies all of that and returns None when nothing is to
be posted. Errors: ``PayloadError`` naming ``spec.address``,
``spec.commitStatusExpr`` or the Secret's ``token``; never quoting a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from services.notify.notice import Notice, PayloadError, Target
from services.notify.providers.goevent import event_json
from shared.api.provider import COMMIT_STATUS_VARIABLES
from shared.cel import CelError, compile_string

__all__ = [
    "CommitStatus",
    "Repository",
    "commit_sha",
    "commit_status",
    "describe",
    "go_path_escape",
    "parse_repository",
    "status_context",
    "token_or_password",
    "wants_commit_status",
]

PROGRESSING = "Progressing"  # meta.ProgressingReason: most providers post nothing for it
_API_VERSION = "notification.toolkit.fluxcd.io/v1beta3"
# scp-like ssh address: [user@]host:path (no scheme, no "//").
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
_SHA1_LENGTH = 40
_EMPTY_ALERT = {"apiVersion": _API_VERSION, "kind": "Alert"}


@dataclass(frozen=True)
class Repository:
    """Where a Provider address points: the web base (``https://host``) and the repo path."""

    base: str  # scheme://host[:port] as Flux's parseGitAddress keeps it (ssh becomes https)
    path: str  # "owner/repo", or GitLab's "group/sub/project"

    @property
    def host(self) -> str:
        """The host name alone (``github.com``)."""
        return urlsplit(self.base).hostname or ""

    @property
    def owner_and_name(self) -> tuple[str, str]:
        """The two parts of an ``owner/repo`` path (checked by ``parse_repository``)."""
        owner, name = self.path.split("/")
        return owner, name


@dataclass(frozen=True)
class CommitStatus:
    """One commit status to set: on which commit of which repository, in which context."""

    repository: Repository
    sha: str
    context: str
    description: str
    name: str  # "kind/name" lower-cased (Bitbucket shows it)


def wants_commit_status(notice: Notice) -> bool:
    """Flux's filter: only an event marked ``commit_status: update`` or an error sets a status."""
    return notice.metadata.get("commit_status") == "update" or notice.severity == "error"


def commit_sha(notice: Notice) -> str | None:
    """The commit's SHA-1 from ``originRevision`` or ``revision``; None without one.

    ``main@sha1:<sha>`` and ``sha1:<sha>`` give what follows the last colon;
    the older ``main/<sha>`` what follows the last slash. Flux's git package
    knows only 40-character SHA-1 hashes; anything else is not a commit.
    """
    revision = notice.metadata.get("originRevision") or notice.metadata.get("revision")
    if not revision:
        return None
    sha = revision.rsplit(":", 1)[1] if ":" in revision else revision.rsplit("/", 1)[-1]
    if len(sha) != _SHA1_LENGTH or not all(c in "0123456789abcdefABCDEF" for c in sha):
        return None
    return sha


def parse_repository(address: str, *, segments: int | None = 2) -> Repository:
    """The repository a Provider address names, as Flux's parseGitAddress reads it.

    Takes ``https://host/owner/repo(.git)``, ``ssh://git@host/owner/repo.git``
    and ``git@host:owner/repo.git`` (ssh becomes https, its port dropped: an
    ssh port is never the API's). ``segments``: how many path parts the
    provider needs (2: owner/repo; None: any, for GitLab's nested groups).
    """
    expected = "a repository URL such as https://github.com/org/repo"
    if not address:
        raise PayloadError(f"spec.address is empty: expected {expected}")
    scp = _SCP_LIKE.match(address) if "://" not in address else None
    if scp is not None:
        base, path = f"https://{scp['host']}", scp["path"]
    else:
        try:
            parts = urlsplit(address)
            port = parts.port
        except ValueError:
            raise PayloadError(f"spec.address is not a URL: expected {expected}") from None
        if parts.scheme not in ("http", "https", "ssh") or not parts.hostname:
            raise PayloadError(f"spec.address is not an http(s) or ssh URL: expected {expected}")
        scheme = "https" if parts.scheme == "ssh" else parts.scheme
        keep_port = port is not None and parts.scheme != "ssh"
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        base = f"{scheme}://{host}" + (f":{port}" if keep_port else "")
        path = parts.path
    path = path.strip("/").removesuffix(".git")
    pieces = path.split("/")
    if not path or any(not piece for piece in pieces):
        raise PayloadError(f"spec.address has no repository path: expected {expected}")
    if segments is not None and len(pieces) != segments:
        raise PayloadError(
            f"spec.address names {len(pieces)} path segment(s), not {segments}: expected {expected}"
        )
    return Repository(base=base, path=path)


def describe(notice: Notice) -> str:
    """The status description: the reason's words, lower-cased (Flux's formatNameAndDescription)."""
    return " ".join(_split_camel_case(notice.reason)).lower()


def status_context(
    notice: Notice,
    target: Target,
    *,
    provider: Mapping[str, Any] | None = None,
    alert: Mapping[str, Any] | None = None,
) -> str:
    """The status's context: ``commitStatusExpr`` evaluated, or Flux's default.

    The expression sees ``event`` (Flux's event JSON), ``provider`` and
    ``alert`` (the objects; when not given, what the Target knows of the
    Provider and the Notice's Alert).
    """
    obj = notice.involved_object
    if not target.commit_status_expr:
        return f"{obj.kind}/{obj.name}/{target.uid.split('-')[0]}".lower()
    data = {
        "event": event_json(notice),
        "provider": dict(provider) if provider is not None else _provider_object(target),
        "alert": dict(alert if alert is not None else (notice.alert or _EMPTY_ALERT)),
    }
    try:
        expression = compile_string(target.commit_status_expr, variables=COMMIT_STATUS_VARIABLES)
        return expression.evaluate(data)
    except CelError as err:
        raise PayloadError(f"spec.commitStatusExpr: {err}") from None


def commit_status(
    notice: Notice, target: Target, *, segments: int | None = 2, skip_progressing: bool = True
) -> CommitStatus | None:
    """The commit status Flux would set for this event, or None when it sets none.

    None for an event Flux does not send to a commit-status provider (neither
    ``commit_status: update`` nor an error), for a Progressing event (unless
    ``skip_progressing`` is off: Gitea posts those as pending), and for an
    event without a commit. A bad address or expression raises PayloadError.
    """
    if not wants_commit_status(notice):
        return None
    repository = parse_repository(target.address, segments=segments)
    if skip_progressing and notice.reason == PROGRESSING:
        return None
    sha = commit_sha(notice)
    if sha is None:
        return None
    obj = notice.involved_object
    return CommitStatus(
        repository=repository,
        sha=sha,
        context=status_context(notice, target),
        description=describe(notice),
        name=f"{obj.kind}/{obj.name}".lower(),
    )


def token_or_password(target: Target, *, provider: str) -> str:
    """The API token: the Secret's ``token``, else its ``password`` (as Flux falls back)."""
    token = target.token or target.password
    if not token:
        raise PayloadError(f"the Provider's Secret has no 'token': {provider} needs an API token")
    return token


def go_path_escape(segment: str) -> str:
    """Go's url.PathEscape: one path segment, ``/`` escaped too."""
    return quote(segment, safe="$&+:=@")


def _provider_object(target: Target) -> dict[str, Any]:
    spec = {"type": target.type, "commitStatusExpr": target.commit_status_expr}
    if target.channel:
        spec["channel"] = target.channel
    metadata = {"name": target.name, "namespace": target.namespace, "uid": target.uid}
    return {"apiVersion": _API_VERSION, "kind": "Provider", "metadata": metadata, "spec": spec}


def _char_class(char: str) -> int:
    if char.islower():
        return 1
    if char.isupper():
        return 2
    if char.isdigit():
        return 3
    return 4


def _split_camel_case(text: str) -> list[str]:
    """Flux's splitCamelcase: runs of one character class, "PDFLoader" -> "PDF", "Loader"."""
    runs: list[list[str]] = []
    last = 0
    for char in text:
        kind = _char_class(char)
        if runs and kind == last:
            runs[-1].append(char)
        else:
            runs.append([char])
        last = kind
    for i in range(len(runs) - 1):
        if runs[i][0].isupper() and runs[i + 1][0].islower():
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(run) for run in runs if run]
