"""Command lines of a sandbox's control plane: the shared etcd and each cluster's kube-apiserver."""

from __future__ import annotations

from pathlib import Path

from shared.sandbox.certs import Credentials
from shared.sandbox.state import ServerRecord

__all__ = ["SERVICE_RANGE", "apiserver_argv", "apiserver_records", "etcd_argv", "etcd_record"]

SERVICE_RANGE = "10.0.0.0/24"


def etcd_argv(binary: Path, data: Path, client_port: int, peer_port: int) -> list[str]:
    """etcd for every cluster of the sandbox (each apiserver has its own key prefix)."""
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(binary),
        "--name=sandbox",
        f"--data-dir={data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=sandbox={peer}",
        # Throwaway data: skipping fsync makes every apiserver write much faster.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_argv(
    binary: Path, creds: Credentials, *, number: int, port: int, etcd_port: int
) -> list[str]:
    """Cluster ``number``'s apiserver: envtest's flags, plus token auth and a serving cert."""
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        f"--etcd-prefix=/cluster-{number}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={creds.serving_cert}",
        f"--tls-private-key-file={creds.serving_key}",
        f"--client-ca-file={creds.ca_cert}",
        f"--token-auth-file={creds.token_file}",
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_RANGE}",
        f"--service-account-issuer=https://127.0.0.1:{port}",
        f"--service-account-key-file={creds.sa_public_key}",
        f"--service-account-signing-key-file={creds.sa_key}",
        # An API-only cluster has no controller-manager, so no namespace gets
        # its default ServiceAccount and this plugin would refuse every Pod.
        # A full cluster leaves it off too: kwok runs no container that could
        # read a mounted token, and a Pod applied with its new Namespace would
        # otherwise race the ServiceAccount controller.
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def etcd_record(binary: Path, data: Path, ports: tuple[int, int], logs: Path) -> ServerRecord:
    """The (not yet started) etcd: client port first, then peer port."""
    return ServerRecord("etcd", tuple(etcd_argv(binary, data, *ports)), ports, logs / "etcd.log")


def apiserver_records(
    binary: Path, creds: Credentials, ports: list[int], *, etcd_port: int, logs: Path
) -> tuple[ServerRecord, ...]:
    """The (not yet started) apiservers, ``cluster-1`` on ``ports[0]`` and so on."""
    return tuple(
        ServerRecord(
            f"cluster-{n}",
            tuple(apiserver_argv(binary, creds, number=n, port=port, etcd_port=etcd_port)),
            (port,),
            logs / f"cluster-{n}.log",
        )
        for n, port in enumerate(ports, start=1)
    )
