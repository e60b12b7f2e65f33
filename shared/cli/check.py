"""``sluice check``: which external tools are installed, where, and at which version."""

from __future__ import annotations

import time

import typer

from shared.cli.output import Output, output
from shared.tools import ToolStatus, check_tools

__all__ = ["register", "render"]


def _version_cell(status: ToolStatus) -> str:
    if status.path is None:
        return "missing" if status.required else "missing (optional)"
    version = status.version or "unknown"
    if status.mismatch:
        return f"{version} (pinned {status.pinned})"
    return version


def render(statuses: list[ToolStatus], out: Output, fmt: str) -> int:
    """Print the report as a table, json or yaml; return the exit code."""
    missing = [s.name for s in statuses if s.path is None and s.required]
    if fmt in ("json", "yaml"):
        out.data({"tools": {s.name: s.to_json() for s in statuses}}, fmt)
    else:
        rows = [(s.name, _version_cell(s), str(s.path) if s.path else s.hint) for s in statuses]
        out.table(("TOOL", "VERSION", "PATH"), rows)
        stale = [s.name for s in statuses if s.mismatch]
        if stale:
            out.error(f"not at the pinned version: {', '.join(stale)}; run `make tools`")
    if missing:
        out.error(f"required tools missing: {', '.join(missing)}; run `make tools`")
        return 1
    return 0


def check(
    tools: list[str] | None = typer.Argument(
        None, help="Tools to check (default: all).", show_default=False
    ),
    fmt: str = typer.Option("table", "-o", "--output", help="table, json or yaml."),
) -> None:
    """Show where each external tool is and its version; fail if a required one is missing."""
    out = output()
    if fmt not in ("table", "json", "yaml"):
        out.error(f"--output {fmt!r}: expected table, json or yaml")
        raise typer.Exit(2)
    started = time.monotonic()
    try:
        statuses = check_tools(tools or None)
    except ValueError as exc:
        out.error(str(exc))
        raise typer.Exit(2) from exc
    code = render(statuses, out, fmt)
    if fmt == "table" and out.is_terminal:
        out.line(f"checked {len(statuses)} tools in {time.monotonic() - started:.2f}s")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``sluice check`` to the CLI."""
    app.command("check")(check)
