"""Credentials for the repositories a chart comes from: those of HelmRepository objects.

The chart's own HelmRepository, and for a chart's remote dependencies, as
source-controller's ``namespacedChartRepositoryCallback``: a dependency's
repository URL is matched (normalized: one trailing ``/`` for HTTP, none for
OCI) against ``spec.url`` of the HelmRepository objects in the HelmChart's
namespace (its scope first, then the fleet-wide scope); the first match lends
its Secrets (``services.source.helm.helmauth``), which reach helm only as a
:class:`RepositoryLogin` written to private files. A dependency with no match
is fetched without credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.source.helm.chart import Dependency
from services.source.helm.helmauth import RepositoryAuth, normalize_url, repository_auth
from services.source.helm.helmtool import RepositoryLogin
from services.source.reconcile import SourceRun
from shared.api import HelmRepository, InvalidObjects, parse_as
from shared.keys import FLEET

__all__ = ["dependency_logins", "login_for", "repository_of"]


def repository_of(doc: dict[str, Any]) -> HelmRepository | None:
    """The stored HelmRepository document as its model; None when it no longer parses."""
    try:
        return parse_as(doc, HelmRepository)
    except InvalidObjects:
        return None


def login_for(auth: RepositoryAuth, *, url: str = "") -> RepositoryLogin:
    """What helm needs of ``auth`` to reach ``url`` (the repository's own URL by default)."""
    tls = auth.tls
    return RepositoryLogin(
        url=url or auth.url,
        username=auth.username,
        password=auth.password,
        ca_pem=tls.ca_cert if tls else b"",
        cert_pem=tls.client_cert if tls else b"",
        key_pem=tls.client_key if tls else b"",
        insecure_skip_tls_verify=False,
        pass_credentials=auth.pass_credentials,
        plain_http=auth.insecure and (url or auth.url).startswith("oci://"),
    )


def _repositories(run: SourceRun) -> list[dict[str, Any]]:
    store, key = run.ctx.store, run.key
    found = list(store.list("HelmRepository", key.namespace, scope=key.scope))
    if key.scope != FLEET:
        found += store.list("HelmRepository", key.namespace, scope=FLEET)
    return found


def dependency_logins(run: SourceRun, dependencies: Sequence[Dependency]) -> list[RepositoryLogin]:
    """A login for each dependency repository a HelmRepository of the namespace serves."""
    wanted = {normalize_url(d.repository): d.repository for d in dependencies if d.repository}
    logins: dict[str, RepositoryLogin] = {}
    for doc in _repositories(run):
        url = normalize_url(str((doc.get("spec") or {}).get("url") or ""))
        if url not in wanted or url in logins:
            continue
        repo = repository_of(doc)
        if repo is not None:
            # helm matches repositories.yaml entries to dependencies by URL.
            logins[url] = login_for(repository_auth(run, repo), url=wanted[url].rstrip("/"))
    return list(logins.values())
