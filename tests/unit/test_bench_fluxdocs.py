"""Flux's Kustomization in the bench asks for the same work as sluice's, on one target cluster."""

from __future__ import annotations

import pytest

from bench.manifests import kustomization
from bench.peers import fluxdocs


@pytest.mark.parametrize(
    ("name", "prefix", "cluster"),
    [("k000", "k000-", 1), ("fan10-c7", "fan10-", 7), ("hook", None, 1)],
)
def test_flux_kustomization_matches_sluice_but_for_how_the_cluster_is_chosen(
    name: str, prefix: str | None, cluster: int
) -> None:
    ours = kustomization(name, source="src", interval="30m", name_prefix=prefix)
    theirs = fluxdocs.kustomization(
        name, source="src", interval="30m", cluster=cluster, name_prefix=prefix
    )

    assert theirs["spec"].pop("kubeConfig") == {"secretRef": {"name": f"c{cluster}-kubeconfig"}}
    ours["spec"].pop("clusterSelector")
    assert theirs == ours
