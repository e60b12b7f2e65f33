"""HelmRepository and HelmChart: Helm indexes, chart builds with the pinned helm."""
