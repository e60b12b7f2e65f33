"""Credentials for a chart's remote dependencies, from the namespace's HelmRepository objects.

As source-controller's ``namespacedChartRepositoryCallback``: a dependency's
repository URL is matched (normalized: one trailing ``/`` for HTTP, none for
OCI) against ``spec.url`` of the HelmRepository objects in the HelmChart's
namespace (its scope first, then the fleet-wide scope); the first match lends
its ``secretRef`` (``username``/``password``), ``certSecretRef`` (``ca.crt``,
``tls.crt``, ``tls.key``) and ``passCredentials``. A dependency with no match
is fetched without credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from services.source.chart import Dependency
from services.source.helmtool import RepositoryLogin
from services.source.reconcile import SourceRun
from shared.keys import FLEET

__all__ = ["dependency_logins", "normalize_repository_url", "repository_login"]


def normalize_repository_url(url: str) -> str:
    """Flux's ``NormalizeURL``: HTTP URLs end in exactly one ``/``, OCI ones in none."""
    if not url:
        return ""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if parts.scheme != "oci":
        path += "/"
    return urlunsplit(parts._replace(path=path))


def _repositories(run: SourceRun) -> list[dict[str, Any]]:
    store, key = run.ctx.store, run.key
    found = list(store.list("HelmRepository", key.namespace, scope=key.scope))
    if key.scope != FLEET:
        found += store.list("HelmRepository", key.namespace, scope=FLEET)
    return found


def repository_login(run: SourceRun, url: str, repo: dict[str, Any]) -> RepositoryLogin:
    """How to log in to HelmRepository ``repo`` (a stored document) when fetching ``url``."""
    spec = repo.get("spec") or {}
    name = (repo.get("metadata") or {}).get("name", "")
    auth: dict[str, bytes] = {}
    tls: dict[str, bytes] = {}
    secret_ref = (spec.get("secretRef") or {}).get("name")
    if secret_ref:
        auth = run.secret(secret_ref, field=f"spec.secretRef of HelmRepository '{name}'")
    cert_ref = (spec.get("certSecretRef") or {}).get("name")
    if cert_ref:
        tls = run.secret(cert_ref, field=f"spec.certSecretRef of HelmRepository '{name}'")
    else:
        tls = auth  # Flux still reads TLS keys from secretRef (deprecated)
    return RepositoryLogin(
        url=url,
        username=auth.get("username", b"").decode(),
        password=auth.get("password", b"").decode(),
        ca_pem=tls.get("ca.crt", tls.get("caFile", b"")),
        cert_pem=tls.get("tls.crt", tls.get("certFile", b"")),
        key_pem=tls.get("tls.key", tls.get("keyFile", b"")),
        insecure_skip_tls_verify=bool(spec.get("insecure")) and url.startswith("oci://"),
        pass_credentials=bool(spec.get("passCredentials")),
    )


def dependency_logins(run: SourceRun, dependencies: Sequence[Dependency]) -> list[RepositoryLogin]:
    """A login for each dependency repository a HelmRepository of the namespace serves."""
    by_url: dict[str, dict[str, Any]] = {}
    for repo in _repositories(run):
        url = normalize_repository_url(str((repo.get("spec") or {}).get("url") or ""))
        by_url.setdefault(url, repo)
    logins: dict[str, RepositoryLogin] = {}
    for dep in dependencies:
        url = normalize_repository_url(dep.repository)
        if url in by_url and url not in logins:
            # helm matches repositories.yaml entries to dependencies by URL.
            logins[url] = repository_login(run, dep.repository.rstrip("/"), by_url[url])
    return list(logins.values())
