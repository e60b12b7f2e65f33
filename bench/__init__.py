"""sluice's benchmarks: whole installations on loopback, measured; run with ``make bench``.

Each scenario in ``bench.scenarios`` starts its own redis-server, sandbox
kube-apiservers, workers (the source worker serving the artifacts), scheduler
and Git repository (``bench.stack``), measures one thing, and stops everything
again, also when it fails. ``bench.run`` prints the table and writes ``bench/results/latest.json``.
"""

__all__: list[str] = []
