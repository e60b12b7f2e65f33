"""The machine a benchmark ran on: cores, memory, CPU model, and the versions that matter."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from shared.settings import load_settings
from shared.tools import find_tool, probe_version

__all__ = ["describe_machine", "summary"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return 0.0


def _tool_version(name: str) -> str:
    path = find_tool(name)
    if path is None:
        return "missing"
    return probe_version(name, path) or "unknown"


def _redis_version() -> str:
    try:
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return "missing"
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else "unknown"


def _flux_versions() -> dict[str, str]:
    """The Flux controllers ``hack/tools.sh build_flux`` built (their stamp files), if any."""
    stamps = load_settings().tools_dir / "stamps"
    found = {}
    for name in ("source-controller", "kustomize-controller"):
        try:
            found[name] = (stamps / name).read_text().strip()
        except OSError:
            continue
    return found


def describe_machine(*, flux: bool = False) -> dict[str, Any]:
    """What the figures depend on, for the JSON file and the table's header (Flux's if it ran)."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "kube_apiserver": _tool_version("kube-apiserver"),
        "etcd": _tool_version("etcd"),
        "kustomize": _tool_version("kustomize"),
        "redis": _redis_version(),
        "flux": _flux_versions() if flux else {},
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def summary(machine: dict[str, Any]) -> str:
    """One line: ``2 cores (AMD EPYC), 23.5 GiB, Python 3.11.2, kube-apiserver 1.36.3, ...``."""
    load = ", ".join(str(v) for v in machine["load_average_at_start"])
    flux = "".join(f", Flux {name} {v}" for name, v in (machine.get("flux") or {}).items())
    return (
        f"{machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, kube-apiserver {machine['kube_apiserver']}, "
        f"etcd {machine['etcd']}, kustomize {machine['kustomize']}, redis {machine['redis']}"
        f"{flux}; "
        f"load average at start {load}"
    )
