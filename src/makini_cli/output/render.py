"""Renderers: Rich tables on a terminal, JSON / JSON Lines / CSV for everything else.

Data goes to stdout, everything else to stderr. Rich is imported only when a table is
actually drawn, so machine output and `--help` stay fast; the plain-text paths (piped
tables, `light=True`) use the standard library only.

A failed command leaves stdout with complete data or none: `-o json` writes its one
document only once the whole list has arrived, while jsonl and csv stream complete lines.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO
from unicodedata import east_asian_width

from makini_cli.errors import OutputClosed
from makini_cli.output.ages import absolute, age, parse_time, utc_now
from makini_cli.output.sanitize import clean, csv_cell, dumps

if TYPE_CHECKING:
    from rich.console import Console

#: Blank cells between two table columns (Rich's default padding without box drawing).
GAP = 2


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    #: optional formatter for the table cell (machine formats always get the raw value)
    fmt: Callable[[Any], str] | None = None
    #: When a terminal is too narrow, the column with the lowest priority is dropped first.
    priority: int = 0
    #: Keys and ids: never dropped and never cut, since a partial id is worse than none.
    keep: bool = False
    #: Free text (names, messages): cut with "…" down to `min_width` before anything is
    #: dropped for it.
    cut: bool = False
    min_width: int = 12
    #: An ISO-8601 time: an age ("5m ago") on a terminal, the absolute time elsewhere.
    time: bool = False
    #: The Rich style of a cell on a terminal, from its raw value (a status's colour).
    style: Callable[[Any], str | None] | None = None


def _styled(text: Any, shown: str, col: Column, row: Mapping[str, Any]) -> Any:
    """`shown` as a Rich Text (`text` is the class, imported by the caller), in the
    column's style for the row's raw value; colour itself is the console's to drop."""
    style = col.style(row.get(col.key)) if col.style is not None else None
    return text(shown, style=style or "")


def cell(value: Any) -> str:
    """A value as one line of terminal-safe text (`clean` also turns a newline or tab
    into a space: tables are one line per row, on a terminal and in a pipe)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        # Shown as compact JSON of cleaned strings: an escape like \u001b would be inert,
        # but would still spell out the sequence the server sent.
        return clean(dumps(_cleaned(value), separators=(",", ":")))
    return clean(str(value))


def _cleaned(value: Any) -> Any:
    """A nested value with every string in it (keys too) cleaned, for display only."""
    if isinstance(value, dict):
        return {clean(str(k)): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return clean(value) if isinstance(value, str) else value


def _value(item: Mapping[str, Any], column: Column, now: datetime | None = None) -> str:
    """A table cell; `now` (terminals only) turns time columns into ages."""
    raw = item.get(column.key)
    if column.fmt:
        return clean(column.fmt(raw))
    if column.time and now is not None and (moment := parse_time(raw)) is not None:
        return age(moment, now)
    return cell(raw)


def fit_columns(
    columns: Sequence[Column], natural: Sequence[int], width: int, *, gap: int = GAP
) -> list[tuple[int, int]]:
    """Which columns a table `width` cells wide shows, and how wide: (index, width) pairs.

    `natural` is each column's widest cell (header included). Free-text columns are cut
    to their `min_width` first; if that is not enough, the lowest-priority column that is
    not a key goes (the rightmost of equals), and so on; then a dropped column that fits
    in what the later drops freed comes back; whatever room is left goes back to the cut
    columns. When only keys are left and they still do not fit, they are
    shown whole anyway: the terminal may wrap the line, but no key is ever split.
    """

    def floor(i: int) -> int:
        col = columns[i]
        if not col.cut:
            return natural[i]
        return min(natural[i], max(col.min_width, len(col.header)))

    def needs(indices: list[int]) -> int:
        return sum(floor(i) for i in indices) + gap * max(0, len(indices) - 1)

    shown = list(range(len(columns)))
    dropped: list[int] = []
    while shown and needs(shown) > width:
        droppable = [i for i in shown if not columns[i].keep]
        if not droppable:
            break
        victim = min(droppable, key=lambda i: (columns[i].priority, -i))
        shown.remove(victim)
        dropped.append(victim)
    # Dropping a wide column may leave room for a narrower one that went before it: a
    # column stays out only if it does not fit.
    for i in reversed(dropped):
        if needs(sorted([*shown, i])) <= width:
            shown = sorted([*shown, i])
    widths = {i: floor(i) for i in shown}
    spare = width - sum(widths.values()) - gap * max(0, len(shown) - 1)
    for i in shown:
        if spare <= 0:
            break
        grow = min(spare, natural[i] - widths[i])
        widths[i] += grow
        spare -= grow
    return [(i, widths[i]) for i in shown]


class Renderer:
    def __init__(
        self,
        *,
        explicit_mode: str | None,
        stdout: TextIO | None = None,
        stdout_is_tty: bool | None = None,
        color: str = "auto",
        width: int | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """`width` fixes the terminal width (default: Rich asks the terminal, or $COLUMNS);
        `now` is the clock ages are measured against (tests pin it)."""
        self.explicit_mode = explicit_mode
        self.stdout = stdout or sys.stdout
        self.is_tty = self.stdout.isatty() if stdout_is_tty is None else stdout_is_tty
        self.color = color
        self.width = width
        self.now = now or utc_now

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
            self._write(dumps(item, indent=2) + "\n")
        elif mode == "jsonl":
            self._write(dumps(item, separators=(",", ":")) + "\n")
        elif mode == "csv":
            self.stream([item], columns)
        else:
            self._detail(item, columns, light=light)

    def stream(
        self,
        items: Iterable[dict[str, Any]],
        columns: Sequence[Column] | None,
        *,
        light: bool = False,
    ) -> int:
        """Render a list; returns how many items were written."""
        mode = self.mode_for("stream")
        if mode == "jsonl":
            count = 0
            for item in items:
                # One write per complete line, flushed: a reader never sees half an object,
                # and a failure on a later page leaves only whole lines behind.
                self._write(dumps(item, separators=(",", ":")) + "\n")
                self.flush()
                count += 1
            return count
        if mode == "json":
            # `-o json` promises one valid document. Streaming the array would leave a
            # dangling "[" (or half a list) on stdout when a later page fails, which a
            # script reads as data; so the list is collected and written only once it is
            # complete. Constant memory is what jsonl is for.
            collected = list(items)
            self._write(dumps(collected, indent=2) + "\n")
            return len(collected)
        if mode == "csv":
            return self._csv(items, columns)
        return self._table(items, columns, light=light, wide=mode == "wide")

    # ------------------------------------------------------------------ formats

    def _csv(self, items: Iterable[dict[str, Any]], columns: Sequence[Column] | None) -> int:
        # CSV streams like jsonl: each row is formatted whole, then written and flushed in
        # one piece, so a failure mid-list never leaves half a row.
        import csv  # only -o csv needs it

        line = io.StringIO()
        writer = csv.writer(line, lineterminator="\n")
        keys: list[str] | None = [c.key for c in columns] if columns else None

        def emit(values: list[Any]) -> None:
            line.seek(0)
            line.truncate()
            writer.writerow(values)
            self._write(line.getvalue())
            self.flush()

        count = 0
        for item in items:
            if keys is None:
                keys = list(item)
            if count == 0:
                emit([csv_cell(str(k)) for k in keys])
            emit([csv_value(item.get(k)) for k in keys])
            count += 1
        if count == 0 and keys:
            emit([csv_cell(str(k)) for k in keys])
        return count

    def _table(
        self,
        items: Iterable[dict[str, Any]],
        columns: Sequence[Column] | None,
        *,
        light: bool,
        wide: bool = False,
    ) -> int:
        rows = list(items)  # a table needs its widths up front; tables are for people, not bulk
        # Headers are ours, except when a list has no columns of its own: then they are
        # the items' field names, which the server chose.
        cols = [
            replace(c, header=clean(c.header))
            for c in (columns or [Column(str(k), k) for k in (rows[0] if rows else {})])
        ]
        if not self.is_tty:
            # Piped, `table` and `wide` are the same aligned text with every column, whole
            # values and absolute times, because scripts may parse it.
            return self._plain_table(rows, cols, None, None)
        if light:
            return self._plain_table(rows, cols, self.now(), None if wide else self._width())
        from rich.cells import cell_len
        from rich.table import Table
        from rich.text import Text

        if not rows:
            self._console().print(Text("(none)", style="dim"))
            return 0
        now = self.now()
        grid = [[_value(row, c, now) for c in cols] for row in rows]
        natural = [
            max(cell_len(c.header), *(cell_len(line[i]) for line in grid))
            for i, c in enumerate(cols)
        ]
        terminal = self.width or self._console().width
        fitted = list(enumerate(natural)) if wide else fit_columns(cols, natural, terminal)
        needed = sum(w for _, w in fitted) + GAP * max(0, len(fitted) - 1)
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for i, w in fitted:
            col = cols[i]
            if col.cut and not wide:
                table.add_column(
                    Text(col.header), no_wrap=True, overflow="ellipsis", width=w, min_width=w
                )
            else:
                # Never narrower than its widest value: keys and times are not cut or folded.
                table.add_column(Text(col.header), no_wrap=True, overflow="ignore", min_width=w)
        for row, line in zip(rows, grid, strict=True):
            table.add_row(*(_styled(Text, line[i], cols[i], row) for i, _ in fitted))
        # Wide enough for the table as fitted, so Rich never squeezes a column itself; only
        # `-o wide` (or keys that cannot fit) makes it wider than the terminal.
        self._console(width=max(terminal, needed)).print(table)
        return len(rows)

    def _console(self, width: int | None = None) -> Console:
        from rich.console import Console

        return Console(
            file=self.stdout,
            width=width or self.width,
            no_color=self.color == "never",
            force_terminal=True if self.color == "always" else None,
            highlight=False,
        )

    def _width(self) -> int:
        """The terminal's width without Rich ($COLUMNS, then the terminal itself)."""
        import shutil

        return self.width or shutil.get_terminal_size().columns

    def _plain_table(
        self,
        rows: list[dict[str, Any]],
        cols: list[Column],
        now: datetime | None,
        width: int | None,
    ) -> int:
        """Aligned text without box drawing or colour: `-o table` piped (every column,
        whole), and `light` tables on a terminal (fitted to `width` like Rich tables)."""
        grid = [[c.header.upper() for c in cols]] + [
            [_value(r, c, now) for c in cols] for r in rows
        ]
        natural = [max(cell_width(line[i]) for line in grid) for i in range(len(cols))]
        fitted = list(enumerate(natural)) if width is None else fit_columns(cols, natural, width)
        for line in grid:
            cells = [_pad(_truncate(line[i], w), w) for i, w in fitted]
            self._write(("  ".join(cells)).rstrip() + "\n")
        return len(rows)

    def _detail(
        self, item: dict[str, Any], columns: Sequence[Column] | None, *, light: bool
    ) -> None:
        """One object as label/value rows: `connections get`, `sync get`, `auth status`…

        Labels are the API's field names with spaces for underscores, in every detail
        view; the table's columns only choose which fields come first. Nested objects
        become indented sub-rows, lists of scalars one comma-separated value, and empty
        fields are left out.
        """
        order = list(dict.fromkeys([*(c.key for c in columns or ()), *item]))
        rows = detail_rows(item, order, self.now() if self.is_tty else None)
        if self.is_tty and not light:
            from rich.table import Table
            from rich.text import Text

            grid = Table.grid(padding=(0, GAP))
            grid.add_column(no_wrap=True, style="bold")
            # A detail view has one value per line, so a long value wraps within its own
            # column (under itself) instead of under the labels.
            grid.add_column(overflow="fold")
            for label, value in rows:
                grid.add_row(Text(label), Text(value))
            self._console().print(grid)
            return
        width = max((len(label) for label, _ in rows), default=0)
        for label, value in rows:
            self._write(f"{label.ljust(width)}  {value}".rstrip() + "\n")

    def text(self, line: str) -> None:
        """One plain line on stdout; whatever of it came from the server is cleaned."""
        self._write(clean(line) + "\n")

    def line(self, text: str) -> None:
        """One line we composed, flushed at once (a follow's reader sees each as it
        comes). It may carry our own colour codes, so it is not cleaned here: the caller
        cleans every value the server or a sender chose before painting (`text` instead
        cleans the whole line, paint included)."""
        self._write(text + "\n")
        self.flush()

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


def cell_width(text: str) -> int:
    """Terminal cells `text` takes: East Asian wide characters take two."""
    return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def _truncate(text: str, width: int) -> str:
    if cell_width(text) <= width:
        return text
    kept, used = [], 0
    for ch in text:
        used += cell_width(ch)
        if used > width - 1:  # room for the "…"
            break
        kept.append(ch)
    return "".join(kept) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_width(text))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _label(key: Any) -> str:
    return clean(str(key)).replace("_", " ")


def _detail_value(value: Any, now: datetime | None) -> str:
    if now is not None and (moment := parse_time(value)) is not None:
        # A detail view has room for both: the age to read, the time to quote.
        return f"{age(moment, now)} ({absolute(moment)})"
    return cell(value)


#: Fields whose keys are the user's own names (metadata keys, profile names): shown as
#: they are, not in the label style of the API's field names.
USER_NAMED = frozenset({"user_metadata", "profiles"})


def detail_rows(
    data: Mapping[str, Any],
    keys: Iterable[Any],
    now: datetime | None,
    indent: str = "",
    *,
    verbatim: bool = False,
) -> list[tuple[str, str]]:
    """(label, value) rows of a detail view; `now` (terminals only) adds ages to times;
    `verbatim` keeps this level's keys as written (they are the user's names)."""
    rows: list[tuple[str, str]] = []
    for key in keys:
        value = data.get(key)
        if _empty(value):
            continue
        label = indent + (clean(str(key)) if verbatim else _label(key))
        if isinstance(value, dict):
            nested = detail_rows(value, list(value), now, indent + "  ", verbatim=key in USER_NAMED)
            if nested:
                rows += [(label, ""), *nested]
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            block: list[tuple[str, str]] = []
            for n, element in enumerate(value, 1):
                if isinstance(element, dict):
                    nested = detail_rows(element, list(element), now, indent + "    ")
                    if nested:
                        block += [(f"{indent}  #{n}", ""), *nested]
                elif not _empty(element):
                    block.append((f"{indent}  #{n}", _detail_value(element, now)))
            if block:
                rows += [(label, ""), *block]
        elif isinstance(value, list):
            shown = [_detail_value(v, now) for v in value if not _empty(v)]
            if shown:
                rows.append((label, ", ".join(shown)))
        else:
            rows.append((label, _detail_value(value, now)))
    return rows


def csv_value(value: Any) -> str:
    """One CSV cell: empty for null, compact JSON for nested values, `true`/`false`,
    strings cleaned and never read as a formula (`csv_cell`), numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return csv_cell(value)
    # Numbers (and anything else not a string) are formatted by us: a negative number
    # stays a number, not a neutralised "'-3".
    return clean(str(value))
