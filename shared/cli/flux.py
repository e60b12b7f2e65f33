"""Flux-style commands: ``reconcile``, ``suspend``, ``resume``, ``tree`` and ``export``.

They speak the flux CLI's words (``reconcile ks app``, ``resume source git app``),
default to the ``flux-system`` namespace and print flux's progress lines on
stderr. A reconcile is asked for twice over: the ``reconcile.fluxcd.io/requestedAt``
annotation (what a Flux user looks for, and what the scheduler's watcher sees) and a
direct request to the kind's reconcile task, so it runs even with no scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import typer
from rich.tree import Tree

from shared import yaml
from shared.api.conditions import FALSE, READY, TRUE, get_condition
from shared.api.durations import format_duration, parse_duration
from shared.celeryapp import create_app
from shared.cli.context import RedisUrl, cli_scope, cli_settings, scoped
from shared.cli.objects import FLUX_NAMESPACE, kinds_and_name
from shared.cli.output import Output, output
from shared.keys import ObjectKey
from shared.lease import request_reconcile
from shared.plugins import KindFacts, kind_facts, load_services
from shared.redisconn import connect
from shared.runtime import reconcile_task
from shared.scopes import resolve
from shared.secrets import LAST_APPLIED_ANNOTATION, redact
from shared.settings import Settings
from shared.store import Conflict, Store, StoreError
from shared.store.documents import BOOKKEEPING
from shared.worker import REQUESTED_AT

__all__ = [
    "Namespace",
    "Session",
    "TreeNode",
    "export_document",
    "flux_group",
    "inventory_ref",
    "on_kind",
    "print_tree",
    "reconcile_object",
    "register",
    "request_token",
    "settled",
    "source_ref",
]

Namespace = typer.Option(FLUX_NAMESPACE, "-n", "--namespace", help="Namespace of the object.")
# One-shot tokens of `flux reconcile hr --force/--reset` are runtime too.
_RUNTIME_ANNOTATIONS = frozenset(
    {
        REQUESTED_AT,
        LAST_APPLIED_ANNOTATION,
        "reconcile.fluxcd.io/forceAt",
        "reconcile.fluxcd.io/resetAt",
    }
)
_ATTEMPTS = 8
_POLL = 0.5
# flux takes both `reconcile source git` and `reconcile sources git`.
_GROUP_ALIASES = {"source": ("sources",), "image": ("images",)}


def request_token(now_ns: int | None = None) -> str:
    """A requestedAt value: RFC 3339 in UTC with nanoseconds, as ``flux reconcile`` writes."""
    seconds, nanos = divmod(time.time_ns() if now_ns is None else now_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0").rstrip(".")
    return f"{stamp}{fraction}Z"


def settled(doc: dict[str, Any], token: str) -> dict[str, Any] | None:
    """The final Ready condition once ``token`` was handled, or None while still working."""
    status = doc.get("status") or {}
    if status.get("lastHandledReconcileAt") != token:
        return None
    ready = get_condition(status, READY)
    if ready is None or ready.get("status") not in (TRUE, FALSE):
        return None
    attempted = status.get("lastAttemptedRevision")
    # A Kustomization marks the request handled when its build starts; Ready
    # describes the previous revision until every cluster has tried the new one.
    clusters = status.get("clusters") or []
    if attempted and any(c.get("lastAttemptedRevision") != attempted for c in clusters):
        return None
    return ready


def export_document(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as a user would write it: no status or runtime metadata, Secrets redacted."""
    out = {k: v for k, v in doc.items() if k != "status"}
    meta = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in BOOKKEEPING}
    annotations = {
        k: v for k, v in (meta.pop("annotations", None) or {}).items()
        if k not in _RUNTIME_ANNOTATIONS
    }  # fmt: skip
    if annotations:
        meta["annotations"] = annotations
    meta.pop("finalizers", None)
    out["metadata"] = meta
    return redact(out)


def inventory_ref(entry_id: str) -> str:
    """``Kind/namespace/name`` (``Kind/name`` if cluster-scoped) of a Flux inventory id."""
    namespace, _, rest = entry_id.partition("_")
    head, _, kind = rest.rpartition("_")
    # Groups hold no "_" and names none either, but ":" in a name is written "__".
    name = head.rpartition("_")[0].replace("__", ":")
    if not (kind and name):
        raise ValueError(f"inventory id {entry_id!r}: expected <namespace>_<name>_<group>_<kind>")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


@dataclass
class Session:
    """What a Flux-style command works with: the store, Redis and where it prints."""

    settings: Settings
    store: Store
    client: redis.Redis
    out: Output = field(default_factory=output)

    @classmethod
    def open(cls, redis_url: str | None) -> Session:
        """A session on the Redis the command was pointed at."""
        settings = cli_settings(redis_url)
        return cls(settings, Store.from_settings(settings), connect(settings))

    def say(self, symbol: str, text: str) -> None:
        """One flux-style progress line (``►``, ``◎``, ``✔``, ``✗``) on stderr."""
        self.out.error(f"{symbol} {text}")

    def fail(self, text: str) -> typer.Exit:
        """Print ``✗ text``; the caller raises the returned exit."""
        self.say("✗", text)
        return typer.Exit(1)

    def require(self, key: ObjectKey) -> dict[str, Any]:
        """The stored object, or exit naming it."""
        doc = self.store.get(key)
        if doc is None:
            where = f" in cluster '{key.scope}'" if key.scope else ""
            raise self.fail(f"{key.kind} '{key.namespace}/{key.name}' not found{where}")
        return doc

    def modify(self, key: ObjectKey, change: Callable[[dict[str, Any]], None]) -> None:
        """Read, change and write the object back at its resourceVersion; retry on Conflict."""
        for _ in range(_ATTEMPTS):
            doc = self.require(key)
            change(doc)
            try:
                self.store.update(doc, scope=key.scope)
                return
            except Conflict:
                continue
            except StoreError as exc:
                raise self.fail(str(exc)) from exc
        raise self.fail(f"{key}: kept changing under {_ATTEMPTS} attempts; try again")

    def request(self, key: ObjectKey) -> None:
        """Queue the kind's reconcile task now (coalesced with any already queued)."""
        name = reconcile_task(key.kind)
        if name is None:
            return
        sender = create_app("cli", self.settings)
        try:
            request_reconcile(self.client, sender, key, task_name=name)
        finally:
            sender.close()

    def wait(self, key: ObjectKey, token: str, timeout: float) -> dict[str, Any]:
        """Poll until ``token`` is handled and Ready is True; exit with the reason otherwise."""
        self.say("◎", f"waiting for {key.kind} reconciliation")
        deadline = time.monotonic() + timeout
        while (ready := settled(doc := self.require(key), token)) is None:
            if time.monotonic() >= deadline:
                status = doc.get("status") or {}
                if status.get("lastHandledReconcileAt") != token:
                    why = "the request was not picked up: is its sluice worker running?"
                else:
                    why = str((get_condition(status, READY) or {}).get("message") or "no status")
                waited = format_duration(timeout)
                raise self.fail(f"{key.kind} reconciliation not finished after {waited}: {why}")
            time.sleep(_POLL)
        if ready.get("status") != TRUE:
            raise self.fail(str(ready.get("message") or ready.get("reason") or "not ready"))
        self.say("✔", f"{key.kind} reconciliation completed")
        facts = kind_facts(key.kind)
        if facts is not None and (revision := facts.revision_of(doc)):
            fetched = facts.revision in ("artifact.revision", "lastScanResult.revision")
            verb = "fetched" if fetched else "applied"
            self.say("✔", f"{verb} revision {revision}")
        return doc


def _duration(text: str, session: Session) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise session.fail(f"--timeout: {exc}") from exc


def _annotate(doc: dict[str, Any], token: str, also: tuple[str, ...] = ()) -> None:
    annotations = doc["metadata"].setdefault("annotations", {})
    for name in (REQUESTED_AT, *also):
        annotations[name] = token


def source_ref(doc: dict[str, Any], key: ObjectKey) -> ObjectKey | None:
    """The object ``spec.sourceRef`` names (its namespace defaulting to ``key``'s), or None."""
    ref = (doc.get("spec") or {}).get("sourceRef")
    if not isinstance(ref, dict):
        return None
    return ObjectKey(ref["kind"], ref.get("namespace") or key.namespace, ref["name"])


def reconcile_object(
    session: Session,
    key: ObjectKey,
    *,
    wait: bool,
    timeout: float,
    with_source: bool = False,
    source_of: Callable[[dict[str, Any], ObjectKey], ObjectKey | None] = source_ref,
    also_annotate: tuple[str, ...] = (),
) -> None:
    """``flux reconcile``: annotate, request, and wait for the outcome when asked.

    ``with_source``: the object ``source_of`` names is reconciled first (and
    its own source before it: a HelmChart's HelmRepository). ``also_annotate``:
    annotations set to the same token as requestedAt (a HelmRelease's
    ``forceAt`` and ``resetAt``, honoured only when equal to it).
    """
    doc = session.require(key)
    if (doc.get("spec") or {}).get("suspend"):
        raise session.fail(f"{key.kind} '{key.namespace}/{key.name}' is suspended: resume it first")
    named = source_of(doc, key) if with_source else None
    if named is not None:
        if reconcile_task(named.kind) is None:
            raise session.fail(f"cannot reconcile source of kind {named.kind}")
        source, _ = resolve(session.store, named, key.scope)
        reconcile_object(session, source, wait=True, timeout=timeout, with_source=True)
    session.say("►", f"annotating {key.kind} {key.name} in {key.namespace} namespace")
    token = request_token()
    session.modify(key, lambda d: _annotate(d, token, also_annotate))
    session.say("✔", f"{key.kind} annotated")
    session.request(key)
    if wait:
        session.wait(key, token, timeout)


def set_suspend(
    session: Session, key: ObjectKey, *, suspend: bool, wait: bool, timeout: float
) -> None:
    """``flux suspend`` / ``flux resume``: toggle spec.suspend; resume also reconciles."""
    verb, done = ("suspending", "suspended") if suspend else ("resuming", "resumed")
    session.say("►", f"{verb} {key.kind.lower()} {key.name} in {key.namespace} namespace")
    token = request_token()

    def change(doc: dict[str, Any]) -> None:
        doc.setdefault("spec", {})["suspend"] = suspend
        if not suspend:
            _annotate(doc, token)

    session.modify(key, change)
    session.say("✔", f"{key.kind.lower()} {done}")
    if not suspend:
        session.request(key)
        if wait:
            session.wait(key, token, timeout)


@dataclass
class TreeNode:
    """One line of ``sluice tree`` and the lines under it."""

    label: str
    children: list[TreeNode] = field(default_factory=list)


def _tree(store: Store, key: ObjectKey, *, cluster: str | None, seen: set[ObjectKey]) -> TreeNode:
    """The inventory of an object per cluster, nested objects with inventories included."""
    node = TreeNode(str(key))
    seen.add(key)
    doc = store.get(key)
    status = (doc or {}).get("status") or {}
    for owned in store.list_owned(key):
        facts = kind_facts(owned.kind)
        if facts is not None and facts.inventory and owned not in seen:
            node.children.append(_tree(store, owned, cluster=cluster, seen=seen))
        else:
            node.children.append(TreeNode(str(owned)))
    entries = status.get("clusters") or []
    if not entries and status.get("inventory"):
        entries = [{"name": "", "inventory": status["inventory"]}]
    for entry in entries:
        if cluster is not None and entry.get("name") != cluster:
            continue
        items = [
            inventory_ref(e["id"]) for e in (entry.get("inventory") or {}).get("entries") or []
        ]
        if entry.get("name"):
            node.children.append(TreeNode(f"cluster {entry['name']}", [TreeNode(i) for i in items]))
        else:
            node.children.extend(TreeNode(i) for i in items)
    return node


def _rich_tree(node: TreeNode, parent: Tree | None = None) -> Tree:
    tree = Tree(node.label) if parent is None else parent.add(node.label)
    for child in node.children:
        _rich_tree(child, tree)
    return tree


def print_tree(out: Output, node: TreeNode, depth: int = 0) -> None:
    """A rich tree on a terminal; else two spaces of indent per level, for scripts."""
    if out.is_terminal:
        out.console.print(_rich_tree(node))
        return
    out.line("  " * depth + node.label)
    for child in node.children:
        print_tree(out, child, depth + 1)


def flux_group(app: typer.Typer, verb: str, help_text: str) -> typer.Typer:
    """``sluice <verb>``, whose subcommands are flux's kind words (``kustomization``, ...).

    The group made first is shared: each service adds its kinds to the same one.
    """
    for info in app.registered_groups:
        if info.name == verb and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(group, name=verb)
    return group


def _subgroup(parent: typer.Typer, word: str) -> typer.Typer:
    """The command group ``word`` of ``parent`` (``source``), made on first use."""
    for info in parent.registered_groups:
        if info.name == word and info.typer_instance is not None:
            return info.typer_instance
    verb = str(parent.info.help or "").rstrip(".")
    group = typer.Typer(help=f"{verb} (a {word}).", no_args_is_help=True)
    parent.add_typer(group, name=word)
    for alias in _GROUP_ALIASES.get(word, ()):
        parent.add_typer(group, name=alias, hidden=True)
    return group


def on_kind(group: typer.Typer, kind: str, *, command: Callable[..., None], help_text: str) -> None:
    """Add ``command`` under ``kind``'s flux words (``ks``, ``source git``) in ``group``."""
    facts = kind_facts(kind)
    if facts is None:
        raise ValueError(f"no service declares kind {kind}: it has no command words")
    *path, last = facts.command
    for word in path:
        group = _subgroup(group, word)
    for name in (last, *facts.aliases):
        group.command(name, hidden=name != last, help=help_text)(command)


def _declared_kinds() -> list[KindFacts]:
    return [facts for service in load_services() for facts in service.kinds]


def _commands(
    app: typer.Typer,
    verb: str,
    help_text: str,
    make: Callable[[str], Callable[..., None]],
    *,
    suspending: bool = False,
) -> None:
    group = flux_group(app, verb, f"{help_text}.")
    for facts in _declared_kinds():
        if (suspending and not facts.suspendable) or verb in facts.own_verbs:
            continue
        article = "an" if facts.kind[0] in "AEIOU" else "a"
        on_kind(
            group,
            facts.kind,
            command=make(facts.kind),
            help_text=f"{help_text} ({article} {facts.kind}).",
        )


def register(app: typer.Typer) -> None:
    """Add reconcile, suspend, resume, tree and export to the CLI."""

    def reconciler(kind: str) -> Callable[..., None]:
        def command(
            name: str = typer.Argument(...),
            namespace: str = Namespace,
            with_source: bool = typer.Option(False, "--with-source", help="Source first."),
            wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the outcome."),
            timeout: str = typer.Option("5m", "--timeout", help="How long to wait."),
            redis_url: str | None = RedisUrl,
        ) -> None:
            session = Session.open(redis_url)
            key = scoped(ObjectKey(kind, namespace, name))
            seconds = _duration(timeout, session)
            reconcile_object(session, key, wait=wait, timeout=seconds, with_source=with_source)

        return command

    def suspender(suspend: bool) -> Callable[[str], Callable[..., None]]:
        def make(kind: str) -> Callable[..., None]:
            def command(
                name: str = typer.Argument(...),
                namespace: str = Namespace,
                wait: bool = typer.Option(True, "--wait/--no-wait", help="Resume: wait."),
                timeout: str = typer.Option("5m", "--timeout", help="How long to wait."),
                redis_url: str | None = RedisUrl,
            ) -> None:
                session = Session.open(redis_url)
                key = scoped(ObjectKey(kind, namespace, name))
                seconds = _duration(timeout, session)
                set_suspend(session, key, suspend=suspend, wait=wait, timeout=seconds)

            return command

        return make

    _commands(app, "reconcile", "Ask for a reconcile now and wait for it", reconciler)
    _commands(app, "suspend", "Stop reconciling an object", suspender(True), suspending=True)
    _commands(
        app, "resume", "Reconcile a suspended object again", suspender(False), suspending=True
    )
    tree_group = flux_group(app, "tree", "Show what an object applied, per cluster.")

    def tree_of(kind: str) -> Callable[..., None]:
        def tree(
            name: str = typer.Argument(...),
            namespace: str = Namespace,
            cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
            redis_url: str | None = RedisUrl,
        ) -> None:
            session = Session.open(redis_url)
            key = scoped(ObjectKey(kind, namespace, name))
            status = session.require(key).get("status") or {}
            names = [str(c.get("name")) for c in status.get("clusters") or []]
            if cluster is not None and cluster not in names:
                raise session.fail(
                    f"{key.kind} '{namespace}/{name}' has no cluster '{cluster}': "
                    f"it has {', '.join(names) or 'none yet'}"
                )
            print_tree(session.out, _tree(session.store, key, cluster=cluster, seen=set()))

        return tree

    for facts in _declared_kinds():
        if facts.inventory:
            help_text = f"Show a {facts.kind}'s inventory per cluster, nested ones included."
            on_kind(tree_group, facts.kind, command=tree_of(facts.kind), help_text=help_text)

    @app.command(name="export")
    def export(
        words: list[str] = typer.Argument(..., help="KIND [NAME], or source git [NAME]."),
        namespace: str = Namespace,
        all_in_namespace: bool = typer.Option(False, "--all", help="Every object (default)."),
        all_namespaces: bool = typer.Option(False, "-A", "--all-namespaces"),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Print objects as YAML without status and runtime metadata, Secrets redacted."""
        session = Session.open(redis_url)
        try:
            kinds, name = kinds_and_name(words)
        except ValueError as exc:
            raise session.fail(str(exc)) from exc
        docs: list[dict[str, Any]] = []
        for info in kinds:
            if name is not None:
                docs.append(session.require(scoped(ObjectKey(info.kind, namespace, name))))
            else:
                where = None if all_namespaces else namespace
                docs += session.store.list(info.kind, where, scope=cli_scope())
        for doc in docs:
            session.out.line("---")
            session.out.stream.write(yaml.dump(export_document(doc)))
