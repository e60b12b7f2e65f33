"""``sluice sandbox up|down|status``: local clusters in the background.

Each cluster is a kube-apiserver (over one shared etcd) with a
controller-manager, a scheduler and kwok's simulated nodes, so workloads
roll out; ``--api-only`` keeps just the apiservers.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from shared.cli.output import Output, output
from shared.sandbox import MAX_CLUSTERS, ClusterInfo, ControlPlane, SandboxError
from shared.tools import ToolMissingError

__all__ = ["register", "sandbox_app"]

sandbox_app = typer.Typer(
    help="Local Kubernetes clusters for tests and the demo (simulated nodes, no containers).",
    no_args_is_help=True,
)


def _default_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "sluice" / "sandbox"


_DIR = typer.Option(
    _default_dir(),
    "--dir",
    envvar="SLUICE_SANDBOX_DIR",
    help="Folder for the sandbox's state, certificates, logs and kubeconfigs.",
)
_OUTPUT = typer.Option("table", "-o", "--output", help="table, json or yaml.")


def _cluster_doc(info: ClusterInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "server": info.server,
        "port": info.port,
        "kubeconfig": str(info.kubeconfig),
        "restrictedKubeconfig": str(info.restricted_kubeconfig),
        "restrictedNamespace": info.restricted_namespace,
        "etcdPrefix": info.etcd_prefix,
    }


def _fail(out: Output, exc: Exception) -> typer.Exit:
    out.error(f"sluice sandbox: {exc}")
    return typer.Exit(1)


def _print_clusters(
    out: Output, infos: list[ClusterInfo], fmt: str, extra: dict[str, object]
) -> None:
    if fmt in ("json", "yaml"):
        out.data({"clusters": [_cluster_doc(i) for i in infos], **extra}, fmt)
        return
    rows = [(i.name, i.server, i.kubeconfig, i.restricted_kubeconfig) for i in infos]
    out.table(("CLUSTER", "SERVER", "KUBECONFIG", "RESTRICTED KUBECONFIG"), rows)


@sandbox_app.command("up")
def up(
    clusters: int = typer.Option(
        1, "--clusters", "-n", min=1, max=MAX_CLUSTERS, help="How many clusters."
    ),
    directory: Path = _DIR,
    api_only: bool = typer.Option(
        False,
        "--api-only",
        help="Only etcd and the apiservers: objects are stored but nothing runs them "
        "(no controller-manager, scheduler or nodes). Lighter, for fan-out benchmarks.",
    ),
    timeout: float | None = typer.Option(
        None, help="Seconds to wait for each step (default 60 + 10 per cluster)."
    ),
    fmt: str = _OUTPUT,
) -> None:
    """Start the clusters in the background; return once every process is ready."""
    out = output()
    plane = ControlPlane(directory, clusters, detach=True, api_only=api_only, timeout=timeout)
    try:
        infos = plane.up()
    except (SandboxError, ToolMissingError) as exc:
        raise _fail(out, exc) from exc
    timings = {k: round(v, 2) for k, v in plane.timings.items()}
    _print_clusters(out, infos, fmt, {"timings": timings})
    if fmt == "table":
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if k != "total")
        out.line()
        out.line(f"{len(infos)} cluster(s) ready in {timings['total']:.1f}s ({steps})")
        out.line(
            f"admin: export KUBECONFIG={infos[0].kubeconfig}; restricted user: "
            f"namespace {infos[0].restricted_namespace} only"
        )
        out.line(f"stop: sluice sandbox down --dir {plane.directory}")


@sandbox_app.command("down")
def down(directory: Path = _DIR) -> None:
    """Stop every process of the sandbox (SIGTERM, then SIGKILL) and remove its files."""
    out = output()
    try:
        plane = ControlPlane.load(directory)
        plane.down()
    except SandboxError as exc:
        raise _fail(out, exc) from exc
    out.line(f"sandbox in {plane.directory} stopped")


@sandbox_app.command("status")
def status(directory: Path = _DIR, fmt: str = _OUTPUT) -> None:
    """List the sandbox's clusters and whether each process is running."""
    out = output()
    try:
        plane = ControlPlane.load(directory)
    except SandboxError as exc:
        raise _fail(out, exc) from exc
    running = plane.running()
    servers = {i.name: i.server for i in plane.cluster_info()}
    if fmt in ("json", "yaml"):
        out.data({"processes": running, "servers": servers}, fmt)
    else:
        rows = [
            (name, "running" if up else "stopped", servers.get(name, ""))
            for name, up in running.items()
        ]
        out.table(("PROCESS", "STATE", "SERVER"), rows)
    if not all(running.values()):
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    """Add ``sluice sandbox`` to the CLI."""
    app.add_typer(sandbox_app, name="sandbox")
