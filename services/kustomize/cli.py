"""``sluice build ks`` and ``sluice diff ks``: a Kustomization rendered here as its reconcile would.

``build`` prints what the reconcile would apply; ``diff`` server-side dry-runs it
on each target cluster and prints what would change, as ``flux diff`` does (exit
1 when anything differs). Both read the Kustomization, its source's artifact and
its substitution variables from the store; ``--path`` builds a local directory
instead of the artifact. Secret values never reach the output
(``shared.cli.diffview`` prints each object's plan).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from services.kustomize.build import ArtifactPathError, BuildOptions, render
from services.kustomize.cluster import apply_options
from services.kustomize.decrypt import decryption_keys
from services.kustomize.generate import BuildSpec
from services.kustomize.manifests import BuildFailed, as_stored, classify, dump_object
from services.kustomize.variables import MissingVariables, post_build_variables
from shared.api import Kustomization, parse_as
from shared.artifacts import ArtifactError, fetch_artifact
from shared.cli.context import RedisUrl, cli_scope, scoped
from shared.cli.diffview import object_diff
from shared.cli.flux import Namespace, Session, flux_group, on_kind
from shared.fleet.connect import clusters_for, connect_target
from shared.fleet.targets import Target, select_targets
from shared.keys import ObjectKey
from shared.kube.client import KubeClient
from shared.kube.errors import KubeError
from shared.kube.inventory import Inventory, stale_objects
from shared.kube.owner import Owner
from shared.kube.plan import ApplyError, plan
from shared.kube.prune import prune
from shared.scopes import resolve
from shared.secrets import redact
from shared.tools import ToolMissingError

__all__ = ["register", "render_kustomization"]


def _artifact(session: Session, ks: Kustomization) -> tuple[Path, str]:
    ref = ks.spec.source_ref
    named = ObjectKey(ref.kind, ref.namespace or ks.namespace, ref.name)
    key, _ = resolve(session.store, named, cli_scope())
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
            post_build=post_build_variables(session.store, ks, cli_scope()),
            decryption=decryption_keys(session.store, ks, cli_scope()),
            # As the reconcile builds: no kustomize restrictor, references checked instead.
            options=BuildOptions(load_restrictor="LoadRestrictionsNone"),
        )
        # Toolkit objects as the reconcile stores them: a Flux v1 HelmRelease as v2.
        namespace = ks.spec.target_namespace or ks.namespace
        objects = as_stored(objects, namespace=namespace, source=f"{ks.key} build")
    except (
        ArtifactError,
        ArtifactPathError,
        BuildFailed,
        ToolMissingError,
        MissingVariables,
    ) as exc:
        raise session.fail(str(exc)) from exc
    owner = Owner.kustomization(ks.name, ks.namespace)
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **owner.labels}
    return objects


def _client(session: Session, ks: Kustomization, target: Target) -> KubeClient:
    return connect_target(
        session.store,
        ks.namespace,
        target,
        service_account=ks.spec.service_account_name,
        settings=session.settings,
        scope=cli_scope(),
    )


def _inventory(doc: dict[str, Any], cluster: str) -> Inventory:
    status = doc.get("status") or {}
    for entry in status.get("clusters") or []:
        if entry.get("name") == cluster:
            return Inventory.from_status(entry.get("inventory"))
    return Inventory()


def diff_cluster(
    session: Session, doc: dict[str, Any], target: Target, objects: list[dict[str, Any]]
) -> list[str]:
    """What applying ``objects`` to one cluster would change, as flux diff prints it.

    The verdicts are the reconcile's own: ``plan`` and a dry-run ``prune``.
    """
    ks = parse_as(doc, Kustomization)
    owner = Owner.kustomization(ks.name, ks.namespace)
    client = _client(session, ks, target)
    try:
        try:
            planned = plan(
                client, classify(objects).clusters, owner=owner, options=apply_options(ks)
            )
        except ApplyError as exc:
            raise KubeError(str(exc)) from exc
        lines = [line for p in planned.objects for line in object_diff(p)]
        if ks.spec.prune:
            new = Inventory.from_refs(p.ref for p in planned.objects)
            stale = stale_objects(_inventory(doc, target.name), new)
            pruned = prune(client, stale, owner=owner, dry_run=True)
            lines += [f"► {ref} deleted" for ref in pruned.deleted]
        return lines
    finally:
        client.close()


def _targets(session: Session, ks: Kustomization, only: str | None) -> list[Target]:
    clusters, default = clusters_for(session.store, ks.key.in_scope(cli_scope()))
    try:
        selection = select_targets(ks.spec, clusters, default=default)
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
        doc = session.require(scoped(ObjectKey("Kustomization", namespace, name)))
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
        doc = session.require(scoped(ObjectKey("Kustomization", namespace, name)))
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

    on_kind(
        flux_group(app, "build", "Render objects locally as their reconcile would."),
        "Kustomization",
        command=build,
        help_text="Print what a Kustomization's reconcile would apply.",
    )
    on_kind(
        flux_group(app, "diff", "Compare a local render with the clusters (exit 1 on drift)."),
        "Kustomization",
        command=diff,
        help_text="Show what a Kustomization would change in its clusters.",
    )
