"""The charts Flux's example fleet repository installs, served on loopback as upstream serves them.

tests/data/flux2-kustomize-helm-example names three charts on the internet:
podinfo in the Helm repository https://stefanprodan.github.io/podinfo, and
cert-manager and Envoy Gateway's gateway-helm in OCI registries (quay.io,
docker.io). tests/data/charts holds those charts, packaged from their
projects' sources (see VENDORED.md there). ``serve_example_charts`` publishes
them the same way on this machine, for as long as its ``with`` block lasts:
podinfo in a ``HelmRepoServer`` of its own (an ``index.yaml`` beside the
``.tgz``), the other two pushed with ``helm push`` to the given
``OciRegistry`` under the same repository paths. ``ServedCharts.rewrite``
is then the one place a test moves the example's URLs to those servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helmcharts import HelmCli
from tests.servers.helmrepo import HelmRepoServer
from tests.servers.registry import OciRegistry

__all__ = [
    "CERT_MANAGER",
    "CHARTS",
    "EXAMPLE_CHARTS",
    "GATEWAY_HELM",
    "PODINFO",
    "ExampleChart",
    "ServedCharts",
    "serve_example_charts",
]

CHARTS = Path(__file__).parents[1] / "data" / "charts"


@dataclass(frozen=True)
class ExampleChart:
    """One chart of the example: its name, the version served, where the example finds it."""

    name: str
    version: str
    # The HelmRepository URL, or the OCIRepository URL (chart name included), as written.
    upstream: str

    @property
    def package(self) -> Path:
        """The vendored ``helm package`` output."""
        return CHARTS / f"{self.name}-{self.version}.tgz"

    @property
    def oci(self) -> bool:
        return self.upstream.startswith("oci://")


# The newest version the Go module proxy serves of each project, which each
# of the example's version ranges takes: podinfo ">=1.0.0-alpha", cert-manager
# "1.x", gateway-helm ">= 1.8.0-rc.0".
PODINFO = ExampleChart("podinfo", "6.9.2", "https://stefanprodan.github.io/podinfo")
CERT_MANAGER = ExampleChart("cert-manager", "v1.21.2", "oci://quay.io/jetstack/charts/cert-manager")
GATEWAY_HELM = ExampleChart("gateway-helm", "1.9.1", "oci://docker.io/envoyproxy/gateway-helm")
EXAMPLE_CHARTS = (PODINFO, CERT_MANAGER, GATEWAY_HELM)


@dataclass(frozen=True)
class ServedCharts:
    """Where each chart of the example is served here, by its upstream URL."""

    urls: dict[str, str]

    def rewrite(self, text: str) -> str:
        """``text`` with every upstream chart URL replaced by its local one."""
        for upstream, local in self.urls.items():
            text = text.replace(upstream, local)
        return text


@contextmanager
def serve_example_charts(workdir: Path, registry: OciRegistry) -> Iterator[ServedCharts]:
    """Serve the example's charts: podinfo from a Helm repository under ``workdir``, the OCI ones
    from ``registry``; the Helm repository stops on leaving."""
    helm_repo = HelmRepoServer(workdir / "helm-repository")
    helm_repo.start()
    try:
        yield _publish(helm_repo, registry, workdir)
    finally:
        helm_repo.stop()


def _publish(helm_repo: HelmRepoServer, registry: OciRegistry, workdir: Path) -> ServedCharts:
    urls = {}
    for chart in EXAMPLE_CHARTS:
        if chart.oci:
            # The same repository path on the local registry: quay.io/jetstack/charts/cert-manager
            # becomes 127.0.0.1:PORT/jetstack/charts/cert-manager.
            path = chart.upstream.removeprefix("oci://").split("/", 1)[1]
            local = f"oci://{registry.host}/{path}"
            _helm_push(chart.package, to=local.removesuffix(f"/{chart.name}"), workdir=workdir)
        else:
            helm_repo.add_package(chart.package)
            local = helm_repo.url
        urls[chart.upstream] = local
    return ServedCharts(urls)


def _helm_push(package: Path, *, to: str, workdir: Path) -> None:
    helm = HelmCli(None, workdir / "helm-push-home", timeout=120)
    pushed = helm.run("push", str(package), to, "--plain-http")
    if pushed.returncode != 0:
        raise RuntimeError(f"helm push {package.name} to {to}: {pushed.stderr}")
