"""Git adapter for GitRepository: one bare mirror per URL, `ls-remote` first, shallow fetches.

A fetch resolves the ref with one `git ls-remote`; when the commit equals the
caller's last one nothing else touches the network. Otherwise only the needed
ref is fetched, depth 1, into a persistent bare mirror keyed by the URL.
Credentials reach git only through its environment (an `extraHeader` config
entry, or GIT_SSH_COMMAND with a 0600 key file and strict known_hosts) and
temp files removed afterwards; never through a URL or an argument.

Exceptions::

    GitError                    base; `reason` is the Flux condition reason
    ├── InvalidSourceError      URL, ref or secret unusable as given (stalls)
    ├── AuthenticationFailed    credentials or host key refused
    ├── RepositoryNotFound      the server has no such repository
    ├── UnknownRef              no such branch, tag, ref or commit; no semver match
    ├── UnreachableHost         DNS failure, refused or dropped connection
    ├── GitTimeout              the operation outlived its timeout
    └── GitOperationFailed      anything else git reported
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from services.source.artifact import Tarball, build_tarball
from services.source.refs import (
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

__all__ = [
    "AuthenticationFailed",
    "FetchResult",
    "GitAuth",
    "GitError",
    "GitOperationFailed",
    "GitTimeout",
    "InvalidSourceError",
    "RepositoryNotFound",
    "UnknownRef",
    "UnreachableHost",
    "archive_commit",
    "export_tree",
    "fetch",
    "mirror_path",
    "redact_url",
]

SCHEMES = ("file", "git", "http", "https", "ssh")


class GitError(Exception):
    """A git operation failed; the message never holds a secret."""

    reason = "GitOperationFailed"


class InvalidSourceError(GitError):
    """The URL, ref or secret cannot work as given: fix the spec or the secret."""

    reason = "URLInvalid"


class AuthenticationFailed(GitError):
    """The remote refused the credentials, or its host key is not in known_hosts."""

    reason = "AuthenticationFailed"


class RepositoryNotFound(GitError):
    """The server answered but has no repository at that path."""


class UnknownRef(GitError):
    """The branch, tag, ref or commit does not exist, or no tag matches the semver range."""


class UnreachableHost(GitError):
    """The host could not be resolved or connected to."""


class GitTimeout(GitError):
    """The git operation did not finish within the timeout."""


class GitOperationFailed(GitError):
    """git failed for another reason; its own message is included."""


@dataclass(frozen=True)
class GitAuth:
    """Credentials from a GitRepository secret; secret fields stay out of repr."""

    username: str = ""
    password: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)
    identity: bytes = field(default=b"", repr=False)
    known_hosts: bytes = b""
    ca_cert: bytes = b""
    tls_cert: bytes = b""
    tls_key: bytes = field(default=b"", repr=False)

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes]) -> GitAuth:
        """Flux's keys: username, password, bearerToken, identity, known_hosts, ca.crt, tls.*."""
        try:
            text = {k: data.get(k, b"").decode().strip("\r\n") for k in _TEXT_KEYS}
        except UnicodeDecodeError:
            raise InvalidSourceError("secret username, password or token is not UTF-8") from None
        return cls(
            username=text["username"],
            password=text["password"],
            bearer_token=text["bearerToken"],
            identity=data.get("identity", b""),
            known_hosts=data.get("known_hosts", b""),
            ca_cert=data.get("ca.crt", data.get("caFile", b"")),
            tls_cert=data.get("tls.crt", data.get("certFile", b"")),
            tls_key=data.get("tls.key", data.get("keyFile", b"")),
        )

    def basic(self) -> str:
        """The Basic authorization value, or "" without a username or password."""
        if not (self.username or self.password):
            return ""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


_TEXT_KEYS = ("username", "password", "bearerToken")


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
) -> FetchResult:
    """Resolve `ref` on the remote and make its commit available in the local mirror."""
    remote, auth = _parse_url(url, auth or GitAuth())
    git = _Git(remote, auth, deadline=time.monotonic() + timeout)
    mirror = _ensure_mirror(cache_dir, remote)
    try:
        with _credentials(remote, auth) as git.env:
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
    git = _Git(_Remote("", str(mirror), ""), GitAuth(), deadline=time.monotonic() + timeout)
    listing = git.run(["--git-dir", str(mirror), "ls-tree", "-r", "-z", "--full-tree", commit])
    dest.mkdir(parents=True, exist_ok=True)
    argv = ["git", "--git-dir", str(mirror), "cat-file", "--batch"]
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, stdin=pipe, stdout=pipe, env=_base_env()) as batch:
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


def mirror_path(cache_dir: Path, url: str) -> Path:
    """The bare mirror for `url` under `cache_dir`; credentials in the URL do not change it."""
    split = urlsplit(url)
    clean = _strip_userinfo(split, keep_user=split.scheme.lower() == "ssh")
    return cache_dir / f"{hashlib.sha256(clean.encode()).hexdigest()[:32]}.git"


def redact_url(url: str) -> str:
    """`url` fit for a message: no userinfo, except an ssh:// user name."""
    try:
        split = urlsplit(url)
        return _strip_userinfo(split, keep_user=split.scheme.lower() == "ssh")
    except ValueError:
        return "<invalid URL>"


@dataclass(frozen=True)
class _Remote:
    url: str  # as git is given it: no password, no token
    display: str  # as messages show it
    scheme: str


def _parse_url(url: str, auth: GitAuth) -> tuple[_Remote, GitAuth]:
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidSourceError("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidSourceError(f"invalid URL {redact_url(url)!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        hint = " (write scp-like addresses as ssh://user@host/path)" if "@" in url else ""
        raise InvalidSourceError(f"URL scheme must be one of {', '.join(SCHEMES)}{hint}")
    if scheme != "file" and not parts.hostname:
        raise InvalidSourceError(f"URL {redact_url(url)!r} has no host")
    if scheme in ("http", "https") and parts.username and not auth.username:
        # Userinfo in spec.url is honoured, but git only ever sees it as a header.
        auth = replace(auth, username=parts.username, password=parts.password or "")
    if scheme == "ssh" and not (auth.identity and auth.known_hosts):
        raise InvalidSourceError("an ssh:// URL needs a secret with 'identity' and 'known_hosts'")
    clean = _strip_userinfo(parts, keep_user=scheme == "ssh")
    return _Remote(url=clean, display=redact_url(clean), scheme=scheme), auth


def _strip_userinfo(split: SplitResult, *, keep_user: bool) -> str:
    host = split.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{split.port}" if split.port else "")
    if keep_user and split.username:
        netloc = f"{split.username}@{netloc}"
    return urlunsplit(split._replace(netloc=netloc))


@contextlib.contextmanager
def _credentials(remote: _Remote, auth: GitAuth) -> Iterator[dict[str, str]]:
    """The environment for git talking to `remote`; its temp files live only inside the block."""
    scratch = Path(tempfile.mkdtemp(prefix="sluice-git-"))
    try:
        env = _base_env()
        config = {"credential.helper": "", "gc.autoDetach": "false", "protocol.version": "2"}
        if remote.scheme in ("http", "https"):
            value = f"Bearer {auth.bearer_token}" if auth.bearer_token else f"Basic {auth.basic()}"
            if auth.bearer_token or auth.basic():
                # Scoped to this URL, so a redirect or submodule elsewhere never receives it.
                config[f"http.{remote.url}.extraHeader"] = f"Authorization: {value}"
            files = {"sslCAInfo": auth.ca_cert, "sslCert": auth.tls_cert, "sslKey": auth.tls_key}
            for option, pem in files.items():
                if pem:
                    config[f"http.{option}"] = str(_secret_file(scratch, option, pem))
        if remote.scheme == "ssh":
            env.update(GIT_SSH_COMMAND=_ssh_command(scratch, auth, env), GIT_SSH_VARIANT="ssh")
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config.items()):
            env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
        yield env
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _ssh_command(scratch: Path, auth: GitAuth, env: dict[str, str]) -> str:
    key = _secret_file(scratch, "identity", auth.identity.rstrip(b"\n") + b"\n")
    known_hosts = _secret_file(scratch, "known_hosts", auth.known_hosts)
    options = {
        "IdentitiesOnly": "yes", "IdentityAgent": "none",
        "UserKnownHostsFile": str(known_hosts), "GlobalKnownHostsFile": os.devnull,
        "StrictHostKeyChecking": "yes", "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no", "ConnectTimeout": "30", "BatchMode": "yes",
    }  # fmt: skip
    if auth.password:
        # An encrypted key: ssh reads its passphrase from this script, the script from env.
        askpass = scratch / "askpass"
        askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$SLUICE_SSH_PASSPHRASE"\n')
        askpass.chmod(0o700)
        env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force")
        env["SLUICE_SSH_PASSPHRASE"] = auth.password
        options["BatchMode"] = "no"
    args = ["ssh", "-F", os.devnull, "-i", str(key)]
    for name, value in options.items():
        args += ["-o", f"{name}={value}"]
    return shlex.join(args)


def _secret_file(scratch: Path, name: str, data: bytes) -> Path:
    path = scratch / name
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(data)
    return path


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_"))}
    env.update(
        GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/false", SSH_ASKPASS="/bin/false", LC_ALL="C",
    )  # fmt: skip
    return env


class _Git:
    """Runs git under one deadline, counting network calls and classifying failures."""

    def __init__(self, remote: _Remote, auth: GitAuth, *, deadline: float) -> None:
        self.remote, self.deadline = remote, deadline
        self.secrets = [s for s in (auth.password, auth.bearer_token, auth.basic()) if len(s) > 2]
        self.env = _base_env()
        self.calls = 0
        self.fetched = False

    def ls_remote(self, selector: str, patterns: tuple[str, ...]) -> dict[str, str]:
        """Ref name to sha as the remote advertises them (peeled tags as `name^{}`)."""
        self.calls += 1
        args = ["ls-remote", *([selector] if selector else []), self.remote.url, *patterns]
        lines = self.run(args).decode(errors="replace").splitlines()
        return {name.strip(): sha for sha, _, name in (line.partition("\t") for line in lines)}

    def fetch(self, mirror: Path, refspecs: list[str], *, depth: bool) -> None:
        """Fetch `refspecs` into `mirror`: depth 1, or the full history of those refs."""
        self.calls += 1
        self.fetched = True
        args = ["--git-dir", str(mirror), "fetch", "--no-tags", "--no-write-fetch-head"]
        shallow = ["--git-dir", str(mirror), "rev-parse", "--is-shallow-repository"]
        if depth:
            args.append("--depth=1")
        elif self.run(shallow).strip() == b"true":
            args.append("--unshallow")
        self.run([*args, "--no-recurse-submodules", self.remote.url, *refspecs])

    def run(self, args: list[str], *, check: bool = True) -> bytes:
        """Output of `git args`; a typed GitError when it fails or runs out of time."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise GitTimeout(f"git timed out on {self.remote.display}")
        process = subprocess.Popen(
            ["git", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env, start_new_session=True,
        )  # fmt: skip
        try:
            out, err = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            # Its own session: ssh and the remote helpers die with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise GitTimeout(f"git timed out on {self.remote.display}") from None
        if process.returncode != 0 and check:
            text = err.decode(errors="replace")
            for secret in self.secrets:
                text = text.replace(secret, "***")
            raise _classify(re.sub(r"(://)[^/@\s]*:[^/@\s]*@", r"\1***@", text), self.remote)
        return out


_NOISE = re.compile(
    r"could not read from remote|correct access rights|repository exists|^warning:|askpass"
    r"|terminal prompts disabled",
    re.IGNORECASE,
)
_KINDS: list[tuple[type[GitError], str, str]] = [
    (AuthenticationFailed, r"host key verification failed|remote host identification",
     "the server's host key is not in the secret's known_hosts"),
    (AuthenticationFailed, r"authentication failed|could not read (username|password)"
     r"|permission denied|returned error: 40[13]|incorrect passphrase|load key",
     "authentication failed: check the credentials in the secret"),
    (RepositoryNotFound, r"repository .*not found|does not appear to be a git repository"
     r"|not exported|returned error: 404|no such repository",
     "repository not found: check the URL"),
    (UnknownRef, r"couldn't find remote ref|not our ref|unadvertised object|no such remote ref",
     "ref not found: check spec.ref"),
    (UnreachableHost, r"could not resolve|connection refused|failed to connect|unable to connect"
     r"|timed out|network is unreachable|no route to host|connection reset|connection closed"
     r"|kex_exchange_identification|couldn't connect", "host unreachable"),
]  # fmt: skip


def _classify(stderr: str, remote: _Remote) -> GitError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not _NOISE.search(line)] or lines[-1:]
    detail = "; ".join(re.sub(r"^(fatal|error|remote): ", "", line) for line in useful[:2])
    if re.search(r"could not read username", stderr, re.IGNORECASE):
        detail = "the server asked for credentials (HTTP 401) and refused those given, if any"
    for kind, pattern, summary in _KINDS:
        if re.search(pattern, stderr, re.IGNORECASE):
            return kind(f"{summary} ({remote.display}): {detail or 'no detail from git'}")
    return GitOperationFailed(f"git failed ({remote.display}): {detail or 'no detail from git'}")


def _ensure_mirror(cache_dir: Path, remote: _Remote) -> Path:
    mirror = mirror_path(cache_dir, remote.url)
    if (mirror / "HEAD").exists():
        return mirror
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".init-", dir=cache_dir))
    try:
        argv = ["git", "init", "--bare", "--quiet", str(scratch)]
        subprocess.run(argv, env=_base_env(), check=True, capture_output=True)
        (scratch / "description").write_text(remote.display + "\n")
        with contextlib.suppress(OSError):
            os.rename(scratch, mirror)  # a concurrent worker may have won; its mirror will do
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return mirror


@contextlib.contextmanager
def _mirror_lock(mirror: Path, deadline: float) -> Iterator[None]:
    """One fetch into a mirror at a time, across worker processes on this machine."""
    with open(f"{mirror}.lock", "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitTimeout(f"timed out waiting for the lock of {mirror}") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _local_commit(git: _Git, mirror: Path, rev: str) -> str:
    """The full sha of the commit `rev` names in the mirror, or "" when it is not there."""
    argv = ["--git-dir", str(mirror), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]
    sha = git.run(argv, check=False).decode().strip()
    return sha if re.fullmatch(r"[0-9a-f]{40}", sha) else ""


def _fetch_commit(git: _Git, mirror: Path, ref: GitRef, last_commit: str) -> FetchResult:
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


def _result(git: _Git, mirror: Path, resolution: Resolution, *, changed: bool) -> FetchResult:
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
