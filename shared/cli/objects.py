"""``sluice apply``, ``get`` and ``delete``: objects in sluice's store, kubectl-style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shared.api import InvalidObjects, KindInfo, load_file, object_files, resolve_kind
from shared.cli.columns import columns_for, rows_for
from shared.cli.context import RedisUrl, open_store
from shared.cli.output import Output, output
from shared.keys import ObjectKey
from shared.secrets import SecretKeyError, redact
from shared.store import Store, StoreError

__all__ = ["apply_files", "register"]


def _kind_or_exit(name: str, out: Output) -> KindInfo:
    try:
        return resolve_kind(name)
    except ValueError as exc:
        out.error(f"error: {exc}")
        raise typer.Exit(1) from exc


def _resource_name(info: KindInfo) -> str:
    return f"{info.singular}.{info.group}" if info.group else info.singular


def apply_files(store: Store, path: Path, out: Output) -> int:
    """Store each file's objects all-or-nothing; return the number of files refused."""
    files = object_files(path) if path.is_dir() else [path]
    if not files:
        out.error(f"error: {path}: no *.yaml, *.yml or *.json files found")
        return 1
    refused = 0
    for file in files:
        try:
            docs = load_file(file)
            results = store.apply_all(docs)
        except InvalidObjects as exc:
            refused += 1
            out.error(f"error: {file}: {len(exc.errors)} invalid, nothing from this file stored")
            for err in exc.errors:
                out.error(f"  {err}")
            continue
        except (StoreError, SecretKeyError) as exc:
            refused += 1
            out.error(f"error: {file}: {exc}; nothing from this file stored")
            continue
        for result, doc in results:
            info = resolve_kind(doc["kind"])
            out.line(f"{_resource_name(info)}/{doc['metadata']['name']} {result}")
    return refused


def _listing(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": docs}


def _get(
    kind: str,
    name: str | None,
    namespace: str,
    all_namespaces: bool,
    fmt: str,
    redis_url: str | None,
) -> None:
    out = output()
    info = _kind_or_exit(kind, out)
    if fmt not in ("table", "yaml", "json"):
        out.error(f"error: -o {fmt}: expected table, yaml or json")
        raise typer.Exit(2)
    store = open_store(redis_url)
    if name:
        doc = store.get(ObjectKey(info.kind, namespace, name))
        if doc is None:
            out.error(f'error: {info.kind} "{name}" not found in namespace "{namespace}"')
            raise typer.Exit(1)
        docs = [doc]
    else:
        docs = store.list(info.kind, None if all_namespaces else namespace)
    docs = [redact(d) for d in docs]
    if fmt != "table":
        out.data(docs[0] if name else _listing(docs), fmt)
        return
    if not docs:
        where = "any namespace" if all_namespaces else f'namespace "{namespace}"'
        out.error(f"no {info.plural} found in {where}")
        return
    all_ns = all_namespaces and not name
    out.table(
        columns_for(info.kind, all_namespaces=all_ns),
        rows_for(info.kind, docs, all_namespaces=all_ns),
    )


def register(app: typer.Typer) -> None:
    """Add apply, get and delete to the CLI."""

    @app.command()
    def apply(
        filename: Path = typer.Option(
            ..., "-f", "--filename", help="File or directory (recursive)."
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
            ..., help="Kind, plural or short name (gitrepo, ks, cluster, ...)."
        ),
        name: str | None = typer.Argument(None),
        namespace: str = typer.Option("default", "-n", "--namespace"),
        all_namespaces: bool = typer.Option(False, "-A", "--all-namespaces"),
        fmt: str = typer.Option("table", "-o", "--output", help="table, yaml or json."),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """List objects of a kind, or show one."""
        _get(kind, name, namespace, all_namespaces, fmt, redis_url)

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
        if not open_store(redis_url).delete(ObjectKey(info.kind, namespace, name)):
            out.error(f'error: {info.kind} "{name}" not found in namespace "{namespace}"')
            raise typer.Exit(1)
        out.line(f'{_resource_name(info)} "{name}" deleted')
