"""HelmRepository: the index of an HTTP/S chart repository as the artifact; an OCI registry checked.

Default type, as Flux's HelmRepositoryReconciler: fetch ``<url>/index.yaml``
(a conditional GET against the machine's cache, see ``helmindex.py``); when
its digest is the stored artifact's revision, nothing else happens;
otherwise the index is checked (``chartindex.py``) and stored, written as
JSON as Flux writes it, as ``index-<hex>.yaml`` with revision
``sha256:<hex>`` of the fetched bytes, and ``index.yaml`` beside it points
at it: ``status.url``.

Type oci, as Flux's HelmRepositoryOCIReconciler did before it made the
kind static: no artifact; the registry must answer and, when credentials
are given, accept them (shared/oci's ``RegistryClient.login``); Ready says
"Helm repository is ready".
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from services.source.helm.chartindex import InvalidIndex, parse_index
from services.source.helm.helmauth import RepositoryAuth, repository_auth
from services.source.helm.helmindex import IndexFetchError, fetch_index
from services.source.reconcile import Produced, SourceKind, SourceRun, storage_kind
from shared.api import HelmRepository
from shared.api.conditions import AUTHENTICATION_FAILED, FAILED, FETCH_FAILED, URL_INVALID
from shared.oci import (
    AuthenticationError,
    InvalidReferenceError,
    OciError,
    parse_repository_url,
)
from shared.reconcile import Stalled, Transient

__all__ = ["HELM_REPOSITORY", "INDEXATION_FAILED", "OCI_READY_MESSAGE"]

INDEXATION_FAILED = "IndexationFailed"
OCI_READY_MESSAGE = "Helm repository is ready"


def _produce(run: SourceRun) -> Produced:
    repo: HelmRepository = run.obj
    auth = repository_auth(run, repo)
    if repo.spec.is_oci:
        return _check_registry(run, auth)
    return _fetch_index(run, auth)


def _fetch_index(run: SourceRun, auth: RepositoryAuth) -> Produced:
    stored = run.stored()
    have = str(stored.get("revision", "")) if stored else ""
    try:
        fetched = fetch_index(
            auth,
            cache_dir=run.ctx.settings.cache_dir / "helm-index",
            convert=_artifact_of,
            have_revision=have,
        )
    except IndexFetchError as err:
        raise Transient(
            FAILED, f"failed to fetch Helm repository index: {err}", condition=FETCH_FAILED
        ) from err
    except InvalidIndex as err:
        raise Transient(
            INDEXATION_FAILED,
            f"failed to load Helm repository from index YAML: failed to load index: {err}",
            condition=FETCH_FAILED,
        ) from err
    if fetched.artifact is None:
        return Produced(fetched.revision, changed=False)
    revision = fetched.revision
    filename = f"index-{revision.removeprefix('sha256:')}.yaml"
    with tempfile.TemporaryDirectory(prefix="sluice-helm-index-") as scratch:
        file = Path(scratch) / filename
        file.write_bytes(fetched.artifact)
        artifact = run.store(file, filename=filename, revision=revision)
    run.status["url"] = _link(run, str(artifact["path"]))
    size = int(artifact["size"])
    return Produced(
        revision,
        changed=True,
        news=f"stored fetched index of size {_human(size)} from '{auth.url}'",
    )


def _artifact_of(index: bytes) -> bytes:
    """The artifact of a fetched index: checked, sorted, as JSON (InvalidIndex when it is none)."""
    return parse_index(index).to_json()


def _link(run: SourceRun, path: str) -> str:
    """``index.yaml`` beside the artifact, and its URL (``status.url``), as Flux's symlink."""
    alias = run.storage.symlink(path, alias="index.yaml")
    return f"{run.ctx.settings.artifact_url.rstrip('/')}/{alias}"


def _check_registry(run: SourceRun, auth: RepositoryAuth) -> Produced:
    # An index kept from when this was of the default type goes, as in Flux.
    key = run.key
    run.storage.remove_all(kind=storage_kind(key), namespace=key.namespace, name=key.name)
    run.status.pop("url", None)
    try:
        repository = parse_repository_url(auth.url)
    except InvalidReferenceError as err:
        raise Stalled(URL_INVALID, f"failed to parse URL '{auth.url}': {err}") from err
    try:
        with auth.registry_client(repository) as client:
            client.login()
    except AuthenticationError as err:
        # Without credentials Flux does not log in: a registry that answers is enough.
        if auth.has_login:
            raise Transient(
                AUTHENTICATION_FAILED, f"failed to login to registry '{auth.url}': {err}"
            ) from err
    except OciError as err:
        raise Transient(FAILED, f"failed to reach registry '{auth.url}': {err}") from err
    return Produced("", changed=True, artifact=False, ready_message=OCI_READY_MESSAGE)


def _human(size: int) -> str:
    """Docker's ``units.HumanSize``, as Flux's event message prints sizes: ``1.234kB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.4g}{unit}"
        value /= 1000
    return f"{value:.4g}TB"


HELM_REPOSITORY = SourceKind(kind="HelmRepository", model=HelmRepository, produce=_produce)
