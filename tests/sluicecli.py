"""Running the sluice CLI as a user does in tests: a subprocess, its environment, manifests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "SLUICE", "configmaps_yaml", "git_repository_yaml", "run_sluice", "sluice_env"]

ROOT = Path(__file__).resolve().parents[1]
SLUICE = [sys.executable, "-c", "from shared.cli.main import main; main()"]


def configmaps_yaml(count: int, *, value_bytes: int = 10, prefix: str = "cm") -> str:
    """``count`` ConfigMaps in namespace default, each with one value of ``value_bytes``."""
    value = "x" * value_bytes
    return "".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}-{i}\n"
        f"  namespace: default\ndata:\n  v: {value}\n---\n"
        for i in range(count)
    )


def git_repository_yaml(name: str, url: str) -> str:
    """A GitRepository in namespace default on branch main."""
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        f"metadata:\n  name: {name}\n  namespace: default\n"
        f"spec:\n  interval: 1m\n  url: {url}\n  ref:\n    branch: main\n"
    )


def sluice_env(url: str, tmp_path: Path, **more: str) -> dict[str, str]:
    """This environment without SLUICE_*/FLOWER_* settings, pointed at ``url`` and ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "FLOWER_"))}
    env.update(
        SLUICE_REDIS_URL=url,
        SLUICE_SECRET_KEY_FILE=str(tmp_path / "secret.key"),
        SLUICE_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(ROOT),
        **more,
    )
    return env


def run_sluice(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sluice ARGS`` in a subprocess; its exit code, stdout and stderr."""
    return subprocess.run(
        [*SLUICE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
