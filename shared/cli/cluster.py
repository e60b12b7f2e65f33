"""``sluice cluster add|list|remove``: target clusters, as ``argocd cluster add``.

``add`` reads the user's kubeconfig file, flattens the chosen context into one
self-contained kubeconfig (``shared.kube.flatten``), checks that the cluster
answers (``GET /version``), then stores the kubeconfig Secret
(``<NAME>-kubeconfig``, key ``value``) and the Cluster with its labels in one
transaction, so a cluster that does not answer leaves nothing behind. The
version found is kept in the Cluster's status with the time of the check.
Adding again replaces the kubeconfig and the labels.

``list`` shows what is stored (server, labels, the version found by ``add``)
and, per cluster, how many fanned-out objects are Ready there by their last
run; nothing is contacted. ``remove`` deletes the Cluster and its kubeconfig
Secret, and warns about the objects that target it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shared.cli.columns import age
from shared.cli.context import RedisUrl, cli_settings
from shared.cli.output import Output, output
from shared.keys import ObjectKey
from shared.logs import redact
from shared.plugins import load_services
from shared.store import Store

if TYPE_CHECKING:
    from shared.kube.flatten import FlatKubeconfig

__all__ = ["cluster_app", "register"]

NAMESPACE = "flux-system"
SECRET_KEY = "value"

cluster_app = typer.Typer(
    help="Target clusters: add one from a kubeconfig file, list them, remove one.",
    no_args_is_help=True,
)


def secret_name(cluster: str) -> str:
    """The kubeconfig Secret ``cluster add`` stores for a Cluster."""
    return f"{cluster}-kubeconfig"


def _fail(out: Output, message: str) -> typer.Exit:
    out.error(f"error: {message}")
    return typer.Exit(1)


def _labels(pairs: list[str], out: Output) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _fail(out, f"--label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def _documents(
    name: str, namespace: str, labels: dict[str, str], kubeconfig: str
) -> list[dict[str, Any]]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(name), "namespace": namespace},
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(kubeconfig.encode()).decode()},
    }
    cluster = {
        "apiVersion": "fleet.sluice.dev/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"kubeConfig": {"secretRef": {"name": secret_name(name)}}},
    }
    return [secret, cluster]


def _check_documents(name: str, docs: list[dict[str, Any]], out: Output) -> None:
    """Refuse a bad name or label before the cluster is contacted (as ``sluice apply`` would)."""
    from shared.api.validation import validate

    errors = [e for d in docs for e in validate(d, source="sluice cluster add")]
    if errors:
        out.error(f"error: cluster {name}: not a valid Cluster; nothing stored")
        for err in errors:
            out.error(f"  {err}")
        raise typer.Exit(1)


def _kubernetes_version(flat: FlatKubeconfig, *, allow_http: bool, timeout: float) -> str:
    """``GET /version`` through the client a worker would build; KubeError when it fails."""
    from shared.kube.kubeconfig import client_from_dict

    client = client_from_dict(flat.document, allow_http=allow_http, timeout=timeout)
    try:
        answer = client.request("GET", "/version")
    finally:
        client.close()
    return str(answer.get("gitVersion") or "unknown version")


def _check_failed(name: str, flat: FlatKubeconfig, exc: Exception) -> str:
    """What to say when the cluster's check failed; never a credential."""
    from shared.kube.errors import ApiError, UnreachableError
    from shared.kube.flatten import shown_server

    server = shown_server(flat.server)
    # redact: an error may quote the server URL, and it may carry a password.
    problem = redact(str(exc).removeprefix(f"{flat.server.rstrip('/')}: "))
    if isinstance(exc, UnreachableError):
        return f"cluster {name}: {server} did not answer: {problem}"
    if isinstance(exc, ApiError):
        return f"cluster {name}: {server} refused GET /version: {problem}"
    return f"cluster {name}: {problem}"


def add_cluster(
    store: Store,
    *,
    name: str,
    kubeconfig: Path,
    context: str | None,
    labels: dict[str, str],
    namespace: str,
    allow_http: bool,
    timeout: float,
    out: Output,
) -> None:
    """Flatten, check, then store the Secret and the Cluster together; Exit(1) on failure."""
    from shared.kube.errors import KubeconfigError, KubeError
    from shared.kube.flatten import flatten_kubeconfig, shown_server

    _check_documents(name, _documents(name, namespace, labels, ""), out)
    try:
        flat = flatten_kubeconfig(kubeconfig, name=name, context=context, allow_http=allow_http)
    except KubeconfigError as exc:
        raise _fail(out, f"{exc}; nothing stored") from None
    try:
        version = _kubernetes_version(flat, allow_http=allow_http, timeout=timeout)
    except KubeError as exc:
        raise _fail(out, f"{_check_failed(name, flat, exc)}; nothing stored") from None
    out.line(f"✔ cluster {name}: {shown_server(flat.server)} (Kubernetes {version})")
    results = store.apply_all(_documents(name, namespace, labels, flat.text))
    checked = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    store.update_status(
        ObjectKey("Cluster", namespace, name),
        {"kubernetesVersion": version, "checkedAt": checked},
    )
    for result, doc in results:
        kind = "cluster.fleet.sluice.dev" if doc["kind"] == "Cluster" else "secret"
        out.line(f"{kind}/{doc['metadata']['name']} {result}")


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
        raise _fail(out, f'Cluster "{name}" not found in namespace "{namespace}"')
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


_NAMESPACE = typer.Option(NAMESPACE, "-n", "--namespace", help="Namespace of the Cluster.")


@cluster_app.command("add")
def add(
    name: str = typer.Argument(..., help="The Cluster's name, as Kustomizations name it."),
    kubeconfig: Path = typer.Option(..., "--kubeconfig", help="The kubeconfig file to read."),
    context: str | None = typer.Option(
        None, "--context", help="The context to use (default: the file's current-context)."
    ),
    label: list[str] | None = typer.Option(
        None, "--label", "-l", help="KEY=VALUE, for spec.clusterSelector; repeat for more."
    ),
    namespace: str = _NAMESPACE,
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the cluster."),
    redis_url: str | None = RedisUrl,
) -> None:
    """Check that a cluster answers, then store its kubeconfig Secret and the Cluster."""
    out = output()
    settings = cli_settings(redis_url)
    add_cluster(
        Store.from_settings(settings),
        name=name,
        kubeconfig=kubeconfig,
        context=context,
        labels=_labels(label or [], out),
        namespace=namespace,
        allow_http=settings.allow_http_clusters,
        timeout=timeout,
        out=out,
    )


@cluster_app.command("list")
def list_clusters(
    namespace: str = _NAMESPACE,
    fmt: str = typer.Option("table", "-o", "--output", help="table, yaml or json."),
    redis_url: str | None = RedisUrl,
) -> None:
    """The stored Clusters; READY counts the objects Ready there by their last run."""
    out = output()
    if fmt not in ("table", "yaml", "json"):
        raise _fail(out, f"-o {fmt}: expected table, yaml or json")
    rows = cluster_rows(Store.from_settings(cli_settings(redis_url)), namespace)
    if fmt != "table":
        out.data({"clusters": rows}, fmt)
        return
    if not rows:
        out.error(f'no clusters found in namespace "{namespace}"')
        return
    columns = ("NAME", "SERVER", "VERSION", "CHECKED", "LABELS", "READY", "MESSAGE")
    out.table(columns, [[r[c.lower()] for c in columns] for r in rows])


@cluster_app.command("remove")
def remove(
    name: str = typer.Argument(...),
    namespace: str = _NAMESPACE,
    redis_url: str | None = RedisUrl,
) -> None:
    """Delete a Cluster and its kubeconfig Secret; warn about what targets it."""
    out = output()
    store = Store.from_settings(cli_settings(redis_url))
    remove_cluster(store, name=name, namespace=namespace, out=out)


def register(app: typer.Typer) -> None:
    """Add the ``cluster`` group to the CLI."""
    app.add_typer(cluster_app, name="cluster")
