"""``sluice cluster add|list|remove``: target clusters, as ``argocd cluster add``.

``add`` reads the user's kubeconfig file, flattens the chosen context into one
self-contained kubeconfig (``shared.kube.flatten``), checks that the cluster
answers (``GET /version``), then stores the kubeconfig Secret
(``<NAME>-kubeconfig``, key ``value``) and the Cluster with its labels in one
transaction, so a cluster that does not answer leaves nothing behind. The
version found is kept in the Cluster's status with the time of the check.
Adding again replaces the kubeconfig and the labels.

``list`` and ``remove`` read the store only (``clusterstore.py``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shared.cli.clusterstore import SECRET_KEY, ClusterNotFound, cluster_rows, remove_cluster
from shared.cli.context import RedisUrl, cli_settings
from shared.cli.output import Output, output
from shared.keys import ObjectKey
from shared.logs import redact
from shared.store import Store

if TYPE_CHECKING:
    from shared.kube.flatten import FlatKubeconfig

__all__ = ["add_cluster", "cluster_app", "register", "secret_name"]

NAMESPACE = "flux-system"

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
    try:
        remove_cluster(store, name=name, namespace=namespace, out=out)
    except ClusterNotFound as exc:
        raise _fail(out, str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add the ``cluster`` group to the CLI."""
    app.add_typer(cluster_app, name="cluster")
