"""ControlPlane: one etcd and N kube-apiservers on loopback, each apiserver its own cluster."""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx

from shared.sandbox.admin import AdminClient
from shared.sandbox.certs import RESTRICTED_USER, Credentials, write_credentials
from shared.sandbox.kubeconfig import write_cluster_kubeconfigs
from shared.sandbox.process import (
    SandboxError,
    StartupError,
    alive,
    check_port_free,
    free_ports,
    log_tail,
    spawn,
    stop,
)
from shared.sandbox.servers import apiserver_records, etcd_record
from shared.sandbox.state import STATE_FILE, SandboxState, ServerRecord
from shared.sandbox.workloads import (
    COMPONENTS,
    KWOK_CONFIG,
    WorkloadTools,
    component_ready,
    register_nodes,
    workload_records,
    write_kwok_config,
)
from shared.settings import Settings
from shared.tools import require_tool

__all__ = ["MAX_CLUSTERS", "RESTRICTED_NAMESPACE", "ClusterInfo", "ControlPlane"]

MAX_CLUSTERS = 10
RESTRICTED_NAMESPACE = "sandbox"
# The folders up() creates in DIR (plus its kubeconfigs and kwok.yaml); down()
# removes exactly these, never the folder's other files.
_CREATED = ("certs", "etcd-data", "logs")
_T = TypeVar("_T")


@dataclass(frozen=True)
class ClusterInfo:
    """One sandbox cluster: where it listens and the kubeconfigs for its two users."""

    name: str
    number: int
    server: str
    port: int
    kubeconfig: Path
    restricted_kubeconfig: Path
    etcd_prefix: str
    restricted_namespace: str = RESTRICTED_NAMESPACE


class ControlPlane:
    """A sandbox in ``directory``: ``up()``, ``down()``, and stop/start one cluster for fault tests.

    Each cluster runs workloads (a controller-manager, a scheduler and kwok
    nodes: shared.sandbox.workloads) unless ``api_only``, which keeps just
    its apiserver: lighter, for tests and benchmarks that only store objects.
    With ``detach`` the processes outlive this Python process (the CLI);
    otherwise they are stopped at interpreter exit if ``down()`` was not called.
    """

    def __init__(
        self,
        directory: Path,
        clusters: int = 1,
        *,
        detach: bool = False,
        api_only: bool = False,
        timeout: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        if not 1 <= clusters <= MAX_CLUSTERS:
            raise ValueError(f"clusters={clusters}: expected 1..{MAX_CLUSTERS}")
        self.directory = Path(directory).resolve()
        self.clusters = clusters
        self.detach = detach
        self.api_only = api_only
        # Every apiserver starts at once on shared cores, so allow more per cluster.
        self.timeout = timeout if timeout is not None else 60.0 + 10.0 * clusters
        self.settings = settings
        self.timings: dict[str, float] = {}
        self._state: SandboxState | None = None
        self._children: list[subprocess.Popen[bytes]] = []
        self._atexit: Callable[[], None] | None = None

    @classmethod
    def load(cls, directory: Path, *, timeout: float | None = None) -> ControlPlane:
        """The sandbox that ``up()`` (maybe in another process) left in ``directory``."""
        state = SandboxState.load(Path(directory))
        plane = cls(
            directory,
            len(state.clusters),
            detach=True,
            api_only=not state.components,
            timeout=timeout,
        )
        plane._state = state
        return plane

    # -- what callers read ---------------------------------------------------

    def cluster(self, number: int) -> ClusterInfo:
        """Cluster ``number``, counting from 1 as in ``cluster-1``."""
        if not 1 <= number <= self.clusters:
            raise ValueError(f"cluster {number}: expected 1..{self.clusters}")
        port = self._require_state().clusters[number - 1].port
        name = f"cluster-{number}"
        return ClusterInfo(
            name=name,
            number=number,
            server=f"https://127.0.0.1:{port}",
            port=port,
            kubeconfig=self.directory / f"{name}.kubeconfig",
            restricted_kubeconfig=self.directory / f"{name}-restricted.kubeconfig",
            etcd_prefix=f"/{name}",
        )

    def cluster_info(self) -> list[ClusterInfo]:
        """Every cluster, in order."""
        return [self.cluster(n) for n in range(1, self.clusters + 1)]

    def running(self) -> dict[str, bool]:
        """Process name (``etcd``, ``cluster-1`` ...) -> whether it is running."""
        return {r.name: r.pid is not None and alive(r.pid, r.binary) for r in self._records()}

    # -- lifecycle -----------------------------------------------------------

    def up(self) -> list[ClusterInfo]:
        """Start etcd, every apiserver (and workload process), set up RBAC; return once ready."""
        started = time.monotonic()
        self._refuse_if_running()
        etcd_bin = require_tool("etcd", settings=self.settings)
        apiserver_bin = require_tool("kube-apiserver", settings=self.settings)
        tools = None if self.api_only else WorkloadTools.require(self.settings)
        self._remove_files()
        self.directory.mkdir(parents=True, exist_ok=True)
        creds = self._phase("certs", lambda: write_credentials(self.directory / "certs"))
        # Two more per full cluster: the controller-manager's and scheduler's /healthz.
        extra = 0 if tools is None else 2 * self.clusters
        etcd_port, peer_port, *ports = free_ports(2 + self.clusters + extra)
        ports, extra_ports = ports[: self.clusters], ports[self.clusters :]
        logs = self.directory / "logs"
        etcd = etcd_record(etcd_bin, self.directory / "etcd-data", (etcd_port, peer_port), logs)
        apiservers = apiserver_records(apiserver_bin, creds, ports, etcd_port=etcd_port, logs=logs)
        components: tuple[ServerRecord, ...] = ()
        if tools is not None:
            write_kwok_config(self.directory)
            components = workload_records(
                tools, creds, extra_ports, directory=self.directory, logs=logs
            )
        self._state = SandboxState(etcd=etcd, clusters=apiservers, components=components)
        if not self.detach and self._atexit is None:
            self._atexit = self.down
            atexit.register(self._atexit)
        try:
            self._phase("etcd", lambda: self._start_etcd())
            self._write_kubeconfigs(creds)
            self._phase("apiservers", lambda: self._start_apiservers(range(len(apiservers))))
            self._phase("rbac", lambda: self._each_cluster(self._set_up_rbac, creds))
            if components:
                self._phase("workloads", lambda: self._start_workloads(creds))
        except BaseException:
            # Stop whatever did start, but keep the logs for a look.
            self._stop_all()
            self._forget()
            (self.directory / STATE_FILE).unlink(missing_ok=True)
            raise
        self.timings["total"] = time.monotonic() - started
        return self.cluster_info()

    def down(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL) and remove the sandbox's files."""
        if self._state is None and (self.directory / STATE_FILE).exists():
            self._state = SandboxState.load(self.directory)
        self._stop_all()
        self._forget()
        self._remove_files()

    def stop_cluster(self, number: int, *, kill: bool = False) -> None:
        """Stop cluster ``number``'s apiserver (SIGKILL with ``kill``); etcd keeps its data."""
        self.cluster(number)
        record = self._require_state().clusters[number - 1]
        if record.pid is not None:
            stop({record.pid: record.binary}, kill=kill)
            self._reap()
        self._update(number - 1, record.with_pid(None))

    def start_cluster(self, number: int) -> ClusterInfo:
        """Start cluster ``number``'s apiserver again on the same port; return once ready."""
        info = self.cluster(number)
        state = self._require_state()
        record = state.clusters[number - 1]
        if record.pid is not None and alive(record.pid, record.binary):
            return info
        etcd = state.etcd
        if etcd.pid is None or not alive(etcd.pid, etcd.binary):
            raise SandboxError(
                f"etcd of the sandbox in {self.directory} is not running: "
                f"run `sluice sandbox down` and `up` again"
            )
        self._start_apiservers([number - 1])
        return info

    # -- steps ---------------------------------------------------------------

    def _phase(self, name: str, step: Callable[[], _T]) -> _T:
        began = time.monotonic()
        result = step()
        self.timings[name] = time.monotonic() - began
        return result

    def _start_etcd(self) -> None:
        state = self._require_state()
        for port in state.etcd.ports:
            check_port_free(port, "etcd")
        record = self._spawn(state.etcd)
        self._state = state = dataclasses.replace(state, etcd=record)
        state.save(self.directory)
        url = f"http://127.0.0.1:{record.port}/health"
        deadline = time.monotonic() + 30.0
        with httpx.Client(timeout=1.0) as http:
            while True:
                try:
                    if http.get(url).json().get("health") == "true":
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                self._check_started(record, deadline)
                time.sleep(0.05)

    def _start_apiservers(self, indexes: range | list[int]) -> None:
        state = self._require_state()
        for i in indexes:
            record = state.clusters[i]
            check_port_free(record.port, f"{record.name} apiserver")
        for i in indexes:
            self._update(i, self._spawn(state.clusters[i]))
        creds = Credentials.in_dir(self.directory / "certs")
        clients = {i: self._admin(i, creds) for i in indexes}
        try:
            self._wait_ready({state.clusters[i].name: clients[i].ready for i in indexes})
        finally:
            for client in clients.values():
                client.close()

    def _start_workloads(self, creds: Credentials) -> None:
        # Every cluster's three processes start at once; each cluster then
        # gets its Node objects, and up() waits for all to do their job.
        for record in self._require_state().components:
            for port in record.ports:
                check_port_free(port, record.name)
        for record in self._require_state().components:
            self._state = self._require_state().with_component(self._spawn(record))
        self._require_state().save(self.directory)
        per_cluster = len(COMPONENTS)
        clients = {i: self._admin(i, creds) for i in range(self.clusters)}
        try:
            for admin in clients.values():
                register_nodes(admin)
            probes = {
                record.name: partial(
                    component_ready,
                    record,
                    admin=clients[position // per_cluster],
                    ca_cert=creds.ca_cert,
                )
                for position, record in enumerate(self._require_state().components)
            }
            self._wait_ready(probes)
        finally:
            for client in clients.values():
                client.close()

    def _set_up_rbac(self, index: int, creds: Credentials) -> None:
        with self._admin(index, creds) as admin:
            admin.aggregate_cluster_roles()
            admin.grant_namespace(RESTRICTED_NAMESPACE, user=RESTRICTED_USER, cluster_role="edit")

    def _write_kubeconfigs(self, creds: Credentials) -> None:
        for info in self.cluster_info():
            write_cluster_kubeconfigs(
                info.name,
                server=info.server,
                creds=creds,
                admin=info.kubeconfig,
                restricted=info.restricted_kubeconfig,
                namespace=RESTRICTED_NAMESPACE,
            )

    # -- helpers -------------------------------------------------------------

    def _require_state(self) -> SandboxState:
        if self._state is None:
            raise SandboxError(f"the sandbox in {self.directory} is not up: call up() first")
        return self._state

    def _records(self) -> list[ServerRecord]:
        return self._state.records() if self._state else []

    def _update(self, index: int, record: ServerRecord) -> None:
        self._state = self._require_state().with_cluster(index, record)
        self._state.save(self.directory)

    def _spawn(self, record: ServerRecord) -> ServerRecord:
        process = spawn(list(record.argv), record.log)
        self._children.append(process)
        return record.with_pid(process.pid)

    def _wait_ready(self, probes: Mapping[str, Callable[[], bool]]) -> None:
        # Poll every process's probe until all pass; the first to exit or to
        # miss the deadline raises StartupError with its log tail.
        deadline = time.monotonic() + self.timeout
        pending = dict(probes)
        while pending:
            for name, ready in list(pending.items()):
                if ready():
                    del pending[name]
                else:
                    self._check_started(
                        next(r for r in self._records() if r.name == name), deadline
                    )
            if pending:
                time.sleep(0.1)

    def _check_started(self, record: ServerRecord, deadline: float) -> None:
        exited = record.pid is None or not alive(record.pid, record.binary)
        if exited or time.monotonic() > deadline:
            what = "exited" if exited else f"was not ready after {self.timeout:g}s"
            where = f" on port {record.port}" if record.ports else ""
            raise StartupError(
                f"{record.name} ({Path(record.binary).name}{where}) {what}; "
                f"last lines of {record.log}:\n{log_tail(record.log)}"
            )

    def _admin(self, index: int, creds: Credentials) -> AdminClient:
        server = f"https://127.0.0.1:{self._require_state().clusters[index].port}"
        return AdminClient(server, ca_cert=creds.ca_cert, token=creds.admin_token)

    def _each_cluster(self, step: Callable[[int, Credentials], None], creds: Credentials) -> None:
        with ThreadPoolExecutor(max_workers=self.clusters) as pool:
            for future in [pool.submit(step, i, creds) for i in range(self.clusters)]:
                future.result()

    def _refuse_if_running(self) -> None:
        try:
            existing = SandboxState.load(self.directory)
        except SandboxError:
            return
        if any(r.pid is not None and alive(r.pid, r.binary) for r in existing.records()):
            raise SandboxError(
                f"a sandbox is already running in {self.directory}: "
                f"stop it with `sluice sandbox down --dir {self.directory}`"
            )

    def _stop_all(self) -> None:
        records = self._records()
        stop({r.pid: r.binary for r in records if r.pid is not None and r.name != "etcd"})
        stop({r.pid: r.binary for r in records if r.pid is not None and r.name == "etcd"})
        self._reap()

    def _forget(self) -> None:
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        self._state = None

    def _reap(self) -> None:
        # alive() may already have reaped them; poll() then just records it.
        self._children = [p for p in self._children if p.poll() is None]

    def _remove_files(self) -> None:
        for name in _CREATED:
            shutil.rmtree(self.directory / name, ignore_errors=True)
        for path in [*self.directory.glob("cluster-*.kubeconfig"), self.directory / KWOK_CONFIG]:
            path.unlink(missing_ok=True)
        (self.directory / STATE_FILE).unlink(missing_ok=True)
        if self.directory.is_dir() and not any(self.directory.iterdir()):
            self.directory.rmdir()
