"""Git adapter for GitRepository: one bare mirror per URL, `ls-remote` first, shallow fetches.

A fetch resolves the ref with one `git ls-remote`; when the commit equals the
caller's last one nothing else touches the network. Otherwise only the needed
ref is fetched, depth 1, into a persistent bare mirror keyed by the URL.
Credentials are prepared by ``shared.git.auth``; errors are in ``shared.git.errors``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as LockTimeout

from services.source.git.refs import (
    GitRef,
    InvalidRefError,
    RefKind,
    RefNotFoundError,
    Resolution,
    commit_resolution,
    ref_kind,
    remote_query,
    resolve_remote,
    validate_commit,
)
from shared.git.auth import GitAuth, Remote, base_env, credentials_env, mirror_path, parse_url
from shared.git.errors import GitOperationFailed, GitTimeout, InvalidSourceError, UnknownRef
from shared.git.runner import DEFAULT_LIMITS, GitRunner
from shared.tarball import Tarball, build_tarball
from shared.toolrun import ToolLimits

__all__ = ["FetchResult", "archive_commit", "export_tree", "fetch"]


@dataclass(frozen=True)
class FetchResult:
    """One fetch: `changed` is False when the commit equals the caller's `last_commit`."""

    url: str
    commit: str
    revision: str
    message: str
    changed: bool
    fetched: bool
    remote_calls: int
    mirror: Path


def fetch(
    url: str,
    ref: GitRef,
    *,
    cache_dir: Path,
    auth: GitAuth | None = None,
    last_commit: str = "",
    timeout: float = 60.0,
    limits: ToolLimits = DEFAULT_LIMITS,
) -> FetchResult:
    """Resolve `ref` on the remote and make its commit available in the local mirror.

    Each git run is held to the memory and CPU caps of ``limits``.
    """
    remote, auth = parse_url(url, auth or GitAuth())
    git = GitRunner(remote, auth, deadline=time.monotonic() + timeout, limits=limits)
    mirror = _ensure_mirror(cache_dir, remote)
    try:
        with credentials_env(remote, auth) as git.env:
            if ref_kind(ref) is RefKind.COMMIT:
                return _fetch_commit(git, mirror, ref, last_commit)
            selector, patterns = remote_query(ref)
            resolution = resolve_remote(ref, git.ls_remote(selector, patterns))
            if resolution.commit == last_commit:
                return _result(git, mirror, resolution, changed=False)
            with _mirror_lock(mirror, git.deadline):
                if not _local_commit(git, mirror, resolution.commit):
                    name = resolution.ref_name
                    git.fetch(mirror, [f"+{name}:{name}"], depth=True)
                    # The ref may have moved since ls-remote: take what was fetched.
                    moved = _local_commit(git, mirror, name)
                    resolution = Resolution(moved or resolution.commit, name, resolution.absolute)
            return _result(git, mirror, resolution, changed=resolution.commit != last_commit)
    except InvalidRefError as err:
        raise InvalidSourceError(str(err)) from None
    except RefNotFoundError as err:
        raise UnknownRef(f"{err} ({remote.display})") from None


def archive_commit(
    mirror: Path, commit: str, dest: Path, *, ignore: str | None = None, timeout: float = 60.0
) -> Tarball:
    """Write the deterministic tar.gz of `commit` to `dest`, minus ignored files."""
    with tempfile.TemporaryDirectory(prefix="sluice-export-") as scratch:
        tree = Path(scratch) / "tree"
        export_tree(mirror, commit, tree, timeout=timeout)
        return build_tarball(tree, dest, ignore=ignore)


def export_tree(mirror: Path, commit: str, dest: Path, *, timeout: float = 60.0) -> int:
    """Write the files of `commit` into `dest` as stored (no attributes applied); count them."""
    git = GitRunner(Remote("", str(mirror), ""), GitAuth(), deadline=time.monotonic() + timeout)
    listing = git.run(["--git-dir", str(mirror), "ls-tree", "-r", "-z", "--full-tree", commit])
    dest.mkdir(parents=True, exist_ok=True)
    argv = ["git", "--git-dir", str(mirror), "cat-file", "--batch"]
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, stdin=pipe, stdout=pipe, env=base_env()) as batch:
        assert batch.stdin is not None and batch.stdout is not None
        count = 0
        for record in filter(None, listing.split(b"\0")):
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, sha = meta.decode().split()
            target = _export_target(dest, os.fsdecode(raw_path))
            if kind == "commit":
                target.mkdir(exist_ok=True)  # a submodule: git leaves an empty directory
                continue
            batch.stdin.write(sha.encode() + b"\n")
            batch.stdin.flush()
            header = batch.stdout.readline().split()
            if len(header) != 3:
                batch.kill()
                raise GitOperationFailed(f"object {sha} of {commit} is missing from the mirror")
            data = batch.stdout.read(int(header[2]) + 1)[:-1]
            if mode == "120000":
                os.symlink(os.fsdecode(data), target)
            else:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                fd = os.open(target, flags, 0o755 if mode == "100755" else 0o644)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            count += 1
            if time.monotonic() > git.deadline:
                batch.kill()
                raise GitTimeout(f"exporting {commit} took longer than {timeout:.0f}s")
        batch.stdin.close()
    return count


def _ensure_mirror(cache_dir: Path, remote: Remote) -> Path:
    mirror = mirror_path(cache_dir, remote.url)
    if (mirror / "HEAD").exists():
        return mirror
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".init-", dir=cache_dir))
    try:
        argv = ["git", "init", "--bare", "--quiet", str(scratch)]
        subprocess.run(argv, env=base_env(), check=True, capture_output=True)
        (scratch / "description").write_text(remote.display + "\n")
        with contextlib.suppress(OSError):
            os.rename(scratch, mirror)  # a concurrent worker may have won; its mirror will do
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return mirror


@contextlib.contextmanager
def _mirror_lock(mirror: Path, deadline: float) -> Iterator[None]:
    """One fetch into a mirror at a time, across worker processes on this machine."""
    try:
        with FileLock(f"{mirror}.lock", timeout=max(deadline - time.monotonic(), 0)):
            yield
    except LockTimeout:
        raise GitTimeout(f"timed out waiting for the lock of {mirror}") from None


def _local_commit(git: GitRunner, mirror: Path, rev: str) -> str:
    """The full sha of the commit `rev` names in the mirror, or "" when it is not there."""
    argv = ["--git-dir", str(mirror), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]
    sha = git.run(argv, check=False).decode().strip()
    return sha if re.fullmatch(r"[0-9a-f]{40}", sha) else ""


def _fetch_commit(git: GitRunner, mirror: Path, ref: GitRef, last_commit: str) -> FetchResult:
    sha = validate_commit(ref.commit)
    # ls-remote even here: it proves these credentials may read this repository.
    selector, patterns = remote_query(GitRef(branch=ref.branch)) if ref.branch else ("--heads", ())
    advertised = git.ls_remote(selector, patterns)
    if ref.branch and patterns[0] not in advertised:
        raise UnknownRef(f"branch {ref.branch!r} not found ({git.remote.display})")
    if len(last_commit) == 40 and last_commit.startswith(sha):
        return _result(git, mirror, commit_resolution(ref, last_commit), changed=False)
    with _mirror_lock(mirror, git.deadline):
        found = _local_commit(git, mirror, sha)
        if not found and len(sha) == 40:
            # Protocol v2 servers usually serve any commit by sha: the cheapest way to get it.
            with contextlib.suppress(UnknownRef, GitOperationFailed):
                git.fetch(mirror, [f"{sha}:refs/sluice/commits/{sha}"], depth=True)
            found = _local_commit(git, mirror, sha)
        if not found:
            refs = [f"refs/heads/{ref.branch}"] if ref.branch else ["refs/heads/*", "refs/tags/*"]
            git.fetch(mirror, [f"+{r}:{r}" for r in refs], depth=False)
            found = _local_commit(git, mirror, sha)
    if not found:
        raise UnknownRef(f"commit {sha} not found ({git.remote.display})")
    return _result(git, mirror, commit_resolution(ref, found), changed=found != last_commit)


def _result(git: GitRunner, mirror: Path, resolution: Resolution, *, changed: bool) -> FetchResult:
    message = ""
    if _local_commit(git, mirror, resolution.commit):
        raw = git.run(["--git-dir", str(mirror), "cat-file", "commit", resolution.commit])
        body = raw.partition(b"\n\n")[2].decode(errors="replace").strip()
        message = body.splitlines()[0] if body else ""
    return FetchResult(
        url=git.remote.display,
        commit=resolution.commit,
        revision=resolution.revision,
        message=message,
        changed=changed,
        fetched=git.fetched,
        remote_calls=git.calls,
        mirror=mirror,
    )


def _export_target(dest: Path, path: str) -> Path:
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.lower() == ".git" for p in parts):
        raise GitOperationFailed(f"refusing to export tree entry {path!r}")
    current = dest
    for part in parts[:-1]:
        current = current / part
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise GitOperationFailed(f"tree entry {path!r} goes through a non-directory")
        except FileNotFoundError:
            current.mkdir()
    return current / parts[-1]
