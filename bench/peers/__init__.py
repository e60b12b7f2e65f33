"""Other GitOps tools the benchmark runs beside sluice, on the same workload, in the same run.

``--peer flux`` runs Flux's own source-controller and kustomize-controller
(``bench.peers.fluxstack``), built from their Go modules by
``hack/tools.sh build_flux``.
"""

from __future__ import annotations

__all__ = ["PEERS"]

PEERS = ("flux",)
