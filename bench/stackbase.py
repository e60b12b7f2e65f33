"""What sluice's stack and Flux's stack share: target clusters, latency proxies, readers, waits.

Both run their processes under one ``Supervisor`` against a sandbox ``plane`` of
target clusters, reach those through a ``LatencyProxy`` each when a round trip
is added, and give scenarios the same readers, waits, pids and log tails. Each
subclass starts and stops its own parts (``start``, ``stop_steps``); leaving the
``with`` block runs the steps in order, also after an error or an interrupt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Self, TypeVar

from bench.kube import KubeReader
from bench.latencyproxy import LatencyProxy
from bench.procstat import cmdline_pids
from bench.waiting import wait_until
from shared.sandbox import ClusterInfo, ControlPlane
from shared.supervisor import Supervisor

__all__ = ["StackBase"]

T = TypeVar("T")


class StackBase:
    """Target clusters (``plane``), their proxies and the supervised processes of one tool."""

    def __init__(
        self, work: Path, plane: ControlPlane, *, timeout: float, say: Callable[[str], None]
    ) -> None:
        self.work = work
        self.plane = plane
        self.timeout = timeout
        self.say = say
        self.supervisor = Supervisor(work / "logs", on_event=say)
        self.proxies: dict[int, LatencyProxy] = {}  # cluster number -> its latency proxy
        self._readers: dict[int, KubeReader] = {}

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything; return once all is ready."""
        raise NotImplementedError

    def stop_steps(self) -> list[Callable[[], None]]:
        """What stop() runs, in order (besides closing the readers)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop everything this stack started, last started first."""
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        for step in self.stop_steps():
            try:
                step()
            except Exception as exc:  # keep stopping the rest
                self.say(f"  warning: {step.__qualname__}: {exc}")

    def start_proxies(self, rtt_ms: float) -> None:
        """A latency proxy adding ``rtt_ms`` in front of every target cluster (none at 0)."""
        for info in self.plane.cluster_info() if rtt_ms > 0 else []:
            log = self.work / "logs" / f"latency-proxy-{info.number}.log"
            self.proxies[info.number] = proxy = LatencyProxy(info.port, rtt_ms=rtt_ms, log=log)
            proxy.start(timeout=min(self.timeout, 30.0))

    def server_of(self, info: ClusterInfo) -> str | None:
        """The address the tool reaches ``info`` at: its proxy's, or None for its own."""
        proxy = self.proxies.get(info.number)
        # The serving certificate is for 127.0.0.1, whatever the port: TLS still verifies.
        return None if proxy is None else f"https://127.0.0.1:{proxy.port}"

    def reader(self, number: int) -> KubeReader:
        """A REST reader of target cluster ``number`` (direct, never through a proxy)."""
        if number not in self._readers:
            self._readers[number] = KubeReader(self.plane.cluster(number).kubeconfig)
        return self._readers[number]

    def wait(
        self, what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 0.2
    ) -> T:
        """Poll ``check`` until it returns something other than None or False."""
        return wait_until(what, check, timeout=timeout, interval=interval, tails=self.log_tails)

    def sandbox_pids(self) -> list[int]:
        """etcd and the kube-apiservers of the target clusters."""
        return cmdline_pids(str(self.plane.directory))

    def proxy_pids(self) -> list[int]:
        """The latency proxies (none unless a round trip is added)."""
        return [p.pid for p in self.proxies.values() if p.pid is not None]

    def log_tails(self, lines: int = 12, names: Iterable[str] | None = None) -> str:
        """The last lines each supervised process wrote."""
        wanted = set(names) if names is not None else None
        return "\n".join(
            f"--- {c.name} ({c.log})\n{c.tail(lines)}"
            for c in self.supervisor.children
            if wanted is None or c.name in wanted
        )
