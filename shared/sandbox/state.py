"""DIR/state.json: how each sandbox process was started, and its pid for whoever stops it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shared.sandbox.process import SandboxError

__all__ = ["STATE_FILE", "SandboxState", "ServerRecord"]

STATE_FILE = "state.json"
_FORMAT = 1


@dataclass(frozen=True)
class ServerRecord:
    """One sandbox process: its command line, ports, log file and (while running) pid."""

    name: str
    argv: tuple[str, ...]
    # The first is the one clients use (etcd also listens for peers).
    ports: tuple[int, ...]
    log: Path
    pid: int | None = None

    @property
    def port(self) -> int:
        """The port clients connect to."""
        return self.ports[0]

    @property
    def binary(self) -> str:
        """The executable, as /proc/<pid>/cmdline shows it."""
        return self.argv[0]

    def with_pid(self, pid: int | None) -> ServerRecord:
        """A copy with another pid (None once stopped)."""
        return replace(self, pid=pid)

    def to_json(self) -> dict[str, Any]:
        """The record as stored in state.json."""
        return {
            "name": self.name,
            "argv": list(self.argv),
            "ports": list(self.ports),
            "log": str(self.log),
            "pid": self.pid,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ServerRecord:
        """Read a record written by ``to_json``."""
        return cls(
            name=str(doc["name"]),
            argv=tuple(str(a) for a in doc["argv"]),
            ports=tuple(int(p) for p in doc["ports"]),
            log=Path(doc["log"]),
            pid=None if doc.get("pid") is None else int(doc["pid"]),
        )


@dataclass(frozen=True)
class SandboxState:
    """Every process of one sandbox: the etcd, one kube-apiserver per cluster and,
    unless the sandbox is API-only, each cluster's workload processes
    (controller-manager, scheduler, kwok; see shared.sandbox.workloads)."""

    etcd: ServerRecord
    clusters: tuple[ServerRecord, ...]
    components: tuple[ServerRecord, ...] = ()

    def records(self) -> list[ServerRecord]:
        """All records, workload processes first, etcd last (the order to stop them in)."""
        return [*self.components, *self.clusters, self.etcd]

    def with_cluster(self, index: int, record: ServerRecord) -> SandboxState:
        """A copy with the record of cluster ``index`` (0-based) replaced."""
        clusters = list(self.clusters)
        clusters[index] = record
        return replace(self, clusters=tuple(clusters))

    def with_component(self, record: ServerRecord) -> SandboxState:
        """A copy with the workload process of the same name replaced by ``record``."""
        components = tuple(record if c.name == record.name else c for c in self.components)
        return replace(self, components=components)

    def save(self, directory: Path) -> None:
        """Write state.json atomically."""
        doc = {
            "format": _FORMAT,
            "etcd": self.etcd.to_json(),
            "clusters": [c.to_json() for c in self.clusters],
            "components": [c.to_json() for c in self.components],
        }
        path = directory / STATE_FILE
        tmp = path.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, directory: Path) -> SandboxState:
        """Read state.json; SandboxError when there is none or it is unreadable."""
        path = directory / STATE_FILE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise SandboxError(
                f"no sandbox in {directory} (no {STATE_FILE}): "
                f"start one with `sluice sandbox up --dir {directory}`"
            ) from None
        except (OSError, ValueError) as exc:
            raise SandboxError(f"{path}: cannot read sandbox state: {exc}") from exc
        if doc.get("format") != _FORMAT:
            raise SandboxError(f"{path}: format {doc.get('format')!r}, expected {_FORMAT}")
        try:
            return cls(
                etcd=ServerRecord.from_json(doc["etcd"]),
                clusters=tuple(ServerRecord.from_json(c) for c in doc["clusters"]),
                components=tuple(ServerRecord.from_json(c) for c in doc.get("components", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SandboxError(f"{path}: malformed sandbox state: {exc!r}") from exc
