"""``make bench`` (``python -m bench.run``): run the scenarios, print a table, write JSON.

    python -m bench.run [--quick] [--only NAME ...] [--peer flux] [--timeout S]
                        [--output FILE] [--keep] [--helm-releases N]

Every scenario starts and stops its own servers; a failed scenario is
reported in the table (and its working folder kept) and the others still run.
With ``--peer flux`` each scenario also runs the same workload on Flux's own
controllers (built first by ``hack/tools.sh build_flux``), one tool after the
other, and the table gets a Flux column and the ratio (higher = sluice better).
The JSON file (default ``bench/results/latest.json``) has every figure, the
machine and the command; a Markdown copy of the table goes beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.compare import RATIO_HEADER
from bench.machine import describe_machine, summary
from bench.peers import PEERS
from bench.scenarios import SCENARIOS, Context, Result, Row
from bench.stack import ROOT

__all__ = ["main", "markdown", "table"]

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # Once: a second Ctrl-C must not cut the stopping of what is running short.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: ``--quick``, ``--only``, ``--peer``, ``--timeout``, ``--output``..."""
    parser = argparse.ArgumentParser(prog="bench", description="sluice benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer commits, clusters, objects")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds any one wait may take"
    )
    parser.add_argument(
        "--peer",
        choices=PEERS,
        help="also run every scenario on this tool (flux: Flux's own controllers, built first)",
    )
    parser.add_argument(
        "--helm-releases",
        type=int,
        metavar="N",
        help="HelmReleases the helm scenario stores at once (default 100, 20 with --quick)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    return parser.parse_args(argv)


def _has_peer(results: Sequence[Result]) -> bool:
    return any(row.peer is not None for result in results for row in result.rows)


def _cells(row: Row, *, peer: bool) -> list[str]:
    """A row's figure cells: the value, or sluice's, the peer's and the ratio."""
    if not peer:
        return [row.value]
    return [row.value, row.peer if row.peer is not None else "-", row.ratio or ""]


def table(
    results: Sequence[Result], machine: dict[str, Any], *, quick: bool, peer: bool = False
) -> Table:
    """The results as a rich table (with Flux and ratio columns when a peer ran)."""
    mode = " (--quick)" if quick else ""
    peer = peer or _has_peer(results)
    grid = Table(title=f"sluice benchmarks{mode}", caption=summary(machine), show_lines=True)
    figures = ["sluice", "Flux", RATIO_HEADER] if peer else ["value"]
    for column in ("scenario", "metric", *figures, "setup / notes"):
        grid.add_column(column, overflow="fold")
    blanks = ["-"] * (len(figures) - 1)
    for result in results:
        if result.error is not None:
            grid.add_row(result.title, "FAILED", "-", *blanks, result.error.splitlines()[0])
            continue
        for index, row in enumerate(result.rows):
            title = result.title if index == 0 else ""
            grid.add_row(title, row.metric, *_cells(row, peer=peer), row.note)
    return grid


def markdown(
    results: Sequence[Result], machine: dict[str, Any], *, command: str, peer: bool = False
) -> str:
    """The results as a Markdown table, for the README."""
    peer = peer or _has_peer(results)
    figures = ["sluice", "Flux", RATIO_HEADER] if peer else ["value"]
    header = ["scenario", "metric", *figures, "setup / notes"]
    lines = [
        f"`{command}` on {summary(machine)}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    blanks = ["-"] * (len(figures) - 1)
    for result in results:
        if result.error is not None:
            cells = [result.title, "FAILED", "-", *blanks, result.error.splitlines()[0]]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        for index, row in enumerate(result.rows):
            title = result.title if index == 0 else ""
            cells = [title, row.metric, *_cells(row, peer=peer), row.note]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def build_peer(peer: str, console: Console) -> None:
    """Build the peer's binaries into the tool cache (nothing to do when they are fresh)."""
    console.print(f"building {peer} (hack/tools.sh build_{peer}; minutes when cold)")
    subprocess.run(["bash", str(ROOT / "hack" / "tools.sh"), f"build_{peer}"], check=True)


def _run_one(name: str, ctx: Context, console: Console) -> Result:
    console.rule(f"{name}")
    began = time.monotonic()
    try:
        result = SCENARIOS[name](ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        console.print(f"{name} failed: {exc}", markup=False, highlight=False)
        result = Result(name=name, title=name, error=f"{type(exc).__name__}: {exc}")
    result.seconds = time.monotonic() - began
    console.print(f"{name}: {result.seconds:.0f}s", highlight=False)
    return result


def _write(path: Path, document: dict[str, Any], text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    path.with_suffix(".md").write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios; 0 when all succeeded, 1 when one failed, 130 when stopped."""
    args = parse_args(argv)
    names = [n for n in SCENARIOS if not args.only or n in args.only]
    console = Console()
    if not console.is_terminal:  # a log file or CI: room for the notes column
        console = Console(width=160)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    command = " ".join(["make bench", *(sys.argv[1:] if argv is None else argv)])
    if args.peer is not None:
        build_peer(args.peer, console)
    machine = describe_machine(flux=args.peer == "flux")
    console.print(summary(machine), highlight=False)
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results: list[Result] = []

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    try:
        for name in names:
            ctx = Context(
                quick=args.quick,
                work=work / name,
                timeout=args.timeout,
                say=say,
                peer=args.peer,
                helm_releases=args.helm_releases,
            )
            results.append(_run_one(name, ctx, console))
    except KeyboardInterrupt as exc:
        console.print(f"interrupted ({exc}); everything started was stopped")
        return 130
    finally:
        failed = any(r.error is not None for r in results)
        if args.keep or failed:
            console.print(f"working folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    with_peer = args.peer is not None
    console.print(table(results, machine, quick=args.quick, peer=with_peer))
    document = {
        "command": command,
        "quick": args.quick,
        "peer": args.peer,
        "started_at": started,
        "machine": machine,
        "scenarios": {
            r.name: {
                "title": r.title,
                "seconds": round(r.seconds, 1),
                "error": r.error,
                "rows": [row.__dict__ for row in r.rows],
                "data": r.data,
            }
            for r in results
        },
    }
    _write(args.output, document, markdown(results, machine, command=command, peer=with_peer))
    console.print(f"results: {args.output} (and {args.output.with_suffix('.md').name})")
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
