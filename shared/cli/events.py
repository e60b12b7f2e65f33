"""``sluice events``: the event stream, as a table or followed live.

The filter options are those of the HTTP event stream (``GET /events``), read
by :mod:`shared.eventfilter`: each may be repeated or comma-separated, an
event must match every option given, ``--for`` names one object.
"""

from __future__ import annotations

import signal
import threading

import typer

from shared.celeryapp import create_app
from shared.cli.context import RedisUrl, cli_settings, scoped, selected_scope
from shared.cli.output import Output, output
from shared.eventfilter import EventFilter, FilterError, parse_filter
from shared.events import Event, EventBus
from shared.keys import ObjectKey
from shared.redisconn import connect

__all__ = ["event_row", "register"]

COLUMNS = ("TIME", "TYPE", "OBJECT", "SEVERITY", "REASON", "MESSAGE")


def event_row(event: Event) -> list[str]:
    """One event as table cells."""
    obj = str(event.object) + (f" @{event.cluster}" if event.cluster else "")
    return [event.timestamp, event.type, obj, event.severity, event.reason, event.message]


def _for_key(text: str, out: Output) -> ObjectKey:
    """The object ``--for`` names: ``[cluster:]Kind/ns/name``, in the ``-c`` scope by default."""
    try:
        key = ObjectKey.parse(text)
    except ValueError as exc:
        out.error(f"error: --for: {exc}")
        raise typer.Exit(2) from exc
    return key if key.scope else scoped(key)


def _filter(out: Output, values: dict[str, list[str] | None]) -> EventFilter:
    try:
        return parse_filter({name: given or [] for name, given in values.items()})
    except FilterError as exc:
        out.error(f"error: --{exc.parameter}: {exc.problem}")
        raise typer.Exit(2) from exc


def _print_plain(out: Output, event: Event) -> None:
    out.line("   ".join(event_row(event)))


def register(app: typer.Typer) -> None:
    """Add events to the CLI."""

    @app.command()
    def events(
        watch: bool = typer.Option(False, "--watch", "-w", help="Keep printing new events."),
        limit: int = typer.Option(50, "--limit", help="How many recent events to show."),
        for_object: str | None = typer.Option(
            None, "--for", help="Only events of [cluster:]Kind/namespace/name."
        ),
        kind: list[str] | None = typer.Option(
            None, "--kind", help="Only these kinds (Kustomization, ks, ...)."
        ),
        name: list[str] | None = typer.Option(None, "--name", help="Only these names ('*': any)."),
        namespace: list[str] | None = typer.Option(
            None, "--namespace", help="Only these namespaces."
        ),
        cluster: list[str] | None = typer.Option(
            None, "--cluster", help="Only events of these clusters (the event's or its scope)."
        ),
        severity: list[str] | None = typer.Option(
            None, "--severity", help="Only these severities: info, error, trace."
        ),
        reason: list[str] | None = typer.Option(
            None, "--reason", help="Only these reasons (HealthCheckFailed, ...)."
        ),
        event_type: list[str] | None = typer.Option(
            None, "--type", help="Only these event types (applied, revision-changed, ...)."
        ),
        redis_url: str | None = RedisUrl,
    ) -> None:
        """Show recent events; with --watch, follow new ones until Ctrl-C.

        Filter options may be repeated or comma-separated; an event must match each one given.
        """
        stop = threading.Event()
        if watch:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        settings = cli_settings(redis_url)
        client = connect(settings)
        bus = EventBus(client, create_app("cli", settings), max_len=settings.events_max_len)
        out = output()

        choice = selected_scope()
        wanted_key = None if for_object is None else _for_key(for_object, out)
        selected = _filter(
            out,
            {
                "kind": kind,
                "name": name,
                "namespace": namespace,
                "cluster": cluster,
                "severity": severity,
                "reason": reason,
                "type": event_type,
            },
        )

        def in_scope(event: Event) -> bool:
            if wanted_key is not None:
                return event.object == wanted_key
            return choice.all_clusters or not choice.cluster or event.object.scope == choice.cluster

        def wanted(event: Event) -> bool:
            return in_scope(event) and selected.matches(event)

        history = bus.read(count=settings.events_max_len)
        recent = [e for _, e in history if wanted(e)][-limit:]
        if not watch:
            if recent:
                out.table(COLUMNS, [event_row(e) for e in recent])
            else:
                out.error("no events")
            return
        for event in recent:
            _print_plain(out, event)
        # Follow on from the last event read, so none falls between the two.
        since = history[-1][0] if history else "0"
        for _, event in bus.tail(since, block_ms=500, stop=stop):
            if wanted(event):
                _print_plain(out, event)
                out.stream.flush()
