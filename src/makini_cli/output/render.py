"""Renderers: Rich tables on a terminal, JSON / JSON Lines / CSV for everything else.

Data goes to stdout, everything else to stderr. Rich is imported only when a table is
actually drawn, so machine output and `--help` stay fast.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from makini_cli.errors import OutputClosed
from makini_cli.output.sanitize import clean


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    #: optional formatter for the table cell (machine formats always get the raw value)
    fmt: Callable[[Any], str] | None = None


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return clean(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return clean(str(value))


def _value(item: dict[str, Any], column: Column) -> str:
    raw = item.get(column.key)
    return column.fmt(raw) if column.fmt else cell(raw)


class Renderer:
    def __init__(
        self,
        *,
        explicit_mode: str | None,
        stdout: TextIO | None = None,
        stdout_is_tty: bool | None = None,
        color: str = "auto",
    ) -> None:
        self.explicit_mode = explicit_mode
        self.stdout = stdout or sys.stdout
        self.is_tty = self.stdout.isatty() if stdout_is_tty is None else stdout_is_tty
        self.color = color

    def mode_for(self, kind: str) -> str:
        """kind: 'object' or 'stream'."""
        if self.explicit_mode:
            return self.explicit_mode
        if self.is_tty:
            return "table"
        return "json" if kind == "object" else "jsonl"

    # ------------------------------------------------------------------ objects

    def object(
        self, item: dict[str, Any], columns: Sequence[Column] | None = None, *, light: bool = False
    ) -> None:
        """`light` draws tables as plain text, for commands that must not import Rich."""
        mode = self.mode_for("object")
        if mode == "json":
            self._write(json.dumps(item, indent=2, ensure_ascii=False) + "\n")
        elif mode == "jsonl":
            self._write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
        elif mode == "csv":
            self.stream([item], columns)
        else:
            self._key_value_table(item, columns, light=light)

    def stream(
        self,
        items: Iterable[dict[str, Any]],
        columns: Sequence[Column] | None,
        *,
        light: bool = False,
    ) -> int:
        """Render a list as it arrives; returns how many items were written."""
        mode = self.mode_for("stream")
        if mode == "jsonl":
            count = 0
            for item in items:
                self._write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
                self.flush()
                count += 1
            return count
        if mode == "json":
            # Streamed as an array so memory stays flat however long the list.
            count = 0
            self._write("[")
            for item in items:
                body = json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n  ")
                self._write(("," if count else "") + "\n  " + body)
                count += 1
            self._write("\n]\n" if count else "]\n")
            return count
        if mode == "csv":
            return self._csv(items, columns)
        return self._table(items, columns, light=light)

    # ------------------------------------------------------------------ formats

    def _csv(self, items: Iterable[dict[str, Any]], columns: Sequence[Column] | None) -> int:
        writer = csv.writer(self.stdout, lineterminator="\n")
        keys: list[str] | None = [c.key for c in columns] if columns else None
        count = 0
        for item in items:
            if keys is None:
                keys = list(item)
            if count == 0:
                writer.writerow(keys)
            writer.writerow([_csv_cell(item.get(k)) for k in keys])
            count += 1
        if count == 0 and keys:
            writer.writerow(keys)
        return count

    def _table(
        self, items: Iterable[dict[str, Any]], columns: Sequence[Column] | None, *, light: bool
    ) -> int:
        rows = list(items)  # a table needs its widths up front; tables are for people, not bulk
        cols = list(columns) if columns else [Column(k, k) for k in (rows[0] if rows else {})]
        if not self.is_tty or light:
            return self._plain_table(rows, cols)
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console(
            file=self.stdout,
            no_color=self.color == "never",
            force_terminal=True if self.color == "always" else None,
            highlight=False,
        )
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in cols:
            table.add_column(col.header, overflow="fold")
        for row in rows:
            table.add_row(*(Text(_value(row, c)) for c in cols))
        if not rows:
            console.print(Text("(none)", style="dim"))
        else:
            console.print(table)
        return len(rows)

    def _plain_table(self, rows: list[dict[str, Any]], cols: list[Column]) -> int:
        """`-o table` when piped: aligned text, no box drawing, colour or truncation."""
        grid = [[c.header.upper() for c in cols]] + [[_value(r, c) for c in cols] for r in rows]
        widths = [max(len(line[i]) for line in grid) for i in range(len(cols))]
        for line in grid:
            self._write(
                "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
            )
        return len(rows)

    def _key_value_table(
        self, item: dict[str, Any], columns: Sequence[Column] | None, *, light: bool
    ) -> None:
        keys = [(c.header, c) for c in columns] if columns else [(k, Column(k, k)) for k in item]
        # On a terminal show every field the API sent, the known ones first.
        if columns:
            known = {c.key for c in columns}
            keys += [(k, Column(k, k)) for k in item if k not in known]
        width = max((len(h) for h, _ in keys), default=0)
        if self.is_tty and not light:
            from rich.console import Console
            from rich.text import Text

            console = Console(file=self.stdout, no_color=self.color == "never", highlight=False)
            for header, col in keys:
                line = Text()
                line.append(header.ljust(width) + "  ", style="bold")
                line.append(_value(item, col))
                console.print(line)
        else:
            for header, col in keys:
                self._write(f"{header.ljust(width)}  {_value(item, col)}\n")

    def text(self, line: str) -> None:
        self._write(line + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stdout.write(text)
        except BrokenPipeError as exc:
            raise OutputClosed() from exc

    def flush(self) -> None:
        try:
            self.stdout.flush()
        except BrokenPipeError as exc:
            raise OutputClosed() from exc


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
