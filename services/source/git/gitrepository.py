"""GitRepository: resolve the ref, fetch into the mirror, archive the commit as the artifact.

Cheap when the commit is the one already stored (and archived with the same
ignore rules): the fetch compares refs and nothing is archived.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from services.source.git.mirror import archive_commit, fetch
from services.source.git.refs import GitRef
from services.source.git.revision import artifact_filename, revision_commit
from services.source.reconcile import Produced, SourceKind, SourceRun
from shared.api import GitRepository
from shared.api.conditions import FETCH_FAILED
from shared.git import GitAuth, GitError, InvalidSourceError
from shared.reconcile import Stalled, Transient
from shared.toolrun import ToolLimits

__all__ = ["GIT_REPOSITORY"]


def _produce(run: SourceRun) -> Produced:
    repo: GitRepository = run.obj
    try:
        return _fetch_and_store(run, repo)
    except GitError as err:
        kind = Stalled if isinstance(err, InvalidSourceError) else Transient
        raise kind(err.reason, str(err), condition=FETCH_FAILED) from err


def _fetch_and_store(run: SourceRun, repo: GitRepository) -> Produced:
    settings = run.ctx.settings
    auth = None
    if repo.spec.secret_ref is not None:
        data = run.secret(repo.spec.secret_ref.name, field="spec.secretRef")
        auth = GitAuth.from_secret(data)
    result = fetch(
        repo.spec.url,
        _ref(repo),
        cache_dir=settings.cache_dir / "git",
        auth=auth,
        last_commit=_stored_commit(run, repo),
        timeout=repo.spec.timeout_seconds,
        limits=ToolLimits.from_settings(settings, timeout=repo.spec.timeout_seconds),
    )
    if not result.changed:
        return Produced(result.revision, changed=False)
    with tempfile.TemporaryDirectory(prefix="sluice-artifact-") as scratch:
        tarball = archive_commit(
            result.mirror,
            result.commit,
            Path(scratch) / "artifact.tar.gz",
            ignore=repo.spec.ignore,
            timeout=repo.spec.timeout_seconds,
        )
        run.store(tarball.path, filename=artifact_filename(result.commit), revision=result.revision)
    run.status["observedIgnore"] = repo.spec.ignore
    return Produced(result.revision, changed=True, news=f"new commit '{result.message}'")


def _ref(repo: GitRepository) -> GitRef:
    ref = repo.spec.ref
    if ref is None:
        return GitRef(branch="master")
    return GitRef(
        branch=ref.branch or "",
        tag=ref.tag or "",
        semver=ref.semver or "",
        name=ref.name or "",
        commit=ref.commit or "",
    )


def _stored_commit(run: SourceRun, repo: GitRepository) -> str:
    """The commit of the stored artifact, when it is still there and built the same way."""
    artifact = run.stored()
    if artifact is None or run.status.get("observedIgnore") != repo.spec.ignore:
        return ""
    return revision_commit(str(artifact.get("revision", "")))


GIT_REPOSITORY = SourceKind(kind="GitRepository", model=GitRepository, produce=_produce)
