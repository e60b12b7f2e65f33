"""``sluice apply``, ``get`` and ``delete``: objects in sluice's store, kubectl-style.

``get`` also takes flux's spellings: ``get sources git`` and ``get ks --clusters``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from shared.api.kinds import KindInfo, lookup_kind, resolve_kind
from shared.cli.columns import cluster_columns, cluster_rows, columns_for, rows_for
from shared.cli.context import RedisUrl, cli_scope, listed_scopes, open_store, selected_scope
from shared.cli.output import Output, output
from shared.keys import ObjectKey
from shared.plugins import kind_facts, load_services
from shared.secrets import SecretKeyError, redact
from shared.store import Store, StoreError
from shared.store.limits import MAX_FILE_BYTES, file_too_big

__all__ = [
    "FLEET_LABEL",
    "FLUX_NAMESPACE",
    "apply_files",
    "kinds_and_name",
    "register",
    "scope_label",
]

FLUX_NAMESPACE = "flux-system"
STDIN = "<stdin>"
FLEET_LABEL = "*"  # the fleet-wide scope in a CLUSTER column
# flux's kind groups (`flux get sources git`, `flux get images policy`): the
# served kinds of a group are those a service declares as `<group> <word>`.
_FLUX_GROUPS = {"source": "source", "sources": "source", "image": "image", "images": "image"}
# flux's words for kinds of a group that sluice does not serve (yet).
_FLUX_WORDS = {"source": ("git", "oci", "helm", "chart", "bucket"), "image": ()}


def _kind_or_exit(name: str, out: Output) -> KindInfo:
    try:
        return resolve_kind(name)
    except ValueError as exc:
        out.error(f"error: {exc}")
        raise typer.Exit(1) from exc


def _group_kinds(group: str) -> dict[str, KindInfo]:
    """The served kinds of a flux group by flux's word: ``git`` -> GitRepository."""
    found = {}
    for service in load_services():
        for facts in service.kinds:
            info = lookup_kind(facts.kind)
            if facts.command[:1] == (group,) and len(facts.command) == 2 and info is not None:
                found[facts.command[1]] = info
    return found


def kinds_and_name(words: list[str]) -> tuple[list[KindInfo], str | None]:
    """``[ks, app]`` or flux's ``[sources, git|all, app]``, ``[images, policy|all, app]``
    as kinds and an optional name."""
    if words and words[0] in _FLUX_GROUPS:
        group = _FLUX_GROUPS[words[0]]
        served = _group_kinds(group)
        expected = ", ".join([*served, "all"])
        if len(words) < 2:
            raise ValueError(f"{words[0]}: expected one of {expected}")
        if words[1] == "all":
            kinds = list(served.values())
        elif words[1] in served:
            kinds = [served[words[1]]]
        elif words[1] in _FLUX_WORDS[group]:
            raise ValueError(f"flux's `{group} {words[1]}` is not served by sluice yet")
        else:
            raise ValueError(f'unknown {group} kind "{words[1]}": expected {expected}')
        rest = words[2:]
    else:
        kinds, rest = [resolve_kind(words[0])], words[1:]
    if len(rest) > 1:
        raise ValueError(f"expected at most one name, got {' '.join(rest)}")
    return kinds, (rest[0] if rest else None)


def _resource_name(info: KindInfo) -> str:
    return f"{info.singular}.{info.group}" if info.group else info.singular


def _stdin_documents() -> list[dict[str, Any]]:
    """The objects of standard input (``-f -``), read up to the size of one file."""
    from shared.api.errors import FieldError, InvalidObjects
    from shared.api.validation import load_text

    data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    problem = file_too_big(len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problem = problem or "not UTF-8 text"
    if problem:
        raise InvalidObjects([FieldError(STDIN, None, None, "", problem)])
    return load_text(text, source=STDIN)


def _without_stored_sources(
    store: Store, docs: list[dict[str, Any]], name: str
) -> list[dict[str, Any]]:
    """The chart sources made from Flux v1 HelmReleases that the store already has, left out."""
    from shared.api.errors import InvalidObjects
    from shared.api.legacy import keep_stored_sources

    scope = cli_scope()
    kept, errors = keep_stored_sources(
        docs, stored=lambda key: store.get(key.in_scope(scope)), owner=None, source=name
    )
    if errors:
        raise InvalidObjects(errors)
    return kept


def apply_files(store: Store, path: Path, out: Output) -> int:
    """Store each file's objects all-or-nothing; return the number of files refused.

    ``-`` reads standard input, as ``kubectl apply -f -``.
    """
    # Here, not at the top: validation builds pydantic models, which `get` never needs.
    from shared.api.errors import InvalidObjects
    from shared.api.validation import load_file, object_files

    stdin = str(path) == "-"
    files = [path] if stdin else object_files(path) if path.is_dir() else [path]
    if not files:
        out.error(f"error: {path}: no *.yaml, *.yml or *.json files found")
        return 1
    refused = 0
    for file in files:
        name = STDIN if stdin else str(file)
        problem = file_too_big(file.stat().st_size) if not stdin and file.is_file() else None
        if problem:
            refused += 1
            out.error(f"error: {name}: {problem}; nothing from this file stored")
            continue
        try:
            docs = _stdin_documents() if stdin else load_file(file)
            docs = _without_stored_sources(store, docs, name)
            results = store.apply_all(docs, scope=cli_scope())
        except InvalidObjects as exc:
            refused += 1
            out.error(f"error: {name}: {len(exc.errors)} invalid, nothing from this file stored")
            for err in exc.errors:
                out.error(f"  {err}")
            continue
        except (StoreError, SecretKeyError) as exc:
            refused += 1
            out.error(f"error: {name}: {exc}; nothing from this file stored")
            continue
        for result, doc in results:
            info = resolve_kind(doc["kind"])
            out.line(f"{_resource_name(info)}/{doc['metadata']['name']} {result}")
    return refused


def _listing(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": docs}


def _get(
    words: list[str],
    namespace: str | None,
    all_namespaces: bool,
    fmt: str,
    redis_url: str | None,
    *,
    clusters: bool = False,
) -> None:
    out = output()
    try:
        kinds, name = kinds_and_name(words)
    except ValueError as exc:
        out.error(f"error: {exc}")
        raise typer.Exit(1) from exc
    if fmt not in ("table", "yaml", "json"):
        out.error(f"error: -o {fmt}: expected table, yaml or json")
        raise typer.Exit(2)
    if clusters and not all((f := kind_facts(i.kind)) and f.fans_out for i in kinds):
        fanning = [f.kind for s in load_services() for f in s.kinds if f.fans_out]
        out.error(f"error: --clusters: only {', '.join(fanning)} keep per-cluster status")
        raise typer.Exit(2)
    if namespace is None:
        # `get sources|images ...` and --clusters are flux's spellings: flux's default
        # namespace.
        flux_style = words[0] in _FLUX_GROUPS or clusters
        namespace = FLUX_NAMESPACE if flux_style else "default"
    store = open_store(redis_url)
    for info in kinds:
        _get_kind(store, info, name, namespace, all_namespaces, fmt, clusters=clusters)


def _get_kind(
    store: Store,
    info: KindInfo,
    name: str | None,
    namespace: str,
    all_namespaces: bool,
    fmt: str,
    *,
    clusters: bool,
) -> None:
    out = output()
    found: list[tuple[str, dict[str, Any]]] = []
    for scope in listed_scopes(store):
        if name:
            doc = store.get(ObjectKey(info.kind, namespace, name, scope))
            found += [(scope, doc)] if doc is not None else []
        else:
            listed = store.list(info.kind, None if all_namespaces else namespace, scope=scope)
            found += [(scope, d) for d in listed]
    if name and not found:
        out.error(f'error: {info.kind} "{name}" not found in namespace "{namespace}"{_in()}')
        raise typer.Exit(1)
    docs = [redact(d) for _, d in found]
    if fmt != "table":
        out.data(docs[0] if name and len(docs) == 1 else _listing(docs), fmt)
        return
    if not docs:
        where = "any namespace" if all_namespaces else f'namespace "{namespace}"'
        out.error(f"no {info.plural} found in {where}{_in()}")
        return
    all_ns = all_namespaces and not name
    if clusters:
        columns = cluster_columns(all_namespaces=all_ns)
    else:
        columns = columns_for(info.kind, all_namespaces=all_ns)
    every_scope = selected_scope().all_clusters
    rows = []
    for scope, doc in found:
        if clusters:
            mine = cluster_rows([doc], all_namespaces=all_ns)
        else:
            mine = rows_for(info.kind, [doc], all_namespaces=all_ns)
        rows += [[scope_label(scope), *row] if every_scope else row for row in mine]
    out.table(["CLUSTER", *columns] if every_scope else columns, rows)


def scope_label(scope: str) -> str:
    """How a listing names a scope in its CLUSTER column."""
    return scope or FLEET_LABEL


def _in() -> str:
    """`` in cluster "staging"`` when a scope is selected: where a lookup looked."""
    scope = cli_scope()
    return f' in cluster "{scope}"' if scope and not selected_scope().all_clusters else ""


def register(app: typer.Typer) -> None:
    """Add apply, get and delete to the CLI."""

    @app.command()
    def apply(
        filename: Path = typer.Option(
            ..., "-f", "--filename", help="File, directory (recursive), or - for standard input."
        ),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Validate objects from files and store them (created / configured / unchanged)."""
        refused = apply_files(open_store(redis_url), filename, output())
        if refused:
            raise typer.Exit(1)

    @app.command()
    def get(
        kind: str = typer.Argument(
            ...,
            help="Kind, plural or short name (gitrepo, ks, cluster, ...), or flux's sources "
            "or images.",
        ),
        names: list[str] | None = typer.Argument(
            None,
            help="NAME; after `sources`: git|all [NAME]; after `images`: "
            "repository|policy|update|all [NAME], as flux.",
        ),
        namespace: str | None = typer.Option(
            None,
            "-n",
            "--namespace",
            help="Default: flux-system for `get sources|images` and --clusters (as flux), "
            "else default.",
        ),
        all_namespaces: bool = typer.Option(False, "-A", "--all-namespaces"),
        fmt: str = typer.Option("table", "-o", "--output", help="table, yaml or json."),
        clusters: bool = typer.Option(
            False, "--clusters", help="Kustomizations, HelmReleases: one row per target cluster."
        ),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """List objects of a kind, or show one."""
        _get([kind, *(names or [])], namespace, all_namespaces, fmt, redis_url, clusters=clusters)

    @app.command()
    def delete(
        kind: str = typer.Argument(...),
        name: str = typer.Argument(...),
        namespace: str = typer.Option("default", "-n", "--namespace"),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Delete one object from the store."""
        out = output()
        info = _kind_or_exit(kind, out)
        if not open_store(redis_url).delete(ObjectKey(info.kind, namespace, name, cli_scope())):
            out.error(f'error: {info.kind} "{name}" not found in namespace "{namespace}"{_in()}')
            raise typer.Exit(1)
        out.line(f'{_resource_name(info)} "{name}" deleted')
