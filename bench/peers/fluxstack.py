"""Flux's source-controller and kustomize-controller for one scenario, beside sluice's stack.

The topology is the one sluice has. sluice keeps its objects in a local
Redis and reaches every cluster it applies to through a kubeconfig; here
Flux keeps its objects (GitRepository, Kustomization, kubeconfig Secrets) on
a *hub*: a sandbox kube-apiserver of its own on loopback (its own etcd), and
applies to *target* clusters, a second sandbox (its own etcd, one apiserver
per cluster), reached only through each Kustomization's
``spec.kubeConfig.secretRef``. With ``FluxTopology.rtt_ms`` every target is
reached through a ``LatencyProxy`` adding that round trip, exactly as sluice's
clusters are; on loopback scenarios the kubeconfig points straight at the
target, so both tools still do the same work against a cluster that is not
their own store.

The two controllers are the real Flux binaries (``hack/tools.sh
build_flux``), run as local processes under a ``Supervisor``: leader
election off, metrics and health on free loopback ports,
``--watch-all-namespaces``, the source-controller's artifact storage in the
work folder served on loopback (``--storage-adv-addr`` is what the
kustomize-controller downloads from). ``FluxTopology.concurrency`` is the
kustomize-controller's ``--concurrent`` (Flux's default 4); the
source-controller keeps its default (2). Git is served over smart HTTP
(``bench.githttp``) since Flux refuses ``file://``.

A reconcile request (``request``) sets ``reconcile.fluxcd.io/requestedAt`` on
the object, which is what ``flux reconcile`` and the notification-controller's
webhook Receiver do on a push.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.githttp import GitHttpServer
from bench.manifests import NAMESPACE, kubeconfig_secret
from bench.peers.fluxdocs import REQUESTED_AT, kubeconfig_secret_name, namespace
from bench.peers.fluxtools import CONTROLLERS, flux_tools
from bench.peers.hub import HubClient
from bench.procstat import cmdline_pids
from bench.repo import GitRepo
from bench.stackbase import StackBase
from shared.api.conditions import get_condition
from shared.redisserver import free_port
from shared.sandbox import ControlPlane
from shared.supervisor import Child

__all__ = ["FluxStack", "FluxTopology"]

DEFAULT_CONCURRENCY = 4  # the kustomize-controller's own default


@dataclass(frozen=True)
class FluxTopology:
    """How many target clusters, how far away, and the kustomize-controller's concurrency."""

    clusters: int = 1
    concurrency: int = DEFAULT_CONCURRENCY
    rtt_ms: float = 0.0

    def describe(self) -> str:
        """One line for the table's notes."""
        clusters = f"{self.clusters} target cluster{'s' if self.clusters > 1 else ''}"
        if self.rtt_ms > 0:
            clusters += f" ({self.rtt_ms:g} ms round trip added)"
        return (
            f"{clusters} via spec.kubeConfig; kustomize-controller --concurrent "
            f"{self.concurrency}, source-controller --concurrent 2; objects on a hub apiserver"
        )


def _http_ok(url: str) -> Callable[[Child], bool]:
    def ready(_child: Child) -> bool:
        return httpx.get(url, timeout=1.0).status_code == 200

    return ready


class FluxStack(StackBase):
    """A hub apiserver, target clusters, a Git server and Flux's two controllers."""

    def __init__(
        self, topology: FluxTopology, work: Path, *, timeout: float, say: Callable[[str], None]
    ) -> None:
        plane = ControlPlane(work / "targets", topology.clusters, api_only=True, timeout=timeout)
        super().__init__(work, plane, timeout=timeout, say=say)
        self.topology = topology
        self.tools = flux_tools()
        self.hub_plane = ControlPlane(work / "hub", 1, api_only=True, timeout=timeout)
        self.git = GitHttpServer(work / "git")
        self._hub: HubClient | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start the hub and targets, install the CRDs and Secrets, then both controllers."""
        began = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        self.git.start()
        self.hub_plane.up()
        self.plane.up()
        top = self.topology
        self.start_proxies(top.rtt_ms)
        self.hub.create(namespace())
        self.hub.install_crds(self.tools.crds, timeout=self.timeout)
        secrets = []
        for info in self.plane.cluster_info():
            server = self.server_of(info)
            name = kubeconfig_secret_name(info.number)
            secrets.append(kubeconfig_secret(name, info.kubeconfig, server=server))
        self.hub.create_all(secrets)
        self._add_controllers()
        self.supervisor.start(timeout=self.timeout)
        self.say(f"  Flux up in {time.monotonic() - began:.1f}s ({top.describe()})")

    def _add_controllers(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(
            KUBECONFIG=str(self.hub_plane.cluster(1).kubeconfig),
            # The namespace the controllers count as their own (events, leader election).
            RUNTIME_NAMESPACE=NAMESPACE,
        )
        storage = free_port()
        (self.work / "storage").mkdir(parents=True, exist_ok=True)
        common = ["--enable-leader-election=false", "--watch-all-namespaces=true",
                  "--log-level=info", "--log-encoding=json"]  # fmt: skip
        for name in CONTROLLERS:
            health, metrics = free_port(), free_port()
            argv = [
                str(self.tools.binaries[name]),
                *common,
                f"--health-addr=127.0.0.1:{health}",
                f"--metrics-addr=127.0.0.1:{metrics}",
            ]
            if name == "source-controller":
                argv += [
                    f"--storage-path={self.work / 'storage'}",
                    f"--storage-addr=127.0.0.1:{storage}",
                    f"--storage-adv-addr=127.0.0.1:{storage}",
                ]
            else:
                argv.append(f"--concurrent={self.topology.concurrency}")
            self.supervisor.add(
                name, argv, env=env, ready=_http_ok(f"http://127.0.0.1:{health}/readyz")
            )

    def stop_steps(self) -> list[Callable[[], None]]:
        """The hub client, controllers, proxies, both sandboxes, then the Git server."""
        proxies = [p.stop for p in self.proxies.values()]
        return [self._close_hub, self.supervisor.stop, *proxies, self.plane.down,
                self.hub_plane.down, self.git.stop]  # fmt: skip

    def _close_hub(self) -> None:
        if self._hub is not None:
            self._hub.close()
            self._hub = None

    # -- what scenarios use --------------------------------------------------

    @property
    def hub(self) -> HubClient:
        """A client of the hub apiserver (where Flux's objects live)."""
        if self._hub is None:
            self._hub = HubClient(self.hub_plane.cluster(1).kubeconfig)
        return self._hub

    def repo(self, name: str) -> tuple[GitRepo, str]:
        """A new bench repository and the smart-HTTP URL Flux fetches it from."""
        repo = GitRepo(self.git.root, name)
        return repo, self.git.url_for(repo.bare)

    def apply(self, docs: list[dict[str, Any]]) -> None:
        """Create Flux objects on the hub, all at once."""
        self.hub.create_all(docs)

    def request(self, kind: str, name: str) -> None:
        """Ask for a reconcile of ``kind/name`` now, as Flux's webhook Receiver does on a push."""
        stamp = datetime.now(UTC).isoformat(timespec="microseconds")
        self.hub.annotate(kind, NAMESPACE, name, {REQUESTED_AT: stamp})

    def ready(self, kind: str, *, revision: str | None = None) -> set[str]:
        """Names of the ``kind`` objects that are Ready (at ``revision``, when given)."""
        return {
            doc["metadata"]["name"]
            for doc in self.hub.items(kind, NAMESPACE)
            if _ready_at(doc, revision)
        }

    def is_ready(self, kind: str, name: str, revision: str) -> bool:
        """Whether ``kind/name`` is Ready at ``revision``."""
        doc = self.hub.get(kind, NAMESPACE, name)
        return doc is not None and _ready_at(doc, revision)

    def controller_pids(self) -> list[int]:
        """The two controller processes."""
        return [c.pid for c in self.supervisor.children if c.pid is not None]

    def hub_pids(self) -> list[int]:
        """The hub's etcd and kube-apiserver (Flux's store, as Redis is sluice's)."""
        return cmdline_pids(str(self.hub_plane.directory))


def _ready_at(doc: dict[str, Any], revision: str | None) -> bool:
    status = doc.get("status") or {}
    cond = get_condition(status, "Ready")
    if not cond or cond.get("status") != "True":
        return False
    # A Kustomization's Ready is for the revision it applied; a source's for its artifact.
    applied = status.get("lastAppliedRevision") or (status.get("artifact") or {}).get("revision")
    return revision is None or applied == revision
