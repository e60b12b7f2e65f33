"""One object to many clusters: targets, connection, per-cluster state, summary, and
the per-cluster task skeleton a service supplies its act step to.

Built on ``shared.kube`` (one cluster); never imports a service.
"""
