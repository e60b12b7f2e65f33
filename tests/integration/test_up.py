"""``sluice up`` as a user runs it: one subprocess with its Redis, workers, Flower, artifacts."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from shared.plugins import load_services, working_services
from shared.redisserver import RedisServer, free_port
from tests.helpers import eventually
from tests.plugins import install_service, plugin_env

ROOT = Path(__file__).resolve().parents[2]
SLUICE = [sys.executable, "-c", "from shared.cli.main import main; main()"]


def process_tree(root: int) -> dict[int, str]:
    """``root`` and all its descendants, pid -> command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    commands = {}
    for pid in tree:
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            commands[pid] = raw.replace(b"\0", b" ").decode(errors="replace")
    return commands


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@dataclass
class Up:
    """A running ``sluice up``: its stdout lines as they come, its stderr in a file."""

    process: subprocess.Popen[str]
    stderr: Path
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)

    def read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> dict[str, list[str]]:
        """The printed table once ``sluice up`` says it is up: component -> columns."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"sluice up exited {self.process.returncode}:\n{self.errors()}")
            return any(line.startswith("sluice is up") for line in self.lines)

        try:
            eventually(ready, timeout=timeout, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"sluice up not ready:\n{self.errors()[-4000:]}") from exc
        rows = [line.split() for line in self.lines if line and not line.startswith("COMPONENT")]
        return {row[0]: row[1:] for row in rows if len(row) == 4}

    def interrupt(self, timeout: float = 60.0) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    """Start ``sluice up`` on free ports in a tmp data dir; its whole tree dies at teardown."""
    started: list[Up] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "FLOWER_"))}
    env.update(
        SLUICE_ARTIFACT_DIR=str(tmp_path / "artifacts"),
        SLUICE_SECRET_KEY_FILE=str(tmp_path / "secret.key"),
        SLUICE_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=str(ROOT),
    )

    def start(*args: str, plugins: Path | None = None) -> Up:
        ports = {name: free_port() for name in ("redis", "flower", "artifact", "metrics")}
        argv = [*SLUICE, "up", "--data-dir", str(tmp_path / "data")]
        for name, port in ports.items():
            if f"--{name}-port" not in args:
                argv += [f"--{name}-port", str(port)]
        # Each declared server (notify's receiver) on a free port too.
        for server in (s for service in load_services() for s in service.servers):
            ports[server.name] = free_port()
            argv += ["--listen", f"{server.name}=127.0.0.1:{ports[server.name]}"]
        argv += args
        stderr = tmp_path / f"up-{len(started)}.err"
        with stderr.open("w") as err:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env if plugins is None else plugin_env(plugins, env),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        up = Up(process, stderr, ports)
        threading.Thread(target=up.read_stdout, daemon=True).start()
        started.append(up)
        return up

    yield start
    for up in started:
        tree = process_tree(up.process.pid)
        if up.process.poll() is None:
            up.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                up.process.wait(timeout=30)
        for pid in tree:
            if pid != up.process.pid and not gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait(timeout=10)
        print(f"--- sluice up stderr ---\n{up.errors()[-4000:]}")


def flower_workers(flower: str, auth: tuple[str, str] | None = None) -> dict[str, Any]:
    params = {"refresh": "1"}
    response = httpx.get(f"{flower}/api/workers", params=params, auth=auth, timeout=10)
    response.raise_for_status()
    workers: dict[str, Any] = response.json()
    return workers


def test_up_runs_every_service_and_stops_everything_on_sigint(
    start_up: Callable[..., Up], tmp_path: Path
) -> None:
    up = start_up()
    rows = up.wait_ready()
    redis_url, flower, artifacts = rows["redis"][0], rows["flower"][0], rows["artifacts"][0]
    assert redis_url == f"redis://127.0.0.1:{up.ports['redis']}/0"
    assert flower == f"http://127.0.0.1:{up.ports['flower']}"
    assert artifacts == f"http://127.0.0.1:{up.ports['artifact']}"
    # notify's webhook receiver, on loopback, answering Flux's 404 for an unknown hook.
    receiver = rows["receiver"][0]
    assert receiver == f"http://127.0.0.1:{up.ports['receiver']}"
    assert httpx.post(f"{receiver}/hook/{'0' * 64}", timeout=10).status_code == 404

    # One worker per service with tasks in Flower, each named after the pid `sluice up` printed.
    working = [s.name for s in working_services()]
    expected = {f"{s}-{rows[f'worker-{s}'][1]}@{socket.gethostname()}" for s in working}
    eventually(lambda: expected <= set(flower_workers(flower)), timeout=30, interval=0.5)
    queues = httpx.get(f"{flower}/api/queues/length", timeout=10).json()["active_queues"]
    assert {q["name"] for q in queues} >= set(working)

    # Every child got the same Redis and artifact location.
    environ = Path(f"/proc/{rows['worker-source'][1]}/environ").read_bytes().split(b"\0")
    assert f"SLUICE_REDIS_URL={redis_url}".encode() in environ
    assert f"SLUICE_ARTIFACT_URL={artifacts}".encode() in environ
    assert f"SLUICE_ARTIFACT_DIR={tmp_path / 'artifacts'}".encode() in environ

    (tmp_path / "artifacts" / "demo").mkdir(parents=True)
    (tmp_path / "artifacts" / "demo" / "rev.tar.gz").write_bytes(b"\x1f\x8b artifact")
    response = httpx.get(f"{artifacts}/demo/rev.tar.gz")
    assert (response.status_code, response.content) == (200, b"\x1f\x8b artifact")
    # Its own Redis wants the password sluice up made; children get the file, not the password.
    password_file = tmp_path / "data" / "redis" / "password"
    assert f"SLUICE_REDIS_PASSWORD_FILE={password_file}".encode() in environ
    client = redis.Redis.from_url(redis_url, password=password_file.read_text().strip())
    assert client.config_get("dir")["dir"] == str(tmp_path / "data" / "redis")
    assert client.config_get("appendonly")["appendonly"] == "yes"
    client.close()

    # A worker that dies is restarted under a new pid and joins Flower again.
    old = int(rows["worker-source"][1])
    os.kill(old, signal.SIGKILL)
    restarted = eventually(
        lambda: re.search(r"worker-source restarted as pid (\d+)", up.errors()), timeout=30
    )
    assert restarted is not None
    new = f"source-{restarted.group(1)}@{socket.gethostname()}"
    eventually(lambda: new in flower_workers(flower), timeout=60, interval=0.5)
    assert f"worker-source (pid {old}) exited with code -9" in up.errors()

    tree = process_tree(up.process.pid)
    commands = " ".join(tree.values())
    assert "redis-server" in commands and "flower" in commands and "scheduler" in commands
    assert " receiver --address 127.0.0.1:" in commands
    assert up.interrupt() == 0
    left = {pid: cmd for pid, cmd in tree.items() if not gone(pid)}
    assert left == {}
    for port in up.ports.values():
        assert not port_open(port)


def test_up_refuses_flower_on_all_interfaces_without_basic_auth(
    start_up: Callable[..., Up], tmp_path: Path
) -> None:
    up = start_up("--flower-address", "0.0.0.0")
    assert up.process.wait(timeout=60) != 0
    assert "pass --flower-basic-auth USER:PASSWORD" in up.errors()
    assert not any(port_open(port) for port in up.ports.values())
    assert not (tmp_path / "data" / "logs").exists()


def test_up_names_the_component_whose_port_is_taken(start_up: Callable[..., Up]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = start_up("--artifact-port", str(port))
        assert up.process.wait(timeout=60) == 1
    assert f"port {port} (artifacts) is in use by another process" in up.errors()
    assert "--artifact-port" in up.errors()
    assert not port_open(up.ports["redis"])


def test_up_refuses_a_listen_address_for_no_declared_server(
    start_up: Callable[..., Up],
) -> None:
    up = start_up("--listen", "nosuch=127.0.0.1:1")
    assert up.process.wait(timeout=60) == 1
    assert "--listen: no server named nosuch (servers: receiver)" in up.errors()
    assert not port_open(up.ports["redis"])


def test_up_with_an_external_redis_starts_no_redis_of_its_own(
    start_up: Callable[..., Up], redis_server: RedisServer
) -> None:
    up = start_up("--redis-url", redis_server.url, "--flower-basic-auth", "admin:s3cret")
    rows = up.wait_ready()
    assert rows["redis"] == [redis_server.url, "external", "-"]
    tree = process_tree(up.process.pid)
    assert not [cmd for cmd in tree.values() if "redis-server" in cmd]
    children = [cmd for pid, cmd in tree.items() if pid != up.process.pid]
    assert not [cmd for cmd in children if "s3cret" in cmd]  # Flower gets it in its env
    assert not port_open(up.ports["redis"])

    # With a login, Flower's API wants it, even on loopback.
    flower, source = rows["flower"][0], rows["worker-source"][1]
    assert httpx.get(f"{flower}/api/workers", timeout=10).status_code == 401
    login = ("admin", "s3cret")
    eventually(
        lambda: any(w.startswith(f"source-{source}@") for w in flower_workers(flower, login)),
        timeout=30,
        interval=0.5,
    )

    assert up.interrupt() == 0
    assert all(gone(pid) for pid in tree)
    assert redis.Redis.from_url(redis_server.url).ping()


IDLE_SERVICE = """\
from shared.plugins import Service

SERVICE = Service(name="idle")
"""


def test_up_starts_no_worker_for_a_service_without_kinds(
    start_up: Callable[..., Up], tmp_path: Path
) -> None:
    plugins = install_service(
        tmp_path / "plugins",
        "idle",
        value="sluice_idle_plugin:SERVICE",
        module="sluice_idle_plugin",
        source=IDLE_SERVICE,
    )
    up = start_up(plugins=plugins)
    rows = up.wait_ready()
    tree = process_tree(up.process.pid)
    workers = {name for name in rows if name.startswith("worker-")}
    assert workers == {f"worker-{s.name}" for s in working_services()}
    assert "worker-idle" not in rows
    # Nor for the toolkit's services that declare nothing yet.
    for service in load_services():
        if not service.tasks:
            assert not [c for c in tree.values() if f" worker {service.name}" in c], service.name
    assert not [c for c in tree.values() if " worker idle" in c]
    # The idle service is still known: its queue is watched, work sent to it would show.
    metrics = httpx.get(rows["metrics"][0], timeout=10).text
    assert 'sluice_queue_depth{service="idle"} 0.0' in metrics
    assert up.interrupt() == 0
