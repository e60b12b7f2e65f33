"""A whole sluice for one scenario, on loopback, started and stopped as one unit.

A ``Stack`` runs a private redis-server, a sandbox control plane (etcd and N
kube-apiservers), and, under one ``Supervisor``: the source and kustomize
workers, helm's, notify's and image's when ``Topology.helm_workers``,
``notify_workers`` and ``image_workers`` ask (``celery -A
services.<svc>.tasks worker`` with the pool each service declares, as
``sluice worker`` runs it; the source worker serves the artifacts itself,
``SLUICE_ARTIFACT_LISTEN``, as Flux's source-controller serves its
storage), ``sluice scheduler`` and, with ``Topology.receiver``, ``sluice
receiver`` (Receiver webhooks) on a loopback port. With
``Topology.rtt_ms``, sluice reaches every cluster through a
``LatencyProxy`` that adds that round trip, as a remote cluster's network
would (the bench's own readers stay direct).
With ``Topology.git_http`` (set when Flux runs beside sluice) the scenario's
repositories are fetched over smart HTTP (``bench.githttp``) as Flux fetches
them, instead of ``file://``, so both tools do the same Git work.
Leaving the ``with`` block stops all of it, in reverse order, also after an
error or an interrupt.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from celery import Celery

from bench.githttp import GitHttpServer
from bench.manifests import NAMESPACE, cluster_docs
from bench.repo import GitRepo
from bench.stackbase import StackBase
from bench.waiting import BenchError
from shared.api.conditions import get_condition
from shared.celeryapp import create_app
from shared.events import EventBus
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.plugins import service_named
from shared.redisconn import connect
from shared.redisserver import RedisServer, free_port
from shared.runtime import reconcile_task
from shared.sandbox import ControlPlane
from shared.scheduler import due_at
from shared.secrets import SecretCipher
from shared.settings import Settings, load_settings
from shared.store import Store
from shared.supervisor import Child

__all__ = ["ROOT", "BenchError", "Stack", "Topology"]

ROOT = Path(__file__).resolve().parents[1]
SLUICE = str(Path(sys.executable).with_name("sluice"))


@dataclass(frozen=True)
class Topology:
    """Which processes a stack runs."""

    clusters: int = 1
    source_concurrency: int = 2
    kustomize_workers: int = 1
    # As `sluice worker kustomize` runs it unless a scenario says otherwise.
    kustomize_concurrency: int = field(
        default_factory=lambda: service_named("kustomize").worker.concurrency
    )
    # The helm service's workers (none unless a scenario releases HelmReleases).
    helm_workers: int = 0
    helm_concurrency: int = field(default_factory=lambda: service_named("helm").worker.concurrency)
    # The notify service's workers (none unless a scenario sends alerts or takes webhooks).
    notify_workers: int = 0
    notify_concurrency: int = field(
        default_factory=lambda: service_named("notify").worker.concurrency
    )
    # The image service's workers (none unless a scenario scans registries or automates images).
    image_workers: int = 0
    image_concurrency: int = field(
        default_factory=lambda: service_named("image").worker.concurrency
    )
    record_leases: bool = False
    rtt_ms: float = 0.0  # > 0: sluice reaches each cluster through a proxy adding this round trip
    git_http: bool = False  # fetch Git over smart HTTP (as Flux must) instead of file://
    # `sluice receiver` (Receiver webhooks) and notify's worker (at least one, which
    # reconciles the Receivers), as `sluice up` runs them.
    receiver: bool = False

    @property
    def notify_count(self) -> int:
        """How many notify workers run: ``notify_workers``, at least one with ``receiver``."""
        return max(self.notify_workers, 1 if self.receiver else 0)

    def describe(self) -> str:
        """One line for the table's notes."""
        clusters = f"{self.clusters} cluster{'s' if self.clusters > 1 else ''}"
        if self.rtt_ms > 0:
            clusters += f" ({self.rtt_ms:g} ms round trip added)"
        source, kustomize = (service_named(s).worker.pool for s in ("source", "kustomize"))
        git = "; Git over HTTP" if self.git_http else ""
        git = ("; sluice receiver" if self.receiver else "") + git
        helm = ""
        if self.helm_workers:
            pool = service_named("helm").worker.pool
            helm = f", helm {self.helm_workers}x({pool}, c={self.helm_concurrency})"
        if self.notify_count:
            pool = service_named("notify").worker.pool
            helm += f", notify {self.notify_count}x({pool}, c={self.notify_concurrency})"
        if self.image_workers:
            pool = service_named("image").worker.pool
            helm += f", image {self.image_workers}x({pool}, c={self.image_concurrency})"
        kustomize_part = ""
        if self.kustomize_workers:
            kustomize_part = (
                f", kustomize {self.kustomize_workers}x({kustomize}, "
                f"c={self.kustomize_concurrency})"
            )
        return (
            f"{clusters}; source 1x({source}, c={self.source_concurrency})"
            f"{kustomize_part}{helm}{git}"
        )


def _worker_ready(child: Child) -> bool:
    return " ready." in child.output()


def _http_up(url: str) -> Callable[[Child], bool]:
    def ready(_child: Child) -> bool:
        httpx.get(url, timeout=1.0)  # any answer (404 for "/") means it serves
        return True

    return ready


class Stack(StackBase):
    """Redis, sandbox clusters, workers (the source worker serving artifacts) and scheduler."""

    def __init__(
        self, topology: Topology, work: Path, *, timeout: float, say: Callable[[str], None]
    ) -> None:
        # Benchmarks measure sluice, not workloads: API-only clusters fan out to
        # ten on two cores (see the README's sandbox cost per cluster).
        plane = ControlPlane(work / "sandbox", topology.clusters, api_only=True, timeout=timeout)
        super().__init__(work, plane, timeout=timeout, say=say)
        self.topology = topology
        self.redis = RedisServer(data_dir=work / "redis")
        port = free_port()
        self.settings = Settings(
            redis_url=self.redis.url,
            secret_key_file=work / "secret.key",
            tools_dir=load_settings().tools_dir,
            artifact_dir=work / "artifacts",
            artifact_url=f"http://127.0.0.1:{port}",
            cache_dir=work / "cache",
        )
        self._artifact_port = port
        self._receiver_port = free_port()
        self.git = GitHttpServer(work / "git") if topology.git_http else None
        self._store: Store | None = None
        self._client: redis.Redis | None = None
        self._sender: Celery | None = None
        self._bus: EventBus | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment of every sluice process: ``SLUICE_*`` from ``settings``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "FLOWER_"))}
        for name in ("redis_url", "secret_key_file", "tools_dir", "artifact_dir", "cache_dir"):
            env[f"SLUICE_{name.upper()}"] = str(getattr(self.settings, name))
        env["SLUICE_ARTIFACT_URL"] = self.settings.artifact_url
        env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        return env

    def start(self) -> None:
        """Start Redis, the clusters, then every sluice process; return once all are ready."""
        began = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        if self.git is not None:
            self.git.start()
        self.redis.start()
        self.plane.up()
        env, sup, top = self.env, self.supervisor, self.topology
        self.start_proxies(top.rtt_ms)
        serving = _http_up(self.settings.artifact_url)
        sup.add(
            "source-1",
            self._worker_argv("source", 1, top.source_concurrency),
            env={**env, "SLUICE_ARTIFACT_LISTEN": f"127.0.0.1:{self._artifact_port}"},
            ready=lambda child: _worker_ready(child) and serving(child),
        )
        for n in range(1, top.kustomize_workers + 1):
            argv = self._worker_argv("kustomize", n, top.kustomize_concurrency)
            sup.add(f"kustomize-{n}", argv, env=env, ready=_worker_ready)
        for n in range(1, top.helm_workers + 1):
            argv = self._worker_argv("helm", n, top.helm_concurrency)
            sup.add(f"helm-{n}", argv, env=env, ready=_worker_ready)
        for n in range(1, top.notify_count + 1):
            argv = self._worker_argv("notify", n, top.notify_concurrency)
            sup.add(f"notify-{n}", argv, env=env, ready=_worker_ready)
        for n in range(1, top.image_workers + 1):
            argv = self._worker_argv("image", n, top.image_concurrency)
            sup.add(f"image-{n}", argv, env=env, ready=_worker_ready)
        if top.receiver:
            address = f"127.0.0.1:{self._receiver_port}"
            sup.add(
                "receiver",
                [SLUICE, "receiver", "--address", address],
                env=env,
                ready=_http_up(f"{self.receiver_url}/healthz"),
            )
        sup.add("scheduler", [SLUICE, "scheduler"], env=env)
        sup.start(timeout=self.timeout)
        self.say(f"  stack up in {time.monotonic() - began:.1f}s ({top.describe()})")

    def _worker_argv(self, service: str, number: int, concurrency: int) -> list[str]:
        app = f"services.{service}.tasks"
        if service == "kustomize" and self.topology.record_leases:
            app = "bench.recorder"
        # The pool each service declares, as `sluice worker` runs it.
        pool = service_named(service).worker.pool
        return [
            sys.executable, "-m", "celery", "-A", app, "worker",
            "-Q", service, "-c", str(concurrency), "-P", pool,
            "-n", f"{service}-{number}@%h", "-l", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def stop_steps(self) -> list[Callable[[], None]]:
        """Clients, workers, proxies, clusters, Redis, then the Git server."""
        clients = [c.close for c in (self._sender, self._client) if c is not None]
        proxies = [p.stop for p in self.proxies.values()]
        git = [] if self.git is None else [self.git.stop]
        return [*clients, self.supervisor.stop, *proxies, self.plane.down, self.redis.stop, *git]

    # -- what scenarios use --------------------------------------------------

    @property
    def receiver_url(self) -> str:
        """Where ``sluice receiver`` serves webhooks (with ``Topology.receiver``)."""
        return f"http://127.0.0.1:{self._receiver_port}"

    @property
    def store(self) -> Store:
        """The installation's store (the same Redis and secret key as the workers)."""
        if self._store is None:
            self._store = Store(self.client, SecretCipher.from_settings(self.settings))
        return self._store

    @property
    def client(self) -> redis.Redis:
        """A Redis client on the installation's Redis."""
        if self._client is None:
            self._client = connect(self.settings)
        return self._client

    def repo(self, root: Path, name: str) -> tuple[GitRepo, str]:
        """A new bench repository under ``root`` and the URL sluice fetches it from.

        ``file://``, or with ``Topology.git_http`` the smart-HTTP URL (``root``
        is then the stack's own Git folder, whatever is passed).
        """
        if self.git is None:
            repo = GitRepo(root, name)
            return repo, repo.url
        repo = GitRepo(self.git.root, name)
        return repo, self.git.url_for(repo.bare)

    def apply(self, docs: list[dict[str, Any]]) -> None:
        """Store objects all at once, as ``sluice apply -f`` does (validated, all or nothing)."""
        self.store.apply_all(docs)

    @property
    def events(self) -> EventBus:
        """The installation's event bus, as the services publish on it."""
        if self._bus is None:
            self._bus = EventBus(self.client, self.sender)
        return self._bus

    @property
    def sender(self) -> Celery:
        """A Celery app that queues tasks on the installation's broker."""
        if self._sender is None:
            self._sender = create_app("bench", self.settings)
        return self._sender

    def request(self, kind: str, name: str) -> None:
        """Queue a reconcile of ``kind/name`` now, as a webhook Receiver does on a push."""
        task = reconcile_task(kind)
        if task is None:
            raise ValueError(f"no service reconciles {kind}")
        request_reconcile(
            self.client, self.sender, ObjectKey(kind, NAMESPACE, name), task_name=task
        )

    def register_clusters(self, labels: Callable[[int], dict[str, str]]) -> list[str]:
        """A Cluster (and kubeconfig Secret) ``c<n>`` for every sandbox cluster, or its proxy."""
        docs: list[dict[str, Any]] = []
        names = []
        for info in self.plane.cluster_info():
            names.append(f"c{info.number}")
            server = self.server_of(info)
            docs += cluster_docs(names[-1], info.kubeconfig, labels(info.number), server=server)
        self.apply(docs)
        return names

    def ready(self, kind: str, *, revision: str | None = None) -> set[str]:
        """Names of the ``kind`` objects that are Ready (at ``revision``, when given)."""
        names = set()
        for doc in self.store.list(kind, NAMESPACE):
            status = doc.get("status") or {}
            cond = get_condition(status, "Ready")
            if not cond or cond.get("status") != "True":
                continue
            applied = status.get("lastAppliedRevision") or (status.get("artifact") or {}).get(
                "revision"
            )
            if revision is None or applied == revision:
                names.add(doc["metadata"]["name"])
        return names

    def is_ready(self, kind: str, name: str, revision: str) -> bool:
        """Whether ``kind/name`` is Ready at ``revision``."""
        return name in self.ready(kind, revision=revision)

    def scheduled(self, kind: str, name: str) -> bool:
        """Whether the scheduler tracks ``kind/name`` (it joins at the scheduler's next sync)."""
        return due_at(self.client, ObjectKey(kind, NAMESPACE, name)) is not None

    def condition(self, kind: str, name: str) -> dict[str, Any] | None:
        """The Ready condition of one object, for error messages."""
        doc = self.store.get(ObjectKey(kind, NAMESPACE, name))
        return get_condition((doc or {}).get("status"), "Ready")

    def sluice_pids(self) -> list[int]:
        """Session leaders of every sluice process (workers and scheduler)."""
        return [c.pid for c in self.supervisor.children if c.pid is not None]

    def worker_pids(self, prefix: str) -> list[int]:
        """Session leaders of the supervised processes named ``prefix``... (``helm-1``, ...)."""
        children = self.supervisor.children
        return [c.pid for c in children if c.pid is not None and c.name.startswith(prefix)]

    def redis_pids(self) -> list[int]:
        """The redis-server process (it leads its own session)."""
        process = self.redis.process
        return [] if process is None else [process.pid]
