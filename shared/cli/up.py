"""``sluice up``: everything one machine runs, in the foreground.

``sluice up`` starts, in this order: a private redis-server (unless given
--redis-url), the artifact server and the metrics exporter (threads of this
process: both only serve what is on disk or in Redis), one worker per service
that has tasks (a service that declares none gets no process), the scheduler,
every server a service declares (``Service.servers``: notify's webhook
receiver, on loopback unless ``--listen NAME=HOST:PORT`` says otherwise) and
Flower; it prints their addresses once all are
ready, restarts any child that dies, and on Ctrl-C or SIGTERM stops the
children (last started first) and then Redis, so workers can still ack.

What runs where, measured with ``make bench BENCH_ARGS="--quick --only
footprint"`` (PSS of the idle tree): one process per service *with work*, no
co-hosting of several services' queues in one worker (they would share one
pool, so a burst of applies would starve source fetches, and a service could
no longer be scaled or restarted on its own); helm, image and notify, with no
tasks, cost nothing instead of a worker each. The scheduler stays a child of
its own: it does real work (a store sync over every object), and the
supervisor restarts it if it dies. Flower is Celery's own process. Together:
6 processes and 261 MiB PSS, against 15 processes and 664 MiB when every
service had a prefork worker and metrics a process of its own.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
import typer

from shared.artifactserver import ArtifactServer, ArtifactServerError, serve_artifacts
from shared.cli.address import parse_address
from shared.cli.output import Output, output
from shared.logs import redact
from shared.metricsserver import MetricsServer, serve_metrics
from shared.plugins import Server, load_services, working_services
from shared.redisconn import broker_url, connect
from shared.redisserver import RedisServer, RedisServerError, password_file
from shared.settings import Settings, load_settings
from shared.supervisor import Child, Supervisor, SupervisorError

__all__ = ["UpError", "flower_needs_auth", "parse_address", "register"]


class UpError(RuntimeError):
    """``sluice up`` cannot start: a port is taken, a tool is missing, Redis is unreachable."""


def flower_needs_auth(address: str) -> bool:
    """Whether Flower on ``address`` is reachable from other machines (so needs a login)."""
    if address == "localhost":
        return False
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True  # a hostname or "" (all interfaces) may face the network


def _local_host(address: str) -> str:
    """Where this machine reaches a server bound to ``address``."""
    if address in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{address}]" if ":" in address else address


def _check_port(host: str, port: int, *, what: str, option: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        # Connections in TIME_WAIT from an earlier run must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise UpError(f"{what} cannot bind {host or '*'}:{port}: {exc}") from exc
            raise UpError(
                f"port {port} ({what}) is in use by another process: stop it or pass {option}"
            ) from exc


def _sluice_argv() -> list[str]:
    script = Path(sys.executable).with_name("sluice")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from shared.cli.main import main; main()"]


@dataclass(frozen=True)
class UpConfig:
    """What ``sluice up`` was asked to run."""

    data_dir: Path
    redis_url: str | None
    redis_port: int
    flower_address: str
    flower_port: int
    flower_basic_auth: str | None
    artifact_port: int
    concurrency: int | None  # per worker; None: each service's declared concurrency
    timeout: float
    metrics_port: int = 9091
    # NAME=HOST:PORT for a service's server (``--listen``), instead of its declared address.
    listen: tuple[str, ...] = ()

    def servers(self) -> list[tuple[Server, str, int]]:
        """Every declared server with the host and port it will listen on."""
        wanted: dict[str, str] = {}
        for item in self.listen:
            name, sep, address = item.partition("=")
            if not sep or not name:
                raise UpError(f"--listen {item!r}: expected NAME=HOST:PORT")
            wanted[name] = address
        declared = [server for service in load_services() for server in service.servers]
        unknown = sorted(set(wanted) - {server.name for server in declared})
        if unknown:
            known = ", ".join(server.name for server in declared) or "none"
            raise UpError(f"--listen: no server named {', '.join(unknown)} (servers: {known})")
        out: list[tuple[Server, str, int]] = []
        for server in declared:
            try:
                host, port = parse_address(wanted.get(server.name, server.address))
            except typer.BadParameter as exc:
                raise UpError(f"--listen {server.name}: {exc.message}") from exc
            out.append((server, host, port))
        return out

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def flower_url(self) -> str:
        return f"http://{_local_host(self.flower_address)}:{self.flower_port}"

    @property
    def artifact_url(self) -> str:
        return f"http://127.0.0.1:{self.artifact_port}"

    def check(self) -> None:
        """Refuse a public Flower without login, a bad login, or ports already taken."""
        auth = self.flower_basic_auth
        if auth is not None:
            user, _, password = auth.partition(":")
            # Flower splits its FLOWER_BASIC_AUTH list on commas.
            if not user or not password or "," in auth:
                raise UpError("--flower-basic-auth: expected USER:PASSWORD (without commas)")
        elif flower_needs_auth(self.flower_address):
            raise UpError(
                f"Flower on {self.flower_address or 'all interfaces'} would let anyone who "
                "reaches it run and revoke tasks: pass --flower-basic-auth USER:PASSWORD, or "
                "keep the default --flower-address 127.0.0.1"
            )
        _check_port(self.flower_address, self.flower_port, what="flower", option="--flower-port")
        _check_port("127.0.0.1", self.artifact_port, what="artifacts", option="--artifact-port")
        _check_port("127.0.0.1", self.metrics_port, what="metrics", option="--metrics-port")
        for server, host, port in self.servers():
            option = f"--listen {server.name}=HOST:PORT"
            _check_port(host, port, what=server.name, option=option)
        if self.redis_url is None:
            _check_port("127.0.0.1", self.redis_port, what="redis", option="--redis-port")


def _up_settings(config: UpConfig) -> Settings:
    """The settings every child gets: the environment's, with everything under --data-dir."""
    settings = load_settings({**os.environ, "SLUICE_DATA_DIR": str(config.data_dir)})
    return settings.with_overrides(redis_url=config.redis_url) if config.redis_url else settings


def _child_env(settings: Settings, config: UpConfig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    env.pop("SLUICE_REDIS_PASSWORD_FILE", None)
    if settings.redis_password_file is not None:
        # The file's path, not the password: environments can be read by the same user.
        env["SLUICE_REDIS_PASSWORD_FILE"] = str(settings.redis_password_file)
    env.update(
        SLUICE_REDIS_URL=settings.redis_url,
        SLUICE_DATA_DIR=str(settings.data_dir),
        SLUICE_ARTIFACT_DIR=str(settings.artifact_dir),
        SLUICE_ARTIFACT_URL=config.artifact_url,
        SLUICE_SECRET_KEY_FILE=str(settings.secret_key_file),
        SLUICE_CACHE_DIR=str(settings.cache_dir),
        SLUICE_TOOLS_DIR=str(settings.tools_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def _flower_env(env: dict[str, str], config: UpConfig, redis_url: str) -> dict[str, str]:
    # The broker (with Redis' password: Flower reads no password file) and the
    # login go in the environment, where `ps` does not show them.
    flower = {**env, "CELERY_BROKER_URL": redis_url}
    if config.flower_basic_auth:
        flower["FLOWER_BASIC_AUTH"] = config.flower_basic_auth
    else:
        flower["FLOWER_UNAUTHENTICATED_API"] = "true"  # loopback only, checked by UpConfig
    return flower


def _worker_ready(child: Child) -> bool:
    return " ready." in child.output()


def _http_ready(url: str) -> bool:
    return httpx.get(url, timeout=1.0).status_code == 200


def _answers(url: str) -> Callable[[Child], bool]:
    """A ready check: ``url`` answers 200."""
    return lambda _child: _http_ready(url)


def build_supervisor(
    config: UpConfig, env: dict[str, str], out: Output, *, broker: str
) -> Supervisor:
    """Workers (one per service with tasks), the scheduler and Flower, with their ready checks."""
    sup = Supervisor(config.data_dir / "logs", on_event=lambda m: out.error(f"sluice up: {m}"))
    sluice = _sluice_argv()
    for service in working_services():
        argv = [*sluice, "worker", service.name]
        if config.concurrency is not None:
            argv += ["--concurrency", str(config.concurrency)]
        sup.add(f"worker-{service.name}", argv, env=env, ready=_worker_ready)
    sup.add("scheduler", [*sluice, "scheduler"], env=env)
    for server, host, port in config.servers():
        argv = [*sluice, *server.command, "--address", f"{host}:{port}"]
        url = f"http://{_local_host(host)}:{port}{server.health}"
        sup.add(server.name, argv, env=env, ready=_answers(url))
    flower_argv = [
        sys.executable, "-m", "celery", "flower",
        f"--address={config.flower_address}", f"--port={config.flower_port}",
    ]  # fmt: skip
    health = f"{config.flower_url}/healthcheck"
    sup.add(
        "flower",
        flower_argv,
        env=_flower_env(env, config, broker),
        ready=lambda _child: _http_ready(health),
    )
    return sup


class _RedisWatch:
    """Restarts the private redis-server when it dies (tried at most every few seconds)."""

    def __init__(self, server: RedisServer, out: Output) -> None:
        self.server, self.out, self.next_try = server, out, 0.0

    def __call__(self) -> None:
        process = self.server.process
        if process is not None and process.poll() is None:
            return
        if time.monotonic() < self.next_try:
            return
        code = "?" if process is None else process.returncode
        self.out.error(f"sluice up: redis-server exited (code {code}); restarting it")
        self.next_try = time.monotonic() + 5.0
        try:
            self.server.start()
        except RedisServerError as exc:
            self.out.error(f"sluice up: {exc}")


def _print_ready(
    out: Output,
    config: UpConfig,
    *,
    sup: Supervisor,
    redis_url: str,
    redis_server: RedisServer | None,
    settings: Settings,
    elapsed: float,
) -> None:
    redis_row = ("redis", redact(redis_url), "external", "-")
    if redis_server is not None and redis_server.process is not None:
        pid, log = str(redis_server.process.pid), str(redis_server.data_dir / "redis.log")
        redis_row = ("redis", redact(redis_url), pid, log)
    rows: list[tuple[str, str, str, str]] = [
        redis_row,
        ("artifacts", config.artifact_url, str(os.getpid()), "-"),
        ("metrics", config.metrics_url, str(os.getpid()), "-"),
    ]
    addresses = {"flower": config.flower_url}
    for server, host, port in config.servers():
        addresses[server.name] = f"http://{_local_host(host)}:{port}"
    for child in sup.children:
        address = addresses.get(child.name, "-")
        rows.append((child.name, address, str(child.pid), str(child.log)))
    out.table(("COMPONENT", "ADDRESS", "PID", "LOG"), rows)
    out.line()
    out.line(f"sluice is up ({elapsed:.1f}s); artifacts served from {settings.artifact_dir}")
    if redis_server is not None:
        login = settings.redis_password_file
        password = f" SLUICE_REDIS_PASSWORD_FILE={login}" if login else ""
        out.line(f"other shells on this machine: export SLUICE_REDIS_URL={redis_url}{password}")
    out.line("Ctrl-C stops everything")
    out.stream.flush()


def run_up(config: UpConfig, out: Output) -> int:
    """Run everything until SIGINT or SIGTERM; the exit code."""
    settings = _up_settings(config)
    config.check()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    started = time.monotonic()
    redis_server: RedisServer | None = None
    artifacts: ArtifactServer | None = None
    metrics: MetricsServer | None = None
    sup: Supervisor | None = None
    try:
        if config.redis_url is None:
            # A password by default, in a 0600 file every child is pointed at.
            secret = config.data_dir / "redis" / "password"
            redis_server = RedisServer(
                data_dir=config.data_dir / "redis",
                port=config.redis_port,
                password=password_file(secret),
            )
            redis_server.start()
            settings = settings.with_overrides(
                redis_url=redis_server.url, redis_password_file=secret
            )
        else:
            _ping(settings)
        redis_url = settings.redis_url
        if stop.is_set():
            return 0
        artifacts = serve_artifacts(settings.artifact_dir, port=config.artifact_port)
        metrics = _serve_metrics(settings, config.metrics_port)
        env = _child_env(settings, config)
        sup = build_supervisor(config, env, out, broker=broker_url(settings))
        out.error(f"sluice up: starting {len(sup.children)} processes, logs in {sup.log_dir}")
        if not sup.start(timeout=config.timeout, stop=stop):
            return 0
        _print_ready(
            out,
            config,
            sup=sup,
            redis_url=redis_url,
            redis_server=redis_server,
            settings=settings,
            elapsed=time.monotonic() - started,
        )
        sup.run(stop, tick=_RedisWatch(redis_server, out) if redis_server else None)
        out.error("sluice up: stopping")
        return 0
    except (RedisServerError, ArtifactServerError, SupervisorError) as exc:
        raise UpError(str(exc)) from exc
    finally:
        if sup is not None:
            sup.stop()
        if metrics is not None:
            metrics.close()
        if artifacts is not None:
            artifacts.close()
        if redis_server is not None:
            redis_server.stop()


def _serve_metrics(settings: Settings, port: int) -> MetricsServer:
    try:
        return serve_metrics(settings, port=port)
    except OSError as exc:
        raise UpError(f"metrics cannot serve on 127.0.0.1:{port}: {exc}") from exc


def _ping(settings: Settings) -> None:
    try:
        client = connect(settings.with_overrides(redis_timeout=3.0))
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        url = redact(settings.redis_url)
        raise UpError(f"cannot reach Redis at {url}: {redact(str(exc))}") from exc
    client.close()


def register(app: typer.Typer) -> None:
    """Add ``up`` to the CLI."""

    @app.command()
    def up(
        redis_url: str | None = typer.Option(
            None, "--redis-url", help="Use this Redis instead of starting a private one."
        ),
        redis_port: int = typer.Option(6379, help="Port of the private redis-server."),
        flower_address: str = typer.Option("127.0.0.1", help="Where Flower listens."),
        flower_port: int = typer.Option(5555, help="Flower's port."),
        flower_basic_auth: str | None = typer.Option(
            None,
            envvar="SLUICE_FLOWER_BASIC_AUTH",
            help="USER:PASSWORD for Flower; required unless it listens on loopback.",
        ),
        artifact_port: int = typer.Option(9090, help="Port of the artifact server (loopback)."),
        metrics_port: int = typer.Option(9091, help="Port of the Prometheus exporter (loopback)."),
        concurrency: int | None = typer.Option(
            None, "--concurrency", "-c", min=1, help="Per worker; default: each service's own."
        ),
        data_dir: Path = typer.Option(
            Settings().data_dir,
            envvar="SLUICE_DATA_DIR",
            help="All of this installation's state: Redis, artifacts, cache, logs.",
        ),
        timeout: float = typer.Option(120.0, help="Seconds to wait for everything to be ready."),
        listen: list[str] = typer.Option(
            [],
            "--listen",
            help="NAME=HOST:PORT for a service's server (e.g. receiver=0.0.0.0:9292).",
        ),
    ) -> None:
        """Run Redis, a worker per service with tasks, the scheduler, Flower, metrics, artifacts."""
        out = output()
        config = UpConfig(
            data_dir=data_dir.expanduser(),
            redis_url=redis_url,
            redis_port=redis_port,
            flower_address=flower_address,
            flower_port=flower_port,
            flower_basic_auth=flower_basic_auth,
            artifact_port=artifact_port,
            concurrency=concurrency,
            timeout=timeout,
            metrics_port=metrics_port,
            listen=tuple(listen),
        )
        try:
            code = run_up(config, out)
        except UpError as exc:
            out.error(f"sluice up: {exc}")
            raise typer.Exit(1) from exc
        raise typer.Exit(code)
