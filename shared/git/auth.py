"""Credentials and URLs for git: what a GitRepository secret holds and how git receives it.

Credentials reach git only through its environment (an ``extraHeader`` config
entry scoped to the URL, or GIT_SSH_COMMAND with a 0600 key file and strict
known_hosts) and temp files that live only while the command runs; never
through a URL, an argument or a message.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from shared.git.errors import InvalidSourceError
from shared.private import write_private

__all__ = [
    "SCHEMES",
    "GitAuth",
    "Remote",
    "base_env",
    "credentials_env",
    "mirror_path",
    "parse_url",
    "redact_url",
]

SCHEMES = ("file", "git", "http", "https", "ssh")


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
class Remote:
    """A remote as git is given it (no credentials) and as messages show it."""

    url: str  # as git is given it: no password, no token
    display: str  # as messages show it
    scheme: str


def parse_url(url: str, auth: GitAuth) -> tuple[Remote, GitAuth]:
    """Check a GitRepository URL; move any userinfo into the credentials."""
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
    return Remote(url=clean, display=redact_url(clean), scheme=scheme), auth


def _strip_userinfo(split: SplitResult, *, keep_user: bool) -> str:
    host = split.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{split.port}" if split.port else "")
    if keep_user and split.username:
        netloc = f"{split.username}@{netloc}"
    return urlunsplit(split._replace(netloc=netloc))


@contextlib.contextmanager
def credentials_env(remote: Remote, auth: GitAuth) -> Iterator[dict[str, str]]:
    """The environment for git talking to `remote`; its temp files live only inside the block."""
    scratch = Path(tempfile.mkdtemp(prefix="sluice-git-"))
    try:
        env = base_env()
        config = {"credential.helper": "", "gc.autoDetach": "false", "protocol.version": "2"}
        if remote.scheme in ("http", "https"):
            value = f"Bearer {auth.bearer_token}" if auth.bearer_token else f"Basic {auth.basic()}"
            if auth.bearer_token or auth.basic():
                # Scoped to this URL, so a redirect or submodule elsewhere never receives it.
                config[f"http.{remote.url}.extraHeader"] = f"Authorization: {value}"
            files = {"sslCAInfo": auth.ca_cert, "sslCert": auth.tls_cert, "sslKey": auth.tls_key}
            for option, pem in files.items():
                if pem:
                    config[f"http.{option}"] = str(write_private(scratch / option, pem))
        if remote.scheme == "ssh":
            env.update(GIT_SSH_COMMAND=_ssh_command(scratch, auth, env), GIT_SSH_VARIANT="ssh")
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config.items()):
            env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
        yield env
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _ssh_command(scratch: Path, auth: GitAuth, env: dict[str, str]) -> str:
    key = write_private(scratch / "identity", auth.identity.rstrip(b"\n") + b"\n")
    known_hosts = write_private(scratch / "known_hosts", auth.known_hosts)
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


def base_env() -> dict[str, str]:
    """An environment where no user or system git/ssh configuration leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_"))}
    env.update(
        GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/false", SSH_ASKPASS="/bin/false", LC_ALL="C",
    )  # fmt: skip
    return env
