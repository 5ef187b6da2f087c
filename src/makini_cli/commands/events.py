"""`makini events`: the event log, where everything webhooks announce is kept in order."""

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from makini_cli.commands._common import app_ctx, new_app
from makini_cli.completion import complete_connection_keys
from makini_cli.errors import QuietExit, UsageError, interruption_code

if TYPE_CHECKING:
    from makini_cli.api.errors import APIError
    from makini_cli.context import AppContext
    from makini_cli.models.event import Event

app = new_app(
    """Read the event log: syncs, connection changes and record updates, as webhooks get them.

    \b
    Examples:
      makini events tail --since 1h
      makini events tail --follow --event sync.failed
      makini events tail --connection 10000715260448 -o jsonl | jq -r .event"""
)


class EventName(StrEnum):
    """The events Makini announces (contract §7). An Enum, not a Literal: Typer takes a
    repeatable option of Enum values only. Either way a wrong name is exit 2, listing
    the valid ones."""

    SYNC_COMPLETED = "sync.completed"
    SYNC_FAILED = "sync.failed"
    CONNECTION_AUTH_REQUIRED = "connection.auth_required"
    CONNECTION_STATUS_CHANGED = "connection.status_changed"
    SYSTEM_ERROR = "system.error"
    PING = "ping"
    SITES_INSERTED = "sites.inserted"
    SITES_UPDATED = "sites.updated"
    ASSETS_INSERTED = "assets.inserted"
    ASSETS_UPDATED = "assets.updated"
    PURCHASE_ORDERS_INSERTED = "purchase_orders.inserted"
    PURCHASE_ORDERS_UPDATED = "purchase_orders.updated"
    WORK_ORDERS_INSERTED = "work_orders.inserted"
    WORK_ORDERS_UPDATED = "work_orders.updated"
    # (ext) a custom field defined, changed or removed
    CUSTOM_FIELD_CREATED = "custom_field.created"
    CUSTOM_FIELD_UPDATED = "custom_field.updated"
    CUSTOM_FIELD_DELETED = "custom_field.deleted"
    # (ext) a sync started; a connection's status fields changed with no other event
    SYNC_STARTED = "sync.started"
    CONNECTION_UPDATED = "connection.updated"


EVENT_NAMES: tuple[str, ...] = tuple(name.value for name in EventName)
#: The longest pause between polls of a follow while the log is quiet.
DEFAULT_INTERVAL = "5s"

EventsOption = Annotated[
    list[EventName] | None,
    typer.Option(
        "--event",
        metavar="EVENT",
        help="Only this event, e.g. sync.failed or work_orders.updated (repeatable).",
    ),
]
ConnectionOption = Annotated[
    str | None,
    typer.Option(
        "--connection",
        metavar="KEY",
        help="Only events of this connection.",
        autocompletion=complete_connection_keys,
    ),
]


def event_values(names: Iterable[EventName] | None) -> list[str]:
    """The names as the API spells them, each once, in the order given."""
    return list(dict.fromkeys(name.value for name in names or ()))


@app.command("tail")
def tail(
    ctx: typer.Context,
    connection: ConnectionOption = None,
    event: EventsOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DURATION", help="Only events of this last while, e.g. 1h."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", min=1, help="Only the last N events (then follow)."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            metavar="DURATION",
            help=f"With --follow: the longest pause between polls (default {DEFAULT_INTERVAL}).",
        ),
    ] = None,
    max_events: Annotated[
        int | None,
        # Ends a follow after N events: for tests and scripts that wait for something.
        typer.Option("--max-events", metavar="N", min=1, hidden=True),
    ] = None,
) -> None:
    """Print the event log, oldest first; with --follow, keep printing new events.

    On a terminal each event is one line (its age, name, connection and what happened);
    piped, one JSON object per line, flushed as it comes. A failure to reach the API
    while following is reported on stderr and the follow goes on; Ctrl-C ends it (exit
    130). --since is measured on this machine's clock.

    \b
    Examples:
      makini events tail
      makini events tail --since 1h --event sync.failed --event connection.auth_required
      makini events tail --follow --connection 10000715260448
      makini events tail -f -o jsonl | jq -c 'select(.event == "sync.failed")'
    """
    from collections import deque
    from itertools import islice

    from makini_cli.durations import parse_duration

    c = app_ctx(ctx)
    since_s = None if since is None else parse_duration(since, flag="--since")
    if interval is not None and not follow:
        raise UsageError("--interval only applies with --follow", hint="add --follow")
    ceiling = parse_duration(interval or DEFAULT_INTERVAL, flag="--interval")
    mode = c.out.mode_for("stream")
    if follow and mode == "json":
        raise UsageError(
            "--follow never ends, so it cannot print one JSON document",
            hint="use -o jsonl (the default when piped): one event per line",
        )
    api = c.api.events
    cursor = api.cursor(
        connection_key=connection, events=tuple(event_values(event)), since_seconds=since_s
    )

    def events() -> "Iterator[Event]":
        backlog: Iterable[Event] = cursor.read()
        if limit is not None:
            backlog = deque(backlog, maxlen=limit)  # the last N, in constant memory
        yield from backlog
        if follow:
            yield from api.follow(
                cursor,
                interval=ceiling,
                on_error=lambda exc, wait: _failed(c, exc, wait),
                on_recovered=lambda: c.msg.notice("reading the event log again"),
            )

    found: Iterator[Event] = events()
    if max_events is not None:
        found = islice(found, max_events)
    try:
        if follow:
            c.msg.notice("following the event log; Ctrl-C stops")
        if follow and mode in ("table", "wide"):
            _print_lines(c, found)
        else:
            from makini_cli.output import columns

            c.out.stream((e.to_api() for e in found), columns.EVENTS)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as `Terminated`
        raise QuietExit(interruption_code(exc)) from None


def _print_lines(c: "AppContext", found: "Iterator[Event]") -> None:
    """One line per event as it comes: on a terminal with an age, colour and the width
    of the terminal; piped (`-o table`), plain with the absolute time."""
    import shutil

    from makini_cli.output import columns

    out = c.out
    tty = out.is_tty
    paint = out.color == "always" or (out.color == "auto" and tty)
    width = (out.width or shutil.get_terminal_size().columns) if tty else None
    for event in found:
        now = out.now() if tty else None
        out.line(columns.event_line(event.to_api(), now, paint=paint, width=width))


def _failed(c: "AppContext", exc: "APIError", wait: float) -> None:
    from makini_cli.durations import format_duration

    err = c.explain(exc)
    c.msg.warn(
        f"could not read the event log: {err.message} [{err.code}]; "
        f"trying again in {format_duration(wait)}"
    )
