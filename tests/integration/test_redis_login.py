"""Redis logins: a password, an ACL user, and the password ``sluice up`` makes for its own Redis.

Real redis-servers (``requirepass``; ``user default off`` + ``user sluice``),
the real CLI, workers, scheduler and ``sluice up``. The password works where
it is given (URL or a 0600 file) and appears nowhere else: not in output or
errors, logs, or the command line of any process sluice starts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from shared.keys import ObjectKey
from shared.redisserver import RedisServer, free_port
from shared.settings import Settings
from shared.store import Store
from tests.helpers import eventually
from tests.leaks import file_bytes
from tests.servers.git import BareRepo
from tests.sluicecli import (
    ROOT,
    SLUICE,
    configmaps_yaml,
    git_repository_yaml,
    run_sluice,
    sluice_env,
)


@pytest.fixture
def password() -> str:
    return secrets.token_hex(12)


@pytest.fixture
def acl_redis(tmp_path: Path, password: str) -> Iterator[RedisServer]:
    """Redis with the default user off and one ACL user, ``sluice``."""
    server = RedisServer(
        data_dir=tmp_path / "acl-redis",
        config=("user default off", f"user sluice on >{password} ~* &* +@all"),
    )
    server.start()
    yield server
    server.stop()


def test_the_cli_logs_in_with_a_password_from_the_url_or_a_file_and_never_shows_it(
    tmp_path: Path, password: str
) -> None:
    server = RedisServer(data_dir=tmp_path / "pw-redis", password=password)
    server.start()
    try:
        manifest = tmp_path / "cm.yaml"
        manifest.write_text(configmaps_yaml(1))
        host = f"127.0.0.1:{server.port}"
        in_url = sluice_env(f"redis://:{password}@{host}/0", tmp_path)
        assert run_sluice(in_url, "apply", "-f", str(manifest)).returncode == 0
        (tmp_path / "pw").write_text(password + "\n")
        in_file = sluice_env(server.url, tmp_path, SLUICE_REDIS_PASSWORD_FILE=str(tmp_path / "pw"))
        shown = run_sluice(in_file, "get", "cm", "cm-0", "-o", "yaml")
        assert (shown.returncode, shown.stderr) == (0, "")
        assert "name: cm-0" in shown.stdout

        for env in (
            sluice_env(server.url, tmp_path),
            sluice_env(f"redis://:wrong{password}@{host}/0", tmp_path),
        ):
            refused = run_sluice(env, "get", "cm")
            assert refused.returncode == 1
            assert "error: Redis refused the login" in refused.stderr
            assert "SLUICE_REDIS_PASSWORD_FILE" in refused.stderr
            assert "Traceback" not in refused.stderr
            assert password not in refused.stdout + refused.stderr
    finally:
        server.stop()


@dataclass
class Started:
    """Processes a test started (each in its own session), killed by process group at the end."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def started() -> Iterator[Started]:
    procs = Started()
    yield procs
    procs.stop()


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def _ready(store: Store, key: ObjectKey) -> bool:
    doc = store.get(key) or {}
    conditions = (doc.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_a_worker_and_the_scheduler_work_through_an_acl_user_without_showing_its_password(
    acl_redis: RedisServer,
    password: str,
    git_repo: BareRepo,
    tmp_path: Path,
    started: Started,
    settings: Settings,
) -> None:
    git_repo.commit({"app/cm.yaml": configmaps_yaml(1)})
    url = f"redis://sluice:{password}@127.0.0.1:{acl_redis.port}/0"
    env = sluice_env(url, tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    worker = started.start([*SLUICE, "worker", "source"], env, logs / "worker.log")
    scheduler = started.start([*SLUICE, "scheduler"], env, logs / "scheduler.log")
    eventually(lambda: " ready." in (logs / "worker.log").read_text(), timeout=60, interval=0.2)

    manifest = tmp_path / "repo.yaml"
    manifest.write_text(git_repository_yaml("app", git_repo.url))
    applied = run_sluice(env, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    store = Store.from_settings(
        settings.with_overrides(redis_url=url, secret_key_file=tmp_path / "secret.key")
    )
    eventually(
        lambda: _ready(store, ObjectKey("GitRepository", "default", "app")),
        timeout=60,
        interval=0.2,
    )
    assert worker.poll() is None and scheduler.poll() is None
    for process in started.processes:
        assert password not in _cmdline(process.pid)
    assert password.encode() not in file_bytes(logs)
    assert password not in applied.stdout + applied.stderr


# -- sluice up: a password of its own, everything under --data-dir ---------------


@dataclass
class UpRun:
    """A running ``sluice up``: its stdout lines as they come, its stderr file, its ports."""

    process: subprocess.Popen[str]
    err: Path
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def _sluice_up(tmp_path: Path, data: Path, *args: str) -> Iterator[UpRun]:
    """``sluice up --data-dir data`` on free ports, ready; stopped with SIGINT (exit 0) after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "FLOWER_"))}
    env.update(
        SLUICE_SECRET_KEY_FILE=str(tmp_path / "secret.key"),
        PYTHONPATH=str(ROOT),
        **{k: v for k, v in os.environ.items() if k == "SLUICE_TOOLS_DIR"},
    )
    ports = {name: free_port() for name in ("redis", "flower", "artifact", "metrics")}
    argv = [*SLUICE, "up", "--data-dir", str(data), *args]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    err = tmp_path / "up.err"
    with err.open("w") as stderr:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
            start_new_session=True,
        )  # fmt: skip
    up = UpRun(process, err, ports)
    threading.Thread(target=up.read, daemon=True).start()
    try:
        eventually(
            lambda: process.poll() is None and any(x.startswith("sluice is up") for x in up.lines),
            timeout=180,
            interval=0.2,
        )
        yield up
    finally:
        survivors = {pid: _cmdline(pid) for pid in _descendants(process.pid)}
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for pid, cmdline in survivors.items():  # what sluice up failed to stop, if anything
            if cmdline and _cmdline(pid) == cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert process.returncode == 0, err.read_text()[-3000:]


def _no_password_shown(up: UpRun, password: str, logs: Path) -> None:
    tree = _descendants(up.process.pid)
    assert len(tree) > 3
    assert [pid for pid in tree if password in _cmdline(pid)] == []
    assert password not in up.text + up.err.read_text()
    assert password.encode() not in file_bytes(logs)


def test_sluice_up_protects_its_redis_with_a_password_and_keeps_all_state_under_its_data_dir(
    tmp_path: Path, git_repo: BareRepo
) -> None:
    data = tmp_path / "install"
    with _sluice_up(tmp_path, data) as up:
        secret_file = data / "redis" / "password"
        secret = secret_file.read_text().strip()
        assert len(secret) >= 32
        assert secret_file.stat().st_mode & 0o777 == 0o600
        assert (data / "redis").stat().st_mode & 0o777 == 0o700
        redis_url = f"redis://127.0.0.1:{up.ports['redis']}/0"
        assert f"redis {redis_url}" in " ".join(up.text.split())
        hint = next(x for x in up.lines if "export SLUICE_REDIS_URL=" in x)
        assert hint.endswith(
            f"export SLUICE_REDIS_URL={redis_url} SLUICE_REDIS_PASSWORD_FILE={secret_file}"
        )
        assert f"artifacts served from {data / 'artifacts'}" in up.text

        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(redis_url).ping()
        # The hint, as another shell would use it.
        shell = sluice_env(redis_url, tmp_path, SLUICE_REDIS_PASSWORD_FILE=str(secret_file))
        del shell["SLUICE_DATA_DIR"]
        git_repo.commit({"app/cm.yaml": configmaps_yaml(1)})
        manifest = tmp_path / "repo.yaml"
        manifest.write_text(git_repository_yaml("app", git_repo.url))
        applied = run_sluice(shell, "apply", "-f", str(manifest))
        assert applied.returncode == 0, applied.stderr

        # The source worker writes its artifact and Git mirror under --data-dir.
        eventually(lambda: list((data / "artifacts").rglob("*.tar.gz")), timeout=90, interval=0.3)
        assert list((data / "cache").rglob("*.git"))
        _no_password_shown(up, secret, data / "logs")


def test_sluice_up_on_an_external_redis_with_an_acl_user_shows_its_url_masked(
    tmp_path: Path, acl_redis: RedisServer, password: str
) -> None:
    url = f"redis://sluice:{password}@127.0.0.1:{acl_redis.port}/0"
    data = tmp_path / "install"
    with _sluice_up(tmp_path, data, "--redis-url", url) as up:
        shown = f"redis://***@127.0.0.1:{acl_redis.port}/0"
        assert f"redis {shown} external" in " ".join(up.text.split())
        # Ready means every worker, the scheduler and Flower joined, as the ACL user
        # (the default user is off).
        clients = redis.Redis.from_url(url).client_list()
        assert len([c for c in clients if c["user"] == "sluice"]) >= 5
        _no_password_shown(up, password, data / "logs")


def _descendants(root: int) -> list[int]:
    """The pids of every process below ``root`` (children run in sessions of their own)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found
