"""``sluice build ks`` and ``sluice diff ks``: a Kustomization rendered here as its reconcile would.

``build`` prints what the reconcile would apply; ``diff`` server-side dry-runs it
on each target cluster and prints what would change, as ``flux diff`` does (exit
1 when anything differs). Both read the Kustomization, its source's artifact and
its substitution variables from the store; ``--path`` builds a local directory
instead of the artifact. Secret values never reach the output.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import typer

from services.kustomize.apply import FIELD_MANAGER, prepare_object
from services.kustomize.build import ArtifactPathError, BuildOptions, render
from services.kustomize.client import (
    ApiError,
    KubeClient,
    KubeError,
    UnknownKindError,
)
from services.kustomize.connect import connect_target
from services.kustomize.decrypt import decryption_keys
from services.kustomize.generate import BuildSpec
from services.kustomize.inventory import (
    PRUNE_KEY,
    RECONCILE_KEY,
    SSA_KEY,
    ObjectRef,
    Owner,
    metadata_value,
)
from services.kustomize.manifests import BuildFailed, classify, dump_object
from services.kustomize.targets import Target, select_targets
from services.kustomize.variables import MissingVariables, post_build_variables
from shared import yaml
from shared.api import Cluster, Kustomization, parse_as
from shared.artifacts import ArtifactError, fetch_artifact
from shared.cli.context import RedisUrl
from shared.cli.flux import Namespace, Session, flux_group, on_kustomization
from shared.keys import ObjectKey
from shared.secrets import LAST_APPLIED_ANNOTATION, redact
from shared.tools import ToolMissingError

__all__ = ["comparable", "mask_secrets", "register", "render_kustomization"]

# What apply strips before sending (apply._prepare), and what diff ignores on top.
_SERVER_FIELDS = ("resourceVersion", "uid", "generation", "managedFields", "selfLink")
_NOISE = frozenset({*_SERVER_FIELDS, "creationTimestamp"})
_MASK = "***"


def _artifact(session: Session, ks: Kustomization) -> tuple[Path, str]:
    ref = ks.spec.source_ref
    key = ObjectKey(ref.kind, ref.namespace or ks.namespace, ref.name)
    artifact = (session.require(key).get("status") or {}).get("artifact")
    if not artifact:
        raise session.fail(f"{key.kind} '{key.namespace}/{key.name}' has no artifact yet")
    root = fetch_artifact(artifact["url"], artifact["digest"], cache_dir=session.settings.cache_dir)
    return root, ks.spec.path


def _local(session: Session, path: Path) -> tuple[Path, str]:
    """``--path`` as (root, path) inside the Git checkout holding it, so ``../base`` resolves."""
    directory = path.resolve()
    if not directory.is_dir():
        raise session.fail(f"--path {path}: not a directory")
    root = next((p for p in (directory, *directory.parents) if (p / ".git").exists()), directory)
    return root, directory.relative_to(root).as_posix()


def render_kustomization(
    session: Session, doc: dict[str, Any], local: Path | None = None
) -> list[dict[str, Any]]:
    """The objects the reconcile would apply: build, overlay, postBuild, owner labels."""
    ks = parse_as(doc, Kustomization)
    try:
        root, path = _local(session, local) if local else _artifact(session, ks)
        objects = render(
            root,
            path,
            spec=BuildSpec.from_spec(doc["spec"]),
            post_build=post_build_variables(session.store, ks),
            decryption=decryption_keys(session.store, ks),
            # As the reconcile builds: no kustomize restrictor, references checked instead.
            options=BuildOptions(load_restrictor="LoadRestrictionsNone"),
        )
    except (
        ArtifactError,
        ArtifactPathError,
        BuildFailed,
        ToolMissingError,
        MissingVariables,
    ) as exc:
        raise session.fail(str(exc)) from exc
    owner = Owner(ks.name, ks.namespace)
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **owner.labels}
    return objects


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without status and the metadata the API server keeps changing."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _NOISE}
    return out


def _mask_pair(before: dict[str, Any], after: dict[str, Any], keys: set[str] | None = None) -> None:
    for key in (set(before) | set(after)) if keys is None else keys:
        same = before.get(key) == after.get(key)
        if key in before:
            before[key] = _MASK if same else f"{_MASK} (before)"
        if key in after:
            after[key] = _MASK if same else f"{_MASK} (after)"


def mask_secrets(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Replace a Secret's values with ``***``, marked before/after where they differ."""
    if "Secret" not in (before.get("kind"), after.get("kind")):
        return
    for section in ("data", "stringData"):
        _mask_pair(before.get(section) or {}, after.get(section) or {})
    # kubectl's last-applied annotation is a plain copy of the whole Secret.
    old, new = (d["metadata"].get("annotations") or {} for d in (before, after))
    _mask_pair(old, new, {LAST_APPLIED_ANNOTATION} & (set(old) | set(new)))


def _yaml(obj: Mapping[str, Any]) -> list[str]:
    return yaml.dump(dict(obj), sort_keys=True).splitlines()


def _skipped(obj: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """Objects apply leaves alone (§1.4): reconcile disabled, ssa Ignore or IfNotPresent."""
    ssa = metadata_value(obj, SSA_KEY)
    return (
        "disabled" in (metadata_value(obj, RECONCILE_KEY), metadata_value(live, RECONCILE_KEY))
        or "ignore" in (ssa, metadata_value(live, SSA_KEY))
        or (ssa == "ifnotpresent" and live is not None)
    )


def _diff_object(
    client: KubeClient, obj: dict[str, Any], *, default_ns: str, new_kinds: set[str]
) -> list[str]:
    """Flux-style lines for one object: nothing when in sync."""
    try:
        info = client.resource(str(obj["apiVersion"]), str(obj["kind"]))
    except UnknownKindError:
        if obj["kind"] in new_kinds:  # served once this revision's CRD is applied
            return [f"► {ObjectRef.from_object(obj)} created"]
        raise
    meta = obj["metadata"]
    if not info.namespaced:
        meta.pop("namespace", None)
    elif not meta.get("namespace"):
        meta["namespace"] = default_ns
    ref = ObjectRef.from_object(obj)
    live = client.get(obj)
    if _skipped(obj, live):
        return []
    try:
        dry = client.apply(obj, field_manager=FIELD_MANAGER, dry_run=True)
    except ApiError as exc:
        # A namespace made by this same revision does not exist yet.
        if live is None and exc.status == 404:
            return [f"► {ref} created"]
        raise KubeError(f"{ref}: {exc}") from exc
    if live is None:
        return [f"► {ref} created"]
    before, after = comparable(live), comparable(dry)
    if before == after:
        return []
    mask_secrets(before, after)
    lines = difflib.unified_diff(
        _yaml(before), _yaml(after), f"{ref} (live)", f"{ref} (after apply)", lineterm=""
    )
    return [f"► {ref} drifted", *lines]


def _deleted(client: KubeClient, entries: list[dict[str, str]], owner: Owner) -> Iterator[str]:
    """Inventory entries that prune would delete (§3.7): still there, owned and not kept."""
    for entry in entries:
        ref = ObjectRef.from_id(entry["id"], entry.get("v", ""))
        meta = {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})}
        try:
            live = client.get({"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta})
        except UnknownKindError:
            continue  # its CRD is gone, and the object with it
        kept = metadata_value(live, PRUNE_KEY) == "disabled" or _skipped(live or {}, None)
        if live and owner.owns(live) and not kept:
            yield f"► {ref} deleted"


def _client(session: Session, ks: Kustomization, target: Target) -> KubeClient:
    return connect_target(
        session.store,
        ks.namespace,
        target,
        service_account=ks.spec.service_account_name,
        timeout=session.settings.cluster_timeout,
    )


def _inventory(doc: dict[str, Any], cluster: str) -> list[dict[str, str]]:
    status = doc.get("status") or {}
    for entry in status.get("clusters") or []:
        if entry.get("name") == cluster:
            return list((entry.get("inventory") or {}).get("entries") or [])
    return []


def diff_cluster(
    session: Session, doc: dict[str, Any], target: Target, objects: list[dict[str, Any]]
) -> list[str]:
    """What applying ``objects`` to one cluster would change, as flux diff prints it."""
    ks = parse_as(doc, Kustomization)
    owner = Owner(ks.name, ks.namespace)
    default_ns = ks.spec.target_namespace or ks.namespace
    client = _client(session, ks, target)
    try:
        lines: list[str] = []
        rendered = set()
        desired = classify(objects).clusters
        new_kinds = {
            str(((o.get("spec") or {}).get("names") or {}).get("kind"))
            for o in desired
            if o["kind"] == "CustomResourceDefinition"
        }
        for raw in desired:
            obj = prepare_object(raw, owner)
            lines += _diff_object(client, obj, default_ns=default_ns, new_kinds=new_kinds)
            rendered.add(ObjectRef.from_object(obj).id)
        if ks.spec.prune:
            stale = [e for e in _inventory(doc, target.name) if e["id"] not in rendered]
            lines += _deleted(client, stale, owner)
        return lines
    finally:
        client.close()


def _targets(session: Session, ks: Kustomization, only: str | None) -> list[Target]:
    clusters = [parse_as(c, Cluster) for c in session.store.list("Cluster", ks.namespace)]
    try:
        selection = select_targets(ks, clusters)
    except ValueError as exc:
        raise session.fail(str(exc)) from exc
    targets = [t for t in selection.targets if only is None or t.name == only]
    if not targets:
        names = ", ".join(t.name for t in selection.targets) or "none"
        wanted = f"cluster '{only}'" if only else "any cluster"
        raise session.fail(
            f"Kustomization '{ks.namespace}/{ks.name}' targets {names}, not {wanted}"
        )
    return targets


def register(app: typer.Typer) -> None:
    """Add ``build kustomization`` and ``diff kustomization`` to the CLI."""

    def build(
        name: str = typer.Argument(...),
        namespace: str = Namespace,
        path: Path | None = typer.Option(None, "--path", help="A local directory to build."),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Print the objects a Kustomization's reconcile would apply, as YAML."""
        session = Session.open(redis_url)
        doc = session.require(ObjectKey("Kustomization", namespace, name))
        for obj in render_kustomization(session, doc, path):
            session.out.line("---")
            session.out.stream.write(dump_object(redact(obj)))

    def diff(
        name: str = typer.Argument(...),
        namespace: str = Namespace,
        cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
        path: Path | None = typer.Option(None, "--path", help="A local directory to build."),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Show what applying a Kustomization would change in each cluster; exit 1 if any."""
        session = Session.open(redis_url)
        doc = session.require(ObjectKey("Kustomization", namespace, name))
        objects = render_kustomization(session, doc, path)
        changed = False
        for target in _targets(session, parse_as(doc, Kustomization), cluster):
            session.out.line(f"◎ cluster {target.name}")
            try:
                lines = diff_cluster(session, doc, target, objects)
            except KubeError as exc:
                session.say("✗", f"cluster {target.name}: {exc}")
                changed = True
                continue
            for line in lines or [f"✔ cluster {target.name}: no changes"]:
                session.out.line(line)
            changed = changed or bool(lines)
        if changed:
            raise typer.Exit(1)

    on_kustomization(
        flux_group(app, "build", "Render objects locally as their reconcile would."),
        build,
        "Print what a Kustomization's reconcile would apply.",
    )
    on_kustomization(
        flux_group(app, "diff", "Compare a local render with the clusters (exit 1 on drift)."),
        diff,
        "Show what a Kustomization would change in its clusters.",
    )
