"""The stored Clusters as ``sluice cluster list`` and ``remove`` see them: from the store alone.

A row per Cluster: the server of its kubeconfig, the version ``cluster add``
found, and how many fanned-out objects (``KindFacts.fans_out``) are Ready on
it by their last run there. Removing a Cluster deletes its kubeconfig Secret
unless another Cluster uses it too, and names the objects whose spec targets
it: they cannot reach it any more, and nothing prunes what they applied there.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from shared.cli.columns import age
from shared.cli.output import Output
from shared.keys import ObjectKey
from shared.plugins import load_services
from shared.store import Store

__all__ = ["ClusterNotFound", "cluster_rows", "remove_cluster"]

SECRET_KEY = "value"


class ClusterNotFound(Exception):
    """No Cluster of that name in that namespace."""


@dataclass(frozen=True)
class _OnCluster:
    """How many fanned-out objects ran on a cluster, and the first failure among them."""

    ran: int = 0
    ready: int = 0
    failure: str = ""


def _fanned_out_kinds() -> list[str]:
    return [f.kind for s in load_services() for f in s.kinds if f.fans_out]


def _on_clusters(store: Store, namespace: str) -> dict[str, _OnCluster]:
    """Per cluster name: the last run of each fanned-out object of ``namespace`` there."""
    found: dict[str, _OnCluster] = {}
    for kind in _fanned_out_kinds():
        for doc in store.list(kind, namespace):
            for entry in (doc.get("status") or {}).get("clusters") or []:
                cond: dict[str, Any] = next(iter(entry.get("conditions") or []), {})
                seen = found.get(str(entry.get("name")), _OnCluster())
                ok = cond.get("status") == "True"
                failure = seen.failure
                if not ok and not failure:
                    failure = f"{kind}/{doc['metadata']['name']}: {cond.get('message', '')}"
                found[str(entry.get("name"))] = _OnCluster(seen.ran + 1, seen.ready + ok, failure)
    return found


def _server(store: Store, cluster: dict[str, Any]) -> str:
    from shared.kube.flatten import kubeconfig_server, shown_server

    ref = ((cluster.get("spec") or {}).get("kubeConfig") or {}).get("secretRef") or {}
    namespace = cluster["metadata"]["namespace"]
    secret = store.get(ObjectKey("Secret", namespace, str(ref.get("name", ""))))
    value = ((secret or {}).get("data") or {}).get(str(ref.get("key") or SECRET_KEY))
    if value is None:
        return "<kubeconfig Secret missing>"
    text = base64.b64decode(value).decode("utf-8", "replace")
    return shown_server(kubeconfig_server(text)) or "<no server>"


def cluster_rows(store: Store, namespace: str) -> list[dict[str, str]]:
    """One row per stored Cluster of ``namespace``, from the store alone."""
    ran = _on_clusters(store, namespace)
    rows = []
    for doc in store.list("Cluster", namespace):
        name = str(doc["metadata"]["name"])
        status = doc.get("status") or {}
        labels = doc["metadata"].get("labels") or {}
        here = ran.get(name, _OnCluster())
        rows.append(
            {
                "name": name,
                "server": _server(store, doc),
                "version": str(status.get("kubernetesVersion") or ""),
                "checked": age(status.get("checkedAt")),
                "labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>",
                "ready": f"{here.ready}/{here.ran}" if here.ran else "-",
                "message": here.failure,
            }
        )
    return rows


@dataclass(frozen=True)
class _Targeting:
    """An object whose spec picks a Cluster, and the field by which it does."""

    key: ObjectKey
    field: str


def _targeting(store: Store, cluster: dict[str, Any]) -> list[_Targeting]:
    """Fanned-out objects of the Cluster's namespace that target it by their spec."""
    from shared.api import Cluster, parse_as, parse_object
    from shared.api.errors import InvalidObjects
    from shared.fleet.targets import select_targets

    namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    clusters = []
    for doc in store.list("Cluster", namespace):
        try:
            clusters.append(parse_as(doc, Cluster))
        except InvalidObjects:
            continue  # not a usable target for anyone anyway
    found = []
    for kind in _fanned_out_kinds():
        for doc in store.list(kind, namespace):
            try:
                spec = getattr(parse_object(doc), "spec", None)
                targets = select_targets(spec, clusters).targets if spec is not None else ()
            except (InvalidObjects, ValueError):
                continue
            if any(t.name == name for t in targets):
                raw = doc.get("spec") or {}
                field = next((f for f in ("clusters", "clusterSelector") if f in raw), "default")
                found.append(_Targeting(ObjectKey.of(doc), field))
    return found


def remove_cluster(store: Store, *, name: str, namespace: str, out: Output) -> None:
    """Delete the Cluster and its kubeconfig Secret (unless another Cluster uses it)."""
    key = ObjectKey("Cluster", namespace, name)
    doc = store.get(key)
    if doc is None:
        raise ClusterNotFound(f'Cluster "{name}" not found in namespace "{namespace}"')
    targeting = _targeting(store, doc)
    ref = ((doc.get("spec") or {}).get("kubeConfig") or {}).get("secretRef") or {}
    secret = str(ref.get("name") or "")
    shared_by = [
        c["metadata"]["name"]
        for c in store.list("Cluster", namespace)
        if c["metadata"]["name"] != name
        and ((c.get("spec") or {}).get("kubeConfig") or {}).get("secretRef", {}).get("name")
        == secret
    ]
    store.delete(key)
    out.line(f"cluster.fleet.sluice.dev/{name} deleted")
    if secret and not shared_by:
        if store.delete(ObjectKey("Secret", namespace, secret)):
            out.line(f"secret/{secret} deleted")
    elif secret:
        out.line(f"secret/{secret} kept: Cluster {', '.join(shared_by)} uses it too")
    for t in targeting:
        how = {
            "clusters": "names it in spec.clusters and will report it not found",
            "clusterSelector": "selected it by spec.clusterSelector and no longer applies to it",
            "default": "applied to it as the default cluster and will report it not found",
        }[t.field]
        out.error(
            f"warning: {t.key.kind} {t.key.namespace}/{t.key.name} {how}; "
            "what it applied there stays on the cluster"
        )
