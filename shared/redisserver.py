"""Run a private redis-server on loopback: for tests, the demo and ``sluice up``.

Its settings go in a ``redis.conf`` inside its data dir, never on its command
line, so a password is not in ``ps``. The data dir is 0700 and the server runs
with umask 077: its config, AOF, RDB and log files are 0600, readable only
by the user who runs sluice.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

__all__ = ["RedisServer", "RedisServerError", "free_port", "password_file"]

_PRIVATE = 0o077  # umask: files 0600, folders 0700


class RedisServerError(RuntimeError):
    """redis-server is missing or did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def password_file(path: Path) -> str:
    """The password kept in ``path``, created (random, mode 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)
        password = path.read_text(encoding="utf-8").strip()
        if not password:
            raise RedisServerError(f"{path} is empty: delete it for a new password") from None
        return password
    password = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(password + "\n")
    return password


def _quoted(value: str) -> str:
    """A redis.conf argument: double-quoted, so spaces and quotes in paths survive."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _make_private(root: Path) -> None:
    """Owner-only modes on ``root`` and what an earlier Redis left in it (0700 / 0600)."""
    root.chmod(0o700)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


@dataclass
class RedisServer:
    """One redis-server process with its data in ``data_dir`` (AOF + RDB persistence).

    ``password`` is the default user's (``requirepass``); ``config`` adds lines
    to its redis.conf, e.g. ACL users (``user sluice on >pw ~* &* +@all``).
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    password: str | None = field(default=None, repr=False)
    config: tuple[str, ...] = field(default=(), repr=False)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL, without the password (give that as a password file or a client argument)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client logged in with ``password`` (the default user)."""
        return redis.Redis.from_url(self.url, password=self.password)

    def _write_config(self) -> Path:
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            f"dir {_quoted(str(self.data_dir))}",
            "appendonly yes",
            "appendfsync everysec",
            'save "60 1"',
            "daemonize no",
            f"logfile {_quoted(str(self.data_dir / 'redis.log'))}",
        ]
        if self.password is not None:
            lines.append(f"requirepass {_quoted(self.password)}")
        lines += self.config
        path = self.data_dir / "redis.conf"
        # Created 0600 before anything is written to it: it may hold the password.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerError(
                "redis-server not found: run `make tools` (installs Debian's redis-server)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _make_private(self.data_dir)
        log = self.data_dir / "redis.log"
        self.process = subprocess.Popen(
            [binary, str(self._write_config())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            # Its own session: a terminal's Ctrl-C to `sluice up` must not stop
            # Redis before the workers that depend on it.
            start_new_session=True,
            umask=_PRIVATE,
        )
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.ping():
                    return
            except redis.AuthenticationError:
                return  # it answers; this login is just not one of its users (ACL)
            except redis.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-2000:] if log.exists() else ""
                self.stop()
                raise RedisServerError(f"redis-server on port {self.port} did not start:\n{tail}")
            time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        """Stop the server: SIGTERM (redis saves its data) or, with ``kill``, SIGKILL."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start()
