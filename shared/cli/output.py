"""How the CLI prints: rich tables on a terminal, plain text otherwise, JSON or YAML on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from shared import yaml

__all__ = ["Output", "output"]


class Output:
    """Where CLI output goes; tests pass a buffer, commands use ``output()``."""

    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.err = err or sys.stderr
        self.is_terminal = self.stream.isatty()
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)

    def line(self, text: str = "") -> None:
        """Print one line of plain text."""
        print(text, file=self.stream)

    def error(self, text: str) -> None:
        """Print a message to stderr."""
        print(text, file=self.err)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A rich table on a terminal; kubectl-style aligned columns otherwise."""
        cells = [[("" if c is None else str(c)) for c in row] for row in rows]
        if self.is_terminal:
            table = Table(*columns, box=None, header_style="bold", pad_edge=False)
            for row in cells:
                table.add_row(*row)
            self.console.print(table)
            return
        widths = [len(c) for c in columns]
        for row in cells:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        for row in [list(columns), *cells]:
            text = "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            self.line(text.rstrip())

    def data(self, value: Any, fmt: str) -> None:
        """Print a document as ``json`` or ``yaml``."""
        if fmt == "json":
            self.line(json.dumps(value, indent=2, sort_keys=False, default=str))
        elif fmt == "yaml":
            self.stream.write(yaml.dump_all(value) if isinstance(value, list) else yaml.dump(value))
        else:
            raise ValueError(f"unknown output format {fmt!r}: expected json or yaml")


def output() -> Output:
    """The process's stdout/stderr output."""
    return Output()
