"""Source kinds (``source.toolkit.fluxcd.io``): GitRepository (FLUX-API §2.1)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from shared.api.meta import (
    ApiModel,
    ApiObject,
    FetchSpec,
    LocalObjectReference,
    Name,
)

__all__ = [
    "GIT_URL_SCHEMES",
    "GitRepository",
    "GitRepositoryInclude",
    "GitRepositoryRef",
    "GitRepositorySpec",
    "GitRepositoryVerification",
    "check_git_url",
    "redact_url",
]

# Flux accepts http, https and ssh; sluice also serves git:// and file://
# repositories (local mirrors, tests, air-gapped setups).
GIT_URL_SCHEMES = ("http", "https", "ssh", "git", "file")

_SCP_LIKE = re.compile(r"(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.+)")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for messages and logs."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


def _userinfo_refused(url: str, scheme: str) -> str | None:
    """Why credentials in ``url`` are refused, or None (an ssh login name is no secret)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    if scheme == "ssh" and parts.password is None:
        return None  # ssh://git@host/repo: the user to log in as
    host = parts.netloc.rpartition("@")[2]
    shown = urlunsplit(parts._replace(netloc=f"***@{host}", query="", fragment=""))
    keys = (
        "identity and known_hosts" if scheme == "ssh" else "username and password, or bearerToken"
    )
    return (
        f'credentials in the URL "{shown}" are refused: they would be stored in clear, '
        "shown by `sluice get -o yaml` and `sluice export`, and written to Redis' files; "
        f"remove them from the URL and put them ({keys}) in a Secret named by spec.secretRef"
    )


def check_git_url(url: str) -> str:
    """Accept a Git URL sluice can fetch, else raise ValueError saying what to write."""
    shown = redact_url(url)
    if "://" not in url:
        scp = _SCP_LIKE.fullmatch(url)
        if scp and (scp["user"] or "." in scp["host"]):
            user = f"{scp['user']}@" if scp["user"] else ""
            path = scp["path"].lstrip("/")
            raise ValueError(
                f'scp-style URL "{shown}" is not supported: use "ssh://{user}{scp["host"]}/{path}"'
            )
        raise ValueError(
            f'invalid URL "{shown}": expected a URL with a scheme '
            f"({', '.join(GIT_URL_SCHEMES)}), e.g. https://github.com/org/repo or "
            "file:///srv/git/repo"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    refused = _userinfo_refused(url, scheme)
    if refused:
        raise ValueError(refused)
    if scheme not in GIT_URL_SCHEMES:
        raise ValueError(
            f'unsupported URL scheme "{parts.scheme}" in "{shown}": '
            f"expected one of {', '.join(GIT_URL_SCHEMES)}"
        )
    if scheme == "file":
        if not parts.path or parts.path == "/":
            raise ValueError(
                f'invalid URL "{shown}": a file URL needs a path, e.g. file:///srv/repo'
            )
        return url
    if not parts.hostname:
        raise ValueError(f'invalid URL "{shown}": missing host')
    try:
        parts.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError:
        host, _, not_port = urlsplit(shown).netloc.rpartition(":")
        raise ValueError(
            f'invalid URL "{shown}": "{not_port}" after ":" is not a port; '
            f'write the path after "/": "{scheme}://{host}/{not_port}{parts.path}"'
        ) from None
    if not parts.path.strip("/"):
        raise ValueError(f'invalid URL "{shown}": missing the repository path')
    return url


class GitRepositoryRef(ApiModel):
    """``spec.ref``: what to check out; precedence commit > name > semver > tag > branch."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None


class GitRepositoryVerification(ApiModel):
    """``spec.verify``: signature verification of the commit or tag."""

    mode: Literal["head", "HEAD", "Tag", "TagAndHEAD"] = "HEAD"
    secret_ref: LocalObjectReference


class GitRepositoryInclude(ApiModel):
    """``spec.include[]``: another GitRepository's artifact copied into this one."""

    repository: LocalObjectReference
    from_path: str | None = None
    to_path: str | None = None


class GitRepositorySpec(FetchSpec):
    """``GitRepository.spec``."""

    url: Annotated[str, AfterValidator(check_git_url)]
    secret_ref: LocalObjectReference | None = None
    # provider is declared before serviceAccountName: the latter's check reads it.
    provider: Literal["generic", "aws", "azure", "github"] | None = None
    service_account_name: Name | None = None
    ref: GitRepositoryRef | None = None
    verify: GitRepositoryVerification | None = None
    proxy_secret_ref: LocalObjectReference | None = None
    ignore: str | None = None
    recurse_submodules: bool = False
    include: list[GitRepositoryInclude] = Field(default_factory=list)
    sparse_checkout: list[str] = Field(default_factory=list)

    @field_validator("service_account_name")
    @classmethod
    def _service_account_needs_cloud_provider(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("provider") not in ("aws", "azure"):
            raise ValueError("serviceAccountName is only supported with provider aws or azure")
        return value

    # Fields of Flux's API that sluice does not act on yet are refused, never
    # stored and ignored; each message says what to use instead.
    @field_validator("provider")
    @classmethod
    def _generic_provider_only(cls, value: str | None) -> str | None:
        if value not in (None, "generic"):
            raise ValueError(
                f'provider "{value}" is not supported by sluice yet: use "generic" with '
                "spec.secretRef credentials"
            )
        return value

    @field_validator("verify", "proxy_secret_ref")
    @classmethod
    def _not_yet(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            what = {"verify": "commit signature verification", "proxy_secret_ref": "a proxy"}
            raise ValueError(f"{what[str(info.field_name)]} is not supported by sluice yet")
        return value

    @field_validator("recurse_submodules")
    @classmethod
    def _no_submodules(cls, value: bool) -> bool:
        if value:
            raise ValueError("submodules are not supported by sluice yet")
        return value

    @field_validator("include", "sparse_checkout")
    @classmethod
    def _no_partial_trees(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        if value:
            what = {"include": "including other repositories", "sparse_checkout": "sparse checkout"}
            raise ValueError(f"{what[str(info.field_name)]} is not supported by sluice yet")
        return value


class GitRepository(ApiObject):
    """A Git repository to fetch and package as an artifact."""

    spec: GitRepositorySpec
    status: dict[str, Any] | None = Field(default=None, repr=False)

    @classmethod
    def convert_from(cls, api_version: str, doc: dict[str, Any]) -> dict[str, Any]:
        """v1beta1/v1beta2 -> v1: drop ``gitImplementation`` and ``accessFrom`` (gone in v1)."""
        spec = doc.get("spec")
        if isinstance(spec, dict):
            spec = {k: v for k, v in spec.items() if k not in ("gitImplementation", "accessFrom")}
            doc = {**doc, "spec": spec}
        return doc
