"""``sluice reconcile|tree|history|diff helmrelease``: what only a HelmRelease has.

``get``, ``suspend``, ``resume`` and ``export`` are the generic ones of
``shared.cli``; these four need the helm service's code:

- ``reconcile hr NAME [--with-source] [--force] [--reset]``: flux's. The
  source is the HelmChart made from ``spec.chart`` (its HelmRepository or
  GitRepository first), or what ``spec.chartRef`` names; ``--force`` and
  ``--reset`` set ``reconcile.fluxcd.io/forceAt`` and ``resetAt`` to the
  requestedAt token, as ``flux reconcile hr`` does.
- ``tree hr NAME``: per cluster, the objects of the release's manifest as Helm
  stored it, as ``flux tree ks`` shows a HelmRelease's objects.
- ``history hr NAME``: per cluster, the ``status.history`` snapshots Flux
  keeps (helm's revisions); flux has no such command.
- ``diff hr NAME``: the chart rendered with the HelmRelease's values by the
  pinned ``helm template``, each target cluster's dry run printed as ``diff
  ks`` prints it (exit 1 when anything would change); no value from a Secret
  is ever printed.

The work is in :mod:`services.helm.releaseview`, imported by the command that
runs: ``sluice reconcile ks`` loads these commands too, and should not pay for
Helm's modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from shared.cli.context import RedisUrl, scoped
from shared.cli.flux import Namespace, Session, flux_group, on_kind, print_tree, reconcile_object
from shared.keys import ObjectKey

__all__ = ["FORCE_AT", "RESET_AT", "register"]

FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"


def _chart_source(doc: dict[str, Any], key: ObjectKey) -> ObjectKey | None:
    from services.helm.releaseview import chart_source

    return chart_source(doc, key)


def _reconcile_command(
    name: str = typer.Argument(...),
    namespace: str = Namespace,
    with_source: bool = typer.Option(False, "--with-source", help="Reconcile the chart first."),
    force: bool = typer.Option(False, "--force", help="A one-off install or upgrade."),
    reset: bool = typer.Option(False, "--reset", help="Reset the failure counters."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the outcome."),
    timeout: str = typer.Option("5m", "--timeout", help="How long to wait."),
    redis_url: str | None = RedisUrl,
) -> None:
    """Reconcile a HelmRelease now; --force/--reset as flux's."""
    from shared.api.durations import parse_duration

    session = Session.open(redis_url)
    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise session.fail(f"--timeout: {exc}") from exc
    also = (*((FORCE_AT,) if force else ()), *((RESET_AT,) if reset else ()))
    reconcile_object(
        session,
        scoped(ObjectKey("HelmRelease", namespace, name)),
        wait=wait,
        timeout=seconds,
        with_source=with_source,
        source_of=_chart_source,
        also_annotate=also,
    )


def _tree_command(
    name: str = typer.Argument(...),
    namespace: str = Namespace,
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    redis_url: str | None = RedisUrl,
) -> None:
    """Show the objects of a HelmRelease's release on each cluster."""
    from services.helm import releaseview

    session = Session.open(redis_url)
    print_tree(session.out, releaseview.tree(session, namespace, name, cluster=cluster))


def _history_command(
    name: str = typer.Argument(...),
    namespace: str = Namespace,
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    redis_url: str | None = RedisUrl,
) -> None:
    """Show the Helm revisions of a HelmRelease on each cluster, newest first."""
    from services.helm import releaseview

    releaseview.history(Session.open(redis_url), namespace, name, cluster=cluster)


def _diff_command(
    name: str = typer.Argument(...),
    namespace: str = Namespace,
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    redis_url: str | None = RedisUrl,
) -> None:
    """Show what releasing a HelmRelease would change in each cluster; exit 1 if any."""
    from services.helm import releaseview

    if releaseview.diff(Session.open(redis_url), namespace, name, cluster=cluster):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``reconcile``, ``tree``, ``history`` and ``diff`` for HelmReleases to the CLI."""
    commands: list[tuple[str, str, Callable[..., None], str]] = [
        ("reconcile", "Ask for a reconcile now and wait for it.", _reconcile_command,
         "Reconcile a HelmRelease (--with-source, --force, --reset)."),
        ("tree", "Show what an object applied, per cluster.", _tree_command,
         "Show the objects of a HelmRelease's release on each cluster."),
        ("history", "Show the release history of an object, per cluster.", _history_command,
         "Show a HelmRelease's Helm revisions on each cluster."),
        ("diff", "Compare a local render with the clusters (exit 1 on drift).", _diff_command,
         "Show what a HelmRelease would change in its clusters."),
    ]  # fmt: skip
    for verb, group_help, command, help_text in commands:
        on_kind(
            flux_group(app, verb, group_help), "HelmRelease", command=command, help_text=help_text
        )
