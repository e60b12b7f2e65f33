"""Hostile input to the store and its Redis: big applies, big objects, credentials, logins.

Everything runs against real redis-servers (with a password, with an ACL
user) and the real CLI, workers and scheduler. What a user would check:
sluice answers with a clear message naming the file, the object and the
limit, stores nothing of a refused file, never blocks Redis for everyone,
never prints a traceback, and never shows a password (output, logs, argv).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from shared.api import validate
from shared.cli.main import app
from shared.keys import ObjectKey
from shared.redisserver import RedisServer, free_port
from shared.settings import Settings
from shared.store import InvalidObject, Store
from tests.helpers import eventually
from tests.leaks import file_bytes, redis_bytes
from tests.servers.git import BareRepo

ROOT = Path(__file__).resolve().parents[2]
SLUICE = [sys.executable, "-c", "from shared.cli.main import main; main()"]
# Longer than this, a command would hold every other Redis client up noticeably;
# one WATCH of 20,000 keys took 1.9 s on Redis 7.0, of 1,000 keys 8 ms.
SLOW_COMMAND_US = 250_000


def _configmaps(count: int, *, value_bytes: int = 10, prefix: str = "cm") -> str:
    value = "x" * value_bytes
    return "".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}-{i}\n"
        f"  namespace: default\ndata:\n  v: {value}\n---\n"
        for i in range(count)
    )


def _git_repository(name: str, url: str) -> str:
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        f"metadata:\n  name: {name}\n  namespace: default\n"
        f"spec:\n  interval: 1m\n  url: {url}\n  ref:\n    branch: main\n"
    )


def _env(url: str, tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "FLOWER_"))}
    env.update(
        SLUICE_REDIS_URL=url,
        SLUICE_SECRET_KEY_FILE=str(tmp_path / "secret.key"),
        SLUICE_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(ROOT),
        **more,
    )
    return env


def _sluice(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SLUICE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def sluice(redis_server: RedisServer, tmp_path: Path) -> Callable[..., tuple[int, str, str]]:
    """The CLI in-process against the test Redis: (exit code, stdout, stderr)."""
    runner = CliRunner()
    env = {"SLUICE_REDIS_URL": redis_server.url, "SLUICE_SECRET_KEY_FILE": str(tmp_path / "key")}

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    return run


# -- big applies never block Redis ---------------------------------------------


def test_a_file_of_more_than_1000_objects_is_refused_naming_the_file_and_the_limit(
    sluice: Callable[..., tuple[int, str, str]], settings: Settings, tmp_path: Path
) -> None:
    big = tmp_path / "many.yaml"
    big.write_text(_configmaps(1001))
    code, out, err = sluice("apply", "-f", str(big))
    assert code == 1
    assert out == ""
    assert f"error: {big}: 1,001 objects in one apply; at most 1,000" in err
    assert "nothing from this file stored" in err
    assert Store.from_settings(settings).list("ConfigMap") == []


def test_a_file_over_8_mib_is_refused_before_it_is_read(
    sluice: Callable[..., tuple[int, str, str]], settings: Settings, tmp_path: Path
) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(_configmaps(9, value_bytes=2**20 - 200))
    code, _, err = sluice("apply", "-f", str(big))
    assert code == 1
    assert f"error: {big}: the file is 9.0 MiB" in err
    assert "at most 8.0 MiB (8,388,608 bytes)" in err
    assert Store.from_settings(settings).list("ConfigMap") == []


def test_an_apply_at_the_limit_never_holds_redis_up_for_other_clients(
    sluice: Callable[..., tuple[int, str, str]], redis_server: RedisServer, tmp_path: Path
) -> None:
    admin = redis_server.client()
    admin.config_set("slowlog-log-slower-than", SLOW_COMMAND_US)
    admin.slowlog_reset()
    full = tmp_path / "full.yaml"
    full.write_text(_configmaps(1000, value_bytes=2000))
    # Another client (as a worker or the scheduler would) writes all along.
    done, answered, failures = threading.Event(), [0], []

    def other_client() -> None:
        client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
        while not done.is_set():
            try:
                client.set("other:client", answered[0])
                answered[0] += 1
            except redis.RedisError as exc:
                failures.append(exc)
                return

    thread = threading.Thread(target=other_client, daemon=True)
    thread.start()
    code, out, err = sluice("apply", "-f", str(full))
    done.set()
    thread.join(timeout=10)
    assert (code, err) == (0, "")
    assert out.count(" created") == 1000
    assert failures == []
    assert answered[0] > 0
    slow = [(e["duration"], e["command"][:40]) for e in admin.slowlog_get(10)]
    assert slow == [], f"commands slower than {SLOW_COMMAND_US} us: {slow}"


def test_a_redis_that_stops_answering_is_a_clear_error_not_a_traceback(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "one.yaml"
    manifest.write_text(_configmaps(1))
    admin = redis_server.client()
    # Writes wait (as behind a huge transaction); reads and this client go on.
    admin.execute_command("CLIENT", "PAUSE", "120000", "WRITE")
    try:
        result = _sluice(
            _env(redis_server.url, tmp_path, SLUICE_REDIS_TIMEOUT="1"), "apply", "-f", str(manifest)
        )
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: Redis did not answer in time" in result.stderr
    assert "run the command again" in result.stderr


# -- objects over 1 MiB --------------------------------------------------------


def test_an_object_over_1_mib_is_refused_at_apply_naming_it_and_its_size(
    sluice: Callable[..., tuple[int, str, str]], settings: Settings, tmp_path: Path
) -> None:
    manifest = tmp_path / "big-cm.yaml"
    manifest.write_text(_configmaps(1, value_bytes=2**20, prefix="big"))
    code, _, err = sluice("apply", "-f", str(manifest))
    assert code == 1
    assert "(ConfigMap/default/big-0)" in err
    assert "the object is 1.0 MiB (1,048,6" in err
    assert "at most 1 MiB (1,048,576 bytes)" in err
    assert Store.from_settings(settings).list("ConfigMap") == []


def test_the_store_refuses_an_object_over_1_mib_from_a_build_too(settings: Settings) -> None:
    owner = ObjectKey("Kustomization", "flux-system", "fleet")
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": "flux-system"},
        "data": {"v": "x" * 2**20},
    }
    small = {**big, "metadata": {"name": "small", "namespace": "flux-system"}, "data": {}}
    # What a Kustomization's build goes through: validation, then the store.
    [error] = validate(big, source=f"{owner} build")
    assert "ConfigMap/flux-system/big" in str(error)
    assert "at most 1 MiB" in error.message
    store = Store.from_settings(settings)
    with pytest.raises(InvalidObject, match=r"ConfigMap/flux-system/big: the object is 1\.0 MiB"):
        store.apply_all([small, big], owner=owner)
    assert store.list("ConfigMap", "flux-system") == []


# -- credentials in URLs -------------------------------------------------------


def test_a_git_url_with_credentials_is_refused_and_never_stored_or_shown(
    sluice: Callable[..., tuple[int, str, str]], redis_client: redis.Redis, tmp_path: Path
) -> None:
    password = secrets.token_hex(8)
    manifest = tmp_path / "repo.yaml"
    manifest.write_text(_git_repository("fleet", f"https://bot:{password}@github.com/org/fleet"))
    code, out, err = sluice("apply", "-f", str(manifest))
    assert code == 1
    assert 'spec.url: credentials in the URL "https://***@github.com/org/fleet"' in err
    assert "in a Secret named by spec.secretRef" in err
    assert password not in out + err
    assert password.encode() not in redis_bytes(redis_client)
    assert sluice("get", "gitrepo", "fleet")[0] == 1


def test_redis_keeps_its_files_private_to_the_user(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.set("k", "v")
    redis_client.save()
    modes = {
        str(p.relative_to(redis_server.data_dir)): p.stat().st_mode & 0o777
        for p in redis_server.data_dir.rglob("*")
    }
    assert redis_server.data_dir.stat().st_mode & 0o777 == 0o700
    assert {"redis.conf", "redis.log", "dump.rdb", "appendonlydir"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode not in (0o600, 0o700)} == {}
    assert modes["appendonlydir"] == 0o700


# -- Redis with a password or an ACL user --------------------------------------


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
        manifest.write_text(_configmaps(1))
        host = f"127.0.0.1:{server.port}"
        in_url = _env(f"redis://:{password}@{host}/0", tmp_path)
        assert _sluice(in_url, "apply", "-f", str(manifest)).returncode == 0
        (tmp_path / "pw").write_text(password + "\n")
        in_file = _env(server.url, tmp_path, SLUICE_REDIS_PASSWORD_FILE=str(tmp_path / "pw"))
        shown = _sluice(in_file, "get", "cm", "cm-0", "-o", "yaml")
        assert (shown.returncode, shown.stderr) == (0, "")
        assert "name: cm-0" in shown.stdout

        for env in (
            _env(server.url, tmp_path),
            _env(f"redis://:wrong{password}@{host}/0", tmp_path),
        ):
            refused = _sluice(env, "get", "cm")
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
    git_repo.commit({"app/cm.yaml": _configmaps(1)})
    url = f"redis://sluice:{password}@127.0.0.1:{acl_redis.port}/0"
    env = _env(url, tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    worker = started.start([*SLUICE, "worker", "source"], env, logs / "worker.log")
    scheduler = started.start([*SLUICE, "scheduler"], env, logs / "scheduler.log")
    eventually(lambda: " ready." in (logs / "worker.log").read_text(), timeout=60, interval=0.2)

    manifest = tmp_path / "repo.yaml"
    manifest.write_text(_git_repository("app", git_repo.url))
    applied = _sluice(env, "apply", "-f", str(manifest))
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
        shell = _env(redis_url, tmp_path, SLUICE_REDIS_PASSWORD_FILE=str(secret_file))
        del shell["SLUICE_DATA_DIR"]
        git_repo.commit({"app/cm.yaml": _configmaps(1)})
        manifest = tmp_path / "repo.yaml"
        manifest.write_text(_git_repository("app", git_repo.url))
        applied = _sluice(shell, "apply", "-f", str(manifest))
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
