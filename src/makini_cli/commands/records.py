"""`makini records`: a connection's unified records, listed, shown or exported."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from makini_cli.api.errors import APIStatusError
from makini_cli.commands._common import LimitOption, app_ctx, complete_connection_keys, new_app
from makini_cli.commands._query import QueryFlags
from makini_cli.completion import complete_custom_field_names, complete_entities
from makini_cli.context import AppContext
from makini_cli.errors import CliError, UsageError

if TYPE_CHECKING:
    from makini_cli.api.client import Page
    from makini_cli.api.resources.records import RecordQuery, RecordsAPI
    from makini_cli.api.session import ConnectionTokenSession

app = new_app(
    """Read unified records (work orders, assets, …) of a connection, or export them.

    Entities are named as in Makini's paths (work-orders; work_orders works too). The
    category (eam, erp or wms) follows from the connection's platform.

    \b
    Examples:
      makini records list work-orders --connection 10000715260448
      makini records get assets 02123400000001 --connection 10000715260448
      makini records export work-orders --connection 10000715260448 -o csv \\
        --output-file work-orders.csv"""
)

#: How the list commands read --filter, --sort and --fields.
FLAGS = QueryFlags(
    "field",
    filter_hint="write --filter status=open or --filter 'updatedAt:gt=2025-01-01'",
    sort_hint="write --sort dueAt or --sort -updatedAt",
    fields_hint="write --fields key,title,status",
)

Category = Literal["eam", "erp", "wms"]
Match = Literal["all", "any"]
T = TypeVar("T")

EntityArg = Annotated[
    str,
    typer.Argument(
        metavar="ENTITY",
        help="Entity as in Makini's paths: work-orders, assets, sites, … (work_orders works too).",
        autocompletion=complete_entities,
    ),
]
ConnectionOption = Annotated[
    str,
    typer.Option(
        "--connection",
        metavar="KEY",
        help="Connection key (see `makini connections list`).",
        autocompletion=complete_connection_keys,
    ),
]
CategoryOption = Annotated[
    Category | None,
    typer.Option(
        "--category",
        metavar="[eam|erp|wms]",
        help="Read through this category (default: from the connection's platform).",
    ),
]
FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        metavar="FIELD[:OP]=VALUE",
        help="Only records whose FIELD equals VALUE, or compares by OP: contains, startsWith, "
        "gt, gteq, lt, lteq (repeatable; customFields.NAME works too).",
    ),
]
MatchOption = Annotated[
    Match | None,
    typer.Option(
        "--match", metavar="[all|any]", help="Records matching all filters (default) or any."
    ),
]
ModifiedAfterOption = Annotated[
    str | None,
    typer.Option(
        "--modified-after",
        metavar="TIME|AGE",
        help="Only records updated after this ISO-8601 time (UTC unless it says) or this "
        "long ago: 2h, 3d.",
    ),
]
SortOption = Annotated[
    list[str] | None,
    typer.Option(
        "--sort",
        metavar="[-]FIELD",
        help="Order by FIELD, descending with a leading - (repeatable: the first sorts first).",
    ),
]
FieldsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fields",
        metavar="FIELD[,FIELD…]",
        help="Only these fields, in this order: table and CSV columns, JSON keys "
        "(repeatable; customFields.NAME or a custom field's bare NAME).",
        autocompletion=complete_custom_field_names,
    ),
]
PageSizeOption = Annotated[
    int | None,
    typer.Option(
        "--page-size",
        metavar="N",
        min=1,
        max=500,
        help="Records per request, 1 to 500 (default 500).",
    ),
]


# ---------------------------------------------------------------------- arguments


def modified_after(text: str | None, now: datetime) -> str | None:
    """`--modified-after` as the ISO-8601 UTC time the API takes: an ISO time or date
    as given (UTC when it names no zone), or an age (`2h`, `3d`) back from `now`."""
    if text is None:
        return None
    from makini_cli.durations import parse_duration

    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            seconds = parse_duration(value, flag="--modified-after")
        except UsageError:
            raise UsageError(
                f"--modified-after {text!r} is neither an ISO-8601 time nor an age",
                hint="write it like 2025-01-31T08:00:00Z, 2025-01-31, 2h or 3d",
            ) from None
        moment = (now - timedelta(seconds=seconds)).replace(microsecond=0)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _query(
    filters: list[str] | None,
    match: str | None,
    after: str | None,
    sort: list[str] | None,
) -> "RecordQuery":
    from makini_cli.api.resources.records import RecordQuery

    return RecordQuery(
        filters=FLAGS.filters(filters),
        match=match,
        modified_after=modified_after(after, datetime.now(UTC)),
        sort=FLAGS.sort(sort),
    )


# ---------------------------------------------------------------------- which category


@dataclass
class Target:
    """Where a command reads: the connection, its token, the entity and its category."""

    api: "RecordsAPI"
    session: "ConnectionTokenSession"
    key: str
    entity: str
    category: str
    #: how the category was chosen: "flag", "cache" (what an earlier run learnt) or "server"
    source: str


def _all_entities() -> list[str]:
    from makini_cli.vocabulary import ENTITIES

    return list(dict.fromkeys(e for names in ENTITIES.values() for e in names))


def _check_entity(entity: str, category: str, given: str) -> None:
    from makini_cli.vocabulary import ENTITIES

    served = ENTITIES.get(category, ())
    if entity not in served:
        elsewhere = [name for name, entities in ENTITIES.items() if entity in entities]
        where = f" (it is one of {' and '.join(elsewhere)})" if elsewhere else ""
        raise UsageError(
            f"{given!r} is not an entity of the {category} category{where}",
            hint=f"this connection's records are read through {category}: "
            f"{', '.join(served)}",
        )


def _debug(c: AppContext, message: str) -> None:
    if c.settings["debug"]:
        c.debug_log(message)


def _find_category(
    c: AppContext, api: "RecordsAPI", key: str, session: "ConnectionTokenSession"
) -> str:
    """The connection's category, from its platform's kind, else by trying each category;
    remembered for Tab (`records list <Tab>` offers its entities) and for later runs."""
    from makini_cli import completion

    finding = api.category_from_platform(key)
    if finding.category is None:
        _debug(
            c,
            f"records: the platform does not tell the category ({finding.how}); "
            "trying eam, erp, wms",
        )
        finding = api.probe_category(session)
    if finding.category is None:
        raise CliError(
            f"cannot tell which category (eam, erp, wms) the records of connection {key} are in",
            code="CATEGORY_UNKNOWN",
            hint="name it with --category eam|erp|wms",
        )
    _debug(c, f"records: connection {key} reads through {finding.category} ({finding.how})")
    completion.remember_category(completion.scope_of(c.settings), key, finding.category)
    return finding.category


def _target(c: AppContext, key: str, given: str, category: str | None) -> Target:
    from makini_cli import completion
    from makini_cli.api.resources.records import entity_path
    from makini_cli.api.session import ConnectionTokenSession

    entity = entity_path(given)
    known = _all_entities()
    if entity not in known:
        raise UsageError(f"unknown entity {given!r}", hint=f"entities: {', '.join(known)}")
    if category:
        _check_entity(entity, category, given)
    api = c.api.records
    session: ConnectionTokenSession = api.session(key)
    if category:
        return Target(api, session, key, entity, category, "flag")
    remembered = completion.cached(completion.scope_of(c.settings), f"category:{key}")
    if remembered and entity in api.entities(remembered[0][0]):
        _debug(c, f"records: connection {key} reads through {remembered[0][0]} (remembered)")
        return Target(api, session, key, entity, remembered[0][0], "cache")
    found = _find_category(c, api, key, session)
    _check_entity(entity, found, given)
    return Target(api, session, key, entity, found, "server")


def _attempt(c: AppContext, target: Target, call: Callable[[str], T]) -> T:
    """`call(category)`, once more with the category learnt afresh when a remembered one
    meets a 404 (a connection key reused for another platform). An entity path the
    server does not serve is a usage error naming what it serves."""
    from makini_cli.api.resources.records import served_entities

    try:
        try:
            return call(target.category)
        except APIStatusError as exc:
            if exc.status != 404 or target.source != "cache":
                raise
            found = _find_category(c, target.api, target.key, target.session)
            if found == target.category:
                raise
            _check_entity(target.entity, found, target.entity)
            target.category, target.source = found, "server"
        return call(target.category)
    except APIStatusError as exc:
        served = served_entities(exc) if exc.status == 404 else None
        if served is not None:
            raise UsageError(
                f"{target.entity} is not served for connection {target.key} "
                f"under /api/{target.category}",
                code="NOT_FOUND",
                hint=f"served: {', '.join(served)}",
                http_status=404,
                request_id=exc.request_id,
            ) from None
        if exc.status in (400, 422):
            error = c.explain(exc)
            error.hint = (
                "check --filter, --sort and --modified-after: fields as the API names them "
                f"(`makini records list {target.entity} --connection {target.key} -o json "
                "--limit 1` shows them)"
            )
            raise error from None
        raise


def _pages(
    c: AppContext,
    target: Target,
    query: "RecordQuery",
    *,
    limit: int | None,
    per_page: int | None,
) -> Iterator["Page"]:
    """Every page, the first one fetched now (so its errors come before any output)."""
    import itertools

    def first(category: str) -> "tuple[Page | None, Iterator[Page]]":
        pages = target.api.pages(
            target.session, category, target.entity, query=query, limit=limit, per_page=per_page
        )
        return next(pages, None), pages

    head, rest = _attempt(c, target, first)
    if head is None:
        return iter(())
    return itertools.chain([head], rest)


def _write_stream(
    c: AppContext,
    pages: Iterator["Page"],
    mode: str,
    fields: list[str] | None,
    stream: IO[str] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> int:
    from makini_cli.output.records import RecordWriter, whole_or_nothing

    def write(into: IO[str]) -> int:
        writer = RecordWriter(into, mode, fields)
        for page in pages:
            writer.write_page(page.items)
            if on_page is not None:
                on_page(writer.count)
        writer.finish()
        return writer.count

    if stream is not None:
        return write(stream)
    if mode == "json":
        with whole_or_nothing(c.out.stdout) as spool:
            return write(spool)
    return write(c.out.stdout)


# ---------------------------------------------------------------------- commands


@app.command("list")
def list_(
    ctx: typer.Context,
    entity: EntityArg,
    connection: ConnectionOption,
    filter_: FilterOption = None,
    match: MatchOption = None,
    modified_after_: ModifiedAfterOption = None,
    sort: SortOption = None,
    limit: LimitOption = None,
    fields: FieldsOption = None,
    category: CategoryOption = None,
    page_size: PageSizeOption = None,
) -> None:
    """List records: every page to a pipe (jsonl, csv, json), the first page on a terminal.

    On a terminal the table shows the first 50 records, custom fields beside the standard
    fields, and says how many there are; -o jsonl, -o csv and `records export` give them
    all, streamed a page at a time. A failure midway leaves the lines already written,
    each complete; -o json prints its one array only once every page has arrived.

    \b
    Examples:
      makini records list work-orders --connection 10000715260448
      makini records list work-orders --connection 10000715260448 --filter status=open \\
        --filter 'dueAt:lt=2025-02-01' --sort -dueAt --limit 200 -o jsonl
      makini records list assets --connection 10000715260448 --modified-after 2h \\
        --fields key,name,customFields.inspector -o csv
    """
    from makini_cli.output.records import TABLE_ROWS, render_table

    c = app_ctx(ctx)
    query = _query(filter_, match, modified_after_, sort)
    names = FLAGS.fields(fields)
    target = _target(c, connection, entity, category)
    mode = c.out.mode_for("stream")
    if mode in ("table", "wide"):
        # A person reads a page: one request, never a table of thousands of rows.
        size = min(limit or TABLE_ROWS, TABLE_ROWS, page_size or TABLE_ROWS)
        pages = _pages(c, target, query, limit=size, per_page=size)
        head = next(pages, None)
        rows = [r for r in head.items if isinstance(r, dict)] if head else []
        render_table(c.out, rows, names)
        total = head.total if head else None
        if total is not None and len(rows) < total:
            c.msg.notice(
                f"showing {len(rows):,} of {total:,} records "
                "(use -o jsonl or `makini records export` for all)"
            )
        return
    pages = _pages(c, target, query, limit=limit, per_page=page_size)
    _write_stream(c, pages, mode, names)


@app.command("get")
def get(
    ctx: typer.Context,
    entity: EntityArg,
    record_key: Annotated[
        str, typer.Argument(metavar="RECORD_KEY", help="The record's key (its `key` field).")
    ],
    connection: ConnectionOption,
    category: CategoryOption = None,
) -> None:
    """Show one record with every field the API returns.

    \b
    Examples:
      makini records get work-orders 03123400000001 --connection 10000715260448
      makini records get assets 02123400000001 --connection 10000715260448 -o json
    """
    c = app_ctx(ctx)
    target = _target(c, connection, entity, category)

    def read(cat: str) -> dict[str, Any]:
        return target.api.get(target.session, cat, target.entity, record_key)

    try:
        record = _attempt(c, target, read)
    except APIStatusError as exc:
        if exc.status != 404:
            raise
        raise CliError(
            f"no {target.entity} record {record_key!r} on connection {connection}",
            code=exc.code,
            http_status=404,
            request_id=exc.request_id,
            hint=f"`makini records list {target.entity} --connection {connection}` shows the keys",
        ) from None
    mode = c.out.mode_for("object")
    if mode == "csv":
        from makini_cli.output.records import RecordWriter

        writer = RecordWriter(c.out.stdout, "csv")
        writer.write_page([record])
        writer.finish()
        return
    c.out.object(record)


@app.command("export")
def export(
    ctx: typer.Context,
    entity: EntityArg,
    connection: ConnectionOption,
    output_file: Annotated[
        str | None,
        typer.Option(
            "--output-file",
            metavar="PATH",
            help="Write here (created whole or not at all) instead of stdout.",
        ),
    ] = None,
    filter_: FilterOption = None,
    match: MatchOption = None,
    modified_after_: ModifiedAfterOption = None,
    sort: SortOption = None,
    limit: LimitOption = None,
    fields: FieldsOption = None,
    category: CategoryOption = None,
    page_size: PageSizeOption = None,
) -> None:
    """Export every record, streamed a page at a time: jsonl (default), csv or json.

    With --output-file the file appears only once every record is in it: a failure
    leaves no half file under that name (and an existing file untouched). To stdout,
    jsonl and csv lines are written as pages arrive, so a failure midway leaves the lines
    already written, each complete; json is written once whole. Progress shows on a
    terminal's stderr, never on stdout.

    \b
    Examples:
      makini records export work-orders --connection 10000715260448 > work-orders.jsonl
      makini records export assets --connection 10000715260448 -o csv --output-file assets.csv
      makini records export work-orders --connection 10000715260448 --modified-after 1d \\
        -o json --output-file changed.json
    """
    from makini_cli.durations import format_duration
    from makini_cli.output.records import ExportProgress, atomic_file, rate

    c = app_ctx(ctx)
    mode = _export_mode(c)
    query = _query(filter_, match, modified_after_, sort)
    names = FLAGS.fields(fields)
    path = Path(output_file) if output_file and output_file != "-" else None
    if path is not None:
        _check_writable(path)
    target = _target(c, connection, entity, category)
    pages = _pages(c, target, query, limit=limit, per_page=page_size)
    # Not under --debug: its trace lines would run into the progress line.
    shows = c.terminal.is_tty("stderr") and not c.flags.get("quiet") and not c.settings["debug"]
    progress = ExportProgress(c.terminal.stderr if shows else None)
    notify = c.client.notify

    def notify_below(message: str) -> None:
        progress.close()  # a retry notice gets a line of its own; the count comes back below
        notify(message)

    c.client.notify = notify_below
    try:
        if path is None:
            count = _write_stream(c, pages, mode, names, on_page=progress.update)
        else:
            with atomic_file(path) as handle:
                count = _write_stream(c, pages, mode, names, handle, on_page=progress.update)
    finally:
        progress.close()
        c.client.notify = notify
    seconds = progress.elapsed()
    where = f" to {path}" if path is not None else ""
    c.msg.notice(
        f"exported {count:,} record{'' if count == 1 else 's'}{where} in "
        f"{format_duration(seconds)} ({rate(count, seconds)})"
    )


def _export_mode(c: AppContext) -> str:
    """jsonl unless -o (or MAKINI_OUTPUT, or the profile) says json or csv; a table is no
    export format: refused when asked for with -o, ignored as a profile's default."""
    mode = c.out.explicit_mode
    if mode in ("jsonl", "csv", "json"):
        return mode
    if mode and c.settings.origin("output") == "flag":
        raise UsageError(
            f"records export writes jsonl, csv or json, not {mode}",
            hint="use -o jsonl, -o csv or -o json (or `records list` for a table)",
        )
    return "jsonl"


def _check_writable(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(
            f"cannot write {path}: {parent} is not a directory",
            hint="create the directory first, or pick another --output-file",
        )
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory", hint="name a file")
