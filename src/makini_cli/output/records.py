"""Records on stdout or in a file: JSON Lines, CSV, one JSON array, or a table of a page.

Records come a page at a time and leave a page at a time: each page is formatted whole,
written in one piece and flushed, so memory holds one page whatever the export's size,
and a failure between pages leaves only complete lines (jsonl, csv) behind.

Field names (`--fields`, CSV columns, table columns) are the API's: `title`, `siteKey`,
and a custom field as `customFields.<name>`. A bare custom field name (`inspector`, as
Tab offers it) means `customFields.inspector` when the records carry no standard field of
that name. Any dotted name reads into a nested object (`address.city`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

from makini_cli.errors import OutputClosed
from makini_cli.output.ages import parse_time
from makini_cli.output.render import Column, Renderer, csv_value
from makini_cli.output.sanitize import clean, csv_cell, dumps

CUSTOM = "customFields"
#: Rows a table shows at most: a person reads a page, a script asks for -o jsonl.
TABLE_ROWS = 50


def value_at(item: Any, name: str) -> Any:
    """`item[name]`, or for a dotted name the value inside nested objects; None if absent."""
    if not isinstance(item, dict):
        return None
    if name in item or "." not in name:
        return item.get(name)
    value: Any = item
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def resolve_fields(names: Sequence[str], items: Sequence[Any]) -> list[str]:
    """`names` with each bare custom field name spelt `customFields.<name>` (decided on
    `items`, the first page); every name once, in the order given."""
    resolved: list[str] = []
    for name in names:
        if _custom_only(name, items):
            name = f"{CUSTOM}.{name}"
        if name not in resolved:
            resolved.append(name)
    return resolved


def _custom_only(name: str, items: Sequence[Any]) -> bool:
    """Whether bare `name` is a custom field of `items` and none of their own fields."""
    if "." in name or any(isinstance(i, dict) and name in i for i in items):
        return False
    return any(
        isinstance(i, dict) and isinstance(i.get(CUSTOM), dict) and name in i[CUSTOM] for i in items
    )


def standard_and_custom(items: Iterable[Any]) -> list[str]:
    """The fields of `items` in the API's order (first appearance), each custom field as
    `customFields.<name>` after the standard ones."""
    standard: dict[str, None] = {}
    custom: dict[str, None] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        for name, value in item.items():
            if name == CUSTOM and isinstance(value, dict):
                for sub in value:
                    custom.setdefault(f"{CUSTOM}.{sub}", None)
            else:
                standard.setdefault(str(name), None)
    return [*standard, *custom]


def project(item: Any, names: Sequence[str]) -> dict[str, Any]:
    """`item` cut to `names`, nested names kept nested (`customFields.x` →
    `{"customFields": {"x": …}}`). A field the record lacks stays out, as in the API."""
    result: dict[str, Any] = {}
    if not isinstance(item, dict):
        return result
    for name in names:
        if name in item:
            result[name] = item[name]
            continue
        if "." not in name:
            continue
        parts = name.split(".")
        value: Any = item
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            target = result
            for part in parts[:-1]:
                nested = target.setdefault(part, {})
                if not isinstance(nested, dict):
                    break
                target = nested
            else:
                target[parts[-1]] = value
    return result


class RecordWriter:
    """Writes records to `stream` as `jsonl`, `csv` or `json`, a page at a time.

    jsonl: one compact object per line. json: one array, each record compact on its own
    line. csv: a header, then a row per record; the columns are `fields`, or the fields
    of the first page (standard ones in the API's order, then `customFields.<name>`),
    nested values as compact JSON. `fields` also cuts the JSON objects (`project`).
    """

    def __init__(self, stream: IO[str], mode: str, fields: Sequence[str] | None = None) -> None:
        if mode not in ("jsonl", "csv", "json"):
            raise ValueError(f"records cannot be written as {mode!r}")
        self.stream = stream
        self.mode = mode
        self.fields = list(fields) if fields else None
        #: the names written (resolved on the first page), once known
        self.columns: list[str] | None = None
        self.count = 0
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")

    def write_page(self, items: Sequence[Any]) -> None:
        if not items:
            return
        if self.columns is None:
            self._begin(items)
        text = self._format(items)
        self._emit(text)
        self.count += len(items)

    def finish(self) -> None:
        """Close the document: `]` for json (`[]` when empty), the CSV header alone when
        no record came but the columns are known."""
        if self.mode == "json":
            self._emit("[]\n" if self.count == 0 else "\n]\n")
        elif self.mode == "csv" and self.count == 0 and self.fields:
            self._emit(self._csv_rows([[csv_cell(name) for name in self.fields]]))

    def _begin(self, items: Sequence[Any]) -> None:
        if self.fields:
            self.columns = resolve_fields(self.fields, items)
        elif self.mode == "csv":
            self.columns = standard_and_custom(items)
        else:
            self.columns = []
        if self.mode == "csv":
            self._emit(self._csv_rows([[csv_cell(name) for name in self.columns]]))

    def _format(self, items: Sequence[Any]) -> str:
        columns = self.columns or []
        if self.mode == "csv":
            return self._csv_rows([csv_value(value_at(i, c)) for c in columns] for i in items)
        if self.fields:
            items = [project(i, columns) for i in items]
        lines = [dumps(i, separators=(",", ":")) for i in items]
        if self.mode == "jsonl":
            lines.append("")
            return "\n".join(lines)
        opening = "[\n" if self.count == 0 else ",\n"
        return opening + ",\n".join(lines)

    def _csv_rows(self, rows: Iterable[list[str]]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerows(rows)
        return self._buffer.getvalue()

    def _emit(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError as exc:
            raise OutputClosed() from exc


# ---------------------------------------------------------------------- tables


def table_columns(
    rows: Sequence[dict[str, Any]], fields: Sequence[str] | None
) -> tuple[list[Column], list[dict[str, Any]]]:
    """The columns a table of `rows` (one page) shows, and the rows flattened to them.

    Without `fields`: the key, then the standard fields in the API's order, then the
    custom fields, leaving out those empty on every row. On a narrow terminal the nested
    fields (shown as JSON) go first, then the references to other records (`siteKey`:
    long and opaque to a reader), then times, then the other fields, later ones before
    earlier ones; custom fields stay longest (someone defined them to see them). Free
    text is cut with "…" before a column goes; other values are shown whole or not at
    all; times read as ages. With `fields`, the columns go from the last named.
    """
    if fields:
        names = resolve_fields(fields, rows)
    else:
        names = [
            n
            for n in standard_and_custom(rows)
            if n == "key" or any(not _blank(value_at(r, n)) for r in rows)
        ]
        if "key" in names:
            names.remove("key")
            names.insert(0, "key")
    flat = [{n: value_at(r, n) for n in names} for r in rows]
    columns: list[Column] = []
    for position, name in enumerate(names):
        values = [row[name] for row in flat if not _blank(row[name])]
        nested = any(isinstance(v, dict | list) for v in values)
        is_time = bool(values) and all(parse_time(v) is not None for v in values)
        text = not nested and any(isinstance(v, str) and (" " in v or len(v) > 32) for v in values)
        if fields:
            priority = 10_000 - position
        elif name.startswith(f"{CUSTOM}."):
            priority = 9_000 - position
        elif nested:
            priority = -position
        elif name.endswith("Key") or name.endswith("Keys"):
            priority = 2_000 - position
        elif is_time:
            priority = 4_000 - position
        else:
            priority = 6_000 - position
        columns.append(
            Column(
                clean(name),
                name,
                priority=priority,
                keep=name == "key",
                cut=text,
                min_width=16,
                time=is_time,
            )
        )
    return columns, flat


def render_table(
    out: Renderer, rows: Sequence[dict[str, Any]], fields: Sequence[str] | None
) -> int:
    columns, flat = table_columns(rows, fields)
    return out.stream(flat, columns)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


# ---------------------------------------------------------------------- files


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[TextIO]:
    """A file to write `path` through: a temporary file beside it, renamed over `path`
    only once the block ends without an error, so a failed export never leaves half a
    file under the final name (nor touches a file already there). It gets the mode a
    plain `open` would give it (that of the file it replaces, else 0666 less the umask)."""
    directory = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _mode_for(path))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


#: What `whole_or_nothing` keeps in memory before it spills to a temporary file.
SPOOL_MEMORY = 4 * 1024 * 1024


@contextlib.contextmanager
def whole_or_nothing(stream: IO[str]) -> Iterator[IO[str]]:
    """A stand-in for `stream` whose text reaches it only once the block ends without an
    error: `-o json` promises one valid document or nothing, and an array cut short by a
    failed page is neither. Beyond a few MB the text waits on disk, not in memory."""
    with tempfile.SpooledTemporaryFile(
        max_size=SPOOL_MEMORY, mode="w+", encoding="utf-8", newline=""
    ) as spool:
        yield spool
        spool.seek(0)
        try:
            while chunk := spool.read(1 << 16):
                stream.write(chunk)
            stream.flush()
        except BrokenPipeError as exc:
            raise OutputClosed() from exc


# ---------------------------------------------------------------------- progress


class ExportProgress:
    """`12,500 records · 4,100/s` on one line of a terminal's stderr, redrawn at most a
    few times a second and erased at the end; nothing at all when `stream` is None."""

    INTERVAL_S = 0.25

    def __init__(
        self, stream: TextIO | None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.monotonic = monotonic
        self.started = monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, count: int) -> None:
        if self.stream is None:
            return
        now = self.monotonic()
        if now - self._last < self.INTERVAL_S:
            return
        self._last = now
        self.stream.write(f"\r\x1b[2K{count:,} records · {rate(count, now - self.started)}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.stream is not None and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False

    def elapsed(self) -> float:
        return self.monotonic() - self.started


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "-"
