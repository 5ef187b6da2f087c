"""`makini raw`: a connected system's own tables and rows, before Makini's unified model."""

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from makini_cli import completion
from makini_cli.commands._common import KeyArg, app_ctx, new_app
from makini_cli.commands._query import QueryFlags
from makini_cli.errors import CliError, UsageError

if TYPE_CHECKING:
    from makini_cli.api.errors import APIStatusError
    from makini_cli.context import AppContext
    from makini_cli.output.render import Column

app = new_app(
    """Read a connected system's own tables, as Makini sees them.

    The tables and columns are the system's own (SAP's AUFK, Maximo's WORKORDER, …), as
    Makini reads them before mapping them to unified records.

    \b
    Examples:
      makini raw tables 10000482937115
      makini raw rows 10000482937115 AUFK
      makini raw rows 10000482937115 AUFK --filter AUART=PM01 --sort -AEDAT -o jsonl"""
)

#: Rows a table on a terminal shows without --limit: one page.
TABLE_ROWS = 50
#: The most rows a terminal table shows: Rich tables are slow beyond about a thousand,
#: and nobody reads that many on a screen.
TABLE_MAX = 500
#: Table names a hint lists before it says how many more there are.
HINT_TABLES = 30
#: How `raw rows` reads --filter, --sort and --fields: a table's fields are its columns.
FLAGS = QueryFlags(
    "column",
    filter_hint="write it like --filter AUART=PM01 or --filter KTEXT:contains=pump",
    sort_hint="write it like --sort AEDAT or --sort -AEDAT",
    fields_hint="write it like --fields AUFNR,KTEXT",
)

TableArg = Annotated[
    str,
    typer.Argument(
        metavar="TABLE",
        help="Table name, as the system spells it (see `makini raw tables KEY`).",
        autocompletion=completion.complete_raw_tables,
    ),
]


def _scope(c: "AppContext") -> str:
    return completion.scope_of(c.settings)


def _describe(table: dict[str, Any]) -> str | None:
    columns = table.get("columns")
    parts = [f"{len(columns)} columns"] if isinstance(columns, list) else []
    if isinstance(table.get("rows"), int):
        parts.append(f"{table['rows']} rows")
    if table.get("custom") is True:
        parts.append("custom")
    return ", ".join(parts) or None


def _remember(c: "AppContext", key: str, names: Iterable[tuple[str, str | None]]) -> None:
    completion.remember_raw_tables(_scope(c), key, names)


def _count(value: Any) -> str:
    return str(len(value)) if isinstance(value, list) else ""


def _joined(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else ""


def _table_columns(tables: list[dict[str, Any]]) -> "list[Column]":
    """TABLE, COLUMNS (how many), ROWS and CUSTOM where the server says, then the
    column names, cut first when the terminal is narrow."""
    from makini_cli.output.render import Column

    found = [Column("TABLE", "name", keep=True), Column("COLUMNS", "columns", fmt=_count)]
    if any("rows" in t for t in tables):
        found.append(Column("ROWS", "rows"))
    if any("custom" in t for t in tables):
        found.append(Column("CUSTOM", "custom", fmt=lambda v: "custom" if v is True else ""))
    found.append(Column("NAMES", "columns", fmt=_joined, cut=True, min_width=20, priority=-1))
    return found


@app.command("tables")
def tables(ctx: typer.Context, key: KeyArg) -> None:
    """List the tables of a connection's system, with their columns.

    Where the server says, also how many rows each has and whether it is the customer's
    own (custom) table. Tab then completes the table names of `raw rows KEY`.

    \b
    Examples:
      makini raw tables 10000482937115
      makini raw tables 10000482937115 -o json | jq -r '.[].name'
    """
    c = app_ctx(ctx)
    found = c.api.raw.tables(key)
    _remember(
        c, key, [(str(t["name"]), _describe(t)) for t in found if isinstance(t.get("name"), str)]
    )
    mode = c.out.mode_for("stream")
    c.out.stream(iter(found), _table_columns(found) if mode in ("table", "wide") else None)


def _project(rows: Iterable[dict[str, Any]], fields: list[str] | None) -> Iterator[dict[str, Any]]:
    """Only `fields` of each row, in that order. A field the first row lacks is a usage
    error before anything is printed (rows of one table share their columns)."""
    checked = False
    for row in rows:
        if fields is None:
            yield row
            continue
        if not checked:
            missing = [f for f in fields if f not in row]
            if missing:
                raise UsageError(
                    f"--fields: the table has no column {', '.join(map(repr, missing))}",
                    hint=f"its columns: {', '.join(map(str, row))}",
                )
            checked = True
        yield {f: row.get(f) for f in fields}


def _unknown_table(c: "AppContext", key: str, table: str, exc: "APIStatusError") -> CliError:
    """The 404 of a table the system lacks, with the tables it has (details.tables)."""
    names = [str(n) for n in exc.details.get("tables") or () if isinstance(n, str)]
    if names:
        _remember(c, key, [(n, None) for n in names])
    shown = ", ".join(names[:HINT_TABLES])
    if len(names) > HINT_TABLES:
        shown += f", … ({len(names) - HINT_TABLES} more: `makini raw tables {key}`)"
    return CliError(
        f"the system of connection {key} has no table {table!r}",
        code=exc.code,
        http_status=exc.status,
        request_id=exc.request_id,
        details=exc.details,
        hint=f"its tables: {shown}" if names else f"see `makini raw tables {key}`",
    )


@app.command("rows")
def rows(
    ctx: typer.Context,
    key: KeyArg,
    table: TableArg,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            min=1,
            help=f"Stop after N rows (on a terminal: default {TABLE_ROWS}, at most {TABLE_MAX}).",
        ),
    ] = None,
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="COLUMN[:OP]=VALUE",
            help="Only rows whose COLUMN equals VALUE, or matches it by OP: contains, "
            "startsWith, gt, gteq, lt, lteq (repeatable; all must match).",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort", metavar="[-]COLUMN", help="Order by COLUMN; a leading - for descending."
        ),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option("--fields", metavar="A,B,…", help="Only these columns, in this order."),
    ] = None,
) -> None:
    """Print the rows of one table of a connection's system.

    On a terminal, a table of the first rows (50 unless --limit) and, on stderr, how
    many there are. Piped, or with -o jsonl/csv, every row (or --limit of them), streamed
    page by page.

    \b
    Examples:
      makini raw rows 10000482937115 AUFK
      makini raw rows 10000482937115 AUFK --filter AUART=PM01 --sort -AEDAT --limit 20
      makini raw rows 10000482937115 AUFK --fields AUFNR,KTEXT -o csv > orders.csv
      makini raw rows 10000482937115 EQUI -o jsonl | jq -r .EQUNR
    """
    from makini_cli.api.errors import APIStatusError
    from makini_cli.api.query import list_params

    params = list_params(FLAGS.filters(filter_), FLAGS.sort(None if sort is None else [sort]))
    wanted = FLAGS.fields(None if fields is None else [fields])
    c = app_ctx(ctx)
    api = c.api.raw
    mode = c.out.mode_for("stream")
    try:
        if mode not in ("table", "wide"):
            c.out.stream(_project(api.rows(key, table, params=params, limit=limit), wanted), None)
            return
        size = min(limit or TABLE_ROWS, TABLE_MAX)
        page = api.first_page(key, table, params=params, size=size)
        shown = c.out.stream(_project(page.rows, wanted), None)
    except APIStatusError as exc:
        if exc.status == 404 and isinstance(exc.details.get("tables"), list):
            raise _unknown_table(c, key, table, exc) from None
        raise
    if page.total is not None and page.total > shown:
        more = (
            f"a table shows at most {TABLE_MAX}; -o jsonl or -o csv prints them all"
            if limit is not None and limit > TABLE_MAX
            else "--limit N shows more, -o jsonl prints them all"
        )
        c.msg.notice(f"showing {shown} of {page.total} rows; {more}")
