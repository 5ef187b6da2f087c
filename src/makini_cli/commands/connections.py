"""`makini connections`: the connected systems of the account."""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from makini_cli.api.errors import APIStatusError
from makini_cli.commands._common import (
    SECRET_FIELD_WORDS,
    KeyArg,
    LimitOption,
    YesOption,
    app_ctx,
    keys_arg,
    new_app,
)
from makini_cli.commands._common import idempotency_key as check_idempotency_key
from makini_cli.context import AppContext
from makini_cli.errors import UsageError
from makini_cli.vocabulary import ConnectionStatus, Health

if TYPE_CHECKING:
    from makini_cli.api.watch import Condition, StatusWatch

app = new_app(
    """List, inspect, create and delete connections to industrial systems.

    \b
    Examples:
      makini connections list --health offline
      makini connections get 10000715260448
      makini connections status"""
)
metadata_app = new_app(
    """Read and write a connection's key/value metadata.

    \b
    Examples:
      makini connections metadata get 10000715260448
      makini connections metadata set 10000715260448 site=plant-2"""
)
app.add_typer(metadata_app, name="metadata")

Status = ConnectionStatus
#: Output modes that print the API's objects as they are.
MACHINE_MODES = ("json", "jsonl", "csv")


StatusOption = Annotated[
    Status | None,
    typer.Option(
        "--status",
        metavar="[pending|synchronizing|in_progress|active|inactive|overage|offline|"
        "reauth_required]",
        help="Only connections in this status.",
    ),
]
HealthOption = Annotated[
    Health | None,
    typer.Option(
        "--health",
        metavar="[online|offline|reauth_required]",
        help="Only connections with this health.",
    ),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    status: StatusOption = None,
    health: HealthOption = None,
    limit: LimitOption = None,
) -> None:
    """List connections (every page; --limit stops early).

    \b
    Examples:
      makini connections list
      makini connections list --status active --health offline
      makini connections list -o jsonl | jq -r .key
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    seen: list[tuple[str, str | None]] = []

    def rows() -> Iterator[dict[str, Any]]:
        for conn in c.connections.list(status=status, health=health, limit=limit):
            seen.append((conn.key, conn.name))
            yield conn.to_api()

    c.out.stream(rows(), columns.CONNECTIONS)
    # An unfiltered, complete list replaces what Tab offers; anything else adds to it.
    c.remember_connections(seen, complete=not (status or health or limit))


@app.command("get")
def get(ctx: typer.Context, key: KeyArg) -> None:
    """Show one connection with every field the API returns.

    \b
    Examples:
      makini connections get 10000715260448
      makini connections get 10000715260448 -o json
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    try:
        conn = c.connections.get(key)
    except APIStatusError as exc:
        if exc.status == 404:
            c.forget_connections([key])
        raise
    c.remember_connections([(conn.key, conn.name)])
    # Machine formats keep the server's own values (Makini's scopes and metadata are
    # strings); a detail view lists the scopes and shows each metadata entry on its row.
    machine = c.out.mode_for("object") in MACHINE_MODES
    c.out.object(conn.to_api() if machine else conn.for_display(), columns.CONNECTIONS)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not KEY=VALUE", hint=f"write {what} as KEY=VALUE")
        result[key] = value
    return result


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(metavar="NAME", help="Connection name.")],
    email: Annotated[str, typer.Option(metavar="EMAIL", help="Contact email of the connection.")],
    platform: Annotated[
        str,
        typer.Option(
            "--platform",
            "--provider",
            metavar="PLATFORM",
            help="Platform key (e.g. upkeep, sap-s4hana).",
        ),
    ],
    credential: Annotated[
        list[str] | None,
        typer.Option(
            "--credential",
            metavar="FIELD=VALUE",
            help="A non-secret credential field (repeatable).",
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            metavar="FIELD",
            help="A secret credential field to prompt for without echo (repeatable).",
        ),
    ] = None,
    credentials_file: Annotated[
        str | None,
        typer.Option(
            "--credentials-file",
            metavar="FILE",
            help="JSON object of credential fields, or - for stdin.",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(metavar="KEY", help="Makes a retried create safe (default: one per run)."),
    ] = None,
) -> None:
    """Connect a system. Secrets are prompted for or read from a file, never taken from argv.

    \b
    Examples:
      makini connections create --name Plant --email ops@example.com --platform upkeep \\
        --secret api_key
      makini connections create --name Plant --email ops@example.com --platform fiix \\
        --credentials-file creds.json
    """
    c = app_ctx(ctx)
    creds: dict[str, Any] = {}
    if credentials_file:
        creds.update(_read_credentials_file(c, credentials_file))
    given = _pairs(credential or [], "--credential")
    for field_name in given:
        if any(word in field_name.lower() for word in SECRET_FIELD_WORDS):
            c.msg.warn(
                f"--credential {field_name}=… puts a secret in the command line, where other "
                "local users and the shell history can read it; use --secret "
                f"{field_name} (asked without echo) or --credentials-file"
            )
    creds.update(given)
    for field in secret or []:
        creds[field] = _prompt_secret(c, field)
    created = c.connections.create(
        name=name,
        email=email,
        provider=platform,
        credentials=creds,
        idempotency_key=check_idempotency_key(idempotency_key),
    )
    data = created.to_api()
    # The answer holds the new connection's token pair: print the key, not the tokens.
    shown = {k: v for k, v in data.items() if k not in ("access_token", "refresh_token")}
    c.msg.notice(f"created connection {created.key or '(key not returned)'}")
    if created.key:
        c.remember_connections([(created.key, name)])
    c.out.object(shown)


def _read_credentials_file(c: AppContext, path: str) -> dict[str, Any]:
    try:
        text = c.terminal.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the path"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}", hint="fix the file"
        ) from exc
    if not isinstance(data, dict):
        raise UsageError(
            f"{path}: expected a JSON object of credential fields", hint="fix the file"
        )
    return data


def _prompt_secret(c: AppContext, field: str) -> str:
    return c.terminal.ask_secret(
        field,
        no_input=c.no_input,
        hint="use --credentials-file FILE (or - for stdin) instead of --secret",
        piped_ok=False,
    )


@app.command("delete")
def delete(ctx: typer.Context, key: KeyArg, yes: YesOption = False) -> None:
    """Disconnect a system: revokes its tokens, stops its schedule, returns its credits.

    \b
    Examples:
      makini connections delete 10000715260448
      makini connections delete 10000715260448 --yes
    """
    c = app_ctx(ctx)
    if not yes:
        c.confirm(f"Delete connection {key}? Its tokens stop working at once")
    c.connections.delete(key)
    c.forget_connections([key])
    c.msg.notice(f"deleted connection {key}")


@app.command("token")
def token(
    ctx: typer.Context,
    key: KeyArg,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Issue a new token even if one is cached.")
    ] = False,
) -> None:
    """Print a connection token (for /api/eam|erp|wms and /api/integrations calls).

    \b
    Examples:
      makini connections token 10000715260448
      TOKEN=$(makini connections token 10000715260448 --fresh)
    """
    import time

    c = app_ctx(ctx)
    value, expires_at = c.connections.token(key, fresh=fresh)
    mode = c.out.explicit_mode
    if mode in ("json", "jsonl"):
        expires = (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at)) if expires_at else None
        )
        c.out.object({"key": key, "token": value, "expires_at": expires})
    else:
        c.out.text(value)


#: The longest pause between two reads of a watch (`--interval`).
DEFAULT_WATCH_INTERVAL = "5s"
#: How long a connection may be offline before a watch raises an alert (`--alert-after`).
DEFAULT_ALERT_AFTER = "1h"


@app.command("status")
def status(
    ctx: typer.Context,
    keys: Annotated[list[str] | None, keys_arg("Connection keys (default: all).")] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", "-w", help="Keep watching: a live table on a terminal, else a stream."
        ),
    ] = False,
    until: Annotated[
        list[str] | None,
        typer.Option(
            "--until",
            metavar="FIELD=VALUE",
            help="Wait until FIELD equals VALUE for every connection (repeatable; null for "
            "none; error.code for the error's code).",
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            help="Stop after this long: exit 8 if --until does not hold yet, else 0.",
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            metavar="DURATION",
            help=f"Longest pause between two reads (default {DEFAULT_WATCH_INTERVAL}).",
        ),
    ] = None,
    status_: StatusOption = None,
    health: HealthOption = None,
    alert_after: Annotated[
        str | None,
        typer.Option(
            "--alert-after",
            metavar="DURATION",
            help=f"Flag a connection offline longer than this (default {DEFAULT_ALERT_AFTER}).",
        ),
    ] = None,
    max_updates: Annotated[
        int | None,
        # Ends a stream after N lines: for tests and scripts that wait for something.
        typer.Option("--max-updates", metavar="N", min=1, hidden=True),
    ] = None,
) -> None:
    """Health, sync state and last error, per connection; --watch follows them.

    Without --watch or --until: the status of each connection, once. --status and
    --health choose the connections at the start; they are followed from then on,
    whatever they become.

    --watch on a terminal: a live table (q or Ctrl-C quits). Piped, or with -o jsonl,
    one JSON line per connection, then one per change:
    {"type":"changed","at":…,"changed":["health"],"object":{…}}, and an "alert" line
    once a connection has been offline longer than --alert-after. A connection deleted
    meanwhile gets a last "deleted" line with its object as it was. A failure to reach
    the API is said once on stderr and the watch goes on.

    --until FIELD=VALUE waits until it holds for every connection: exit 0 then, 8 at
    --timeout (no timeout unless given), 9 at once if a connection needs
    reauthorization while --until asks for another health (only a person fixes that),
    1 if one is deleted. --watch alone ends at --timeout with exit 0. Ctrl-C: 130.

    It reads the event log once per interval and re-reads only the connections an event
    names (every connection every 2 minutes, as a safety net); a server without an event
    log is read whole every interval.

    \b
    Examples:
      makini connections status
      makini connections status --health offline -o json
      makini connections status --watch
      makini connections status -w -o jsonl | jq -c 'select(.type != "snapshot")'
      makini connections status 10000715260448 --until health=online --timeout 10m
    """
    from makini_cli.durations import parse_duration

    c = app_ctx(ctx)
    statuses: list[str] | None = [status_] if status_ else None
    healths: list[str] | None = [health] if health else None
    waiting = watch or bool(until)
    if not waiting:
        for flag, given in (
            ("--timeout", timeout),
            ("--interval", interval),
            ("--alert-after", alert_after),
            ("--max-updates", max_updates),
        ):
            if given is not None:
                raise UsageError(f"{flag} only applies with --watch or --until", hint="add --watch")
        _status_once(c, keys, statuses, healths)
        return
    conditions = _conditions(until or [])
    options = _WatchOptions(
        watch=watch,
        conditions=conditions,
        timeout=None if timeout is None else parse_duration(timeout, flag="--timeout"),
        interval=parse_duration(interval or DEFAULT_WATCH_INTERVAL, flag="--interval"),
        interval_text=interval or DEFAULT_WATCH_INTERVAL,
        alert_after=parse_duration(alert_after or DEFAULT_ALERT_AFTER, flag="--alert-after"),
        max_updates=max_updates,
    )
    _watch(c, keys, statuses, healths, options)


def _status_once(
    c: AppContext, keys: list[str] | None, statuses: list[str] | None, healths: list[str] | None
) -> None:
    """One read of the list: each selected connection's status object."""
    import time

    from makini_cli.api import watch as engine
    from makini_cli.output import columns

    reader = engine.StatusWatch(
        c.api,
        keys,
        status=statuses,
        health=healths,
        interval=1.0,
        alert_after=0.0,
        progress=False,
        wall=engine.wall_clock,
        monotonic=time.monotonic,
        follow=False,
    )
    reader.start()
    objects = list(reader.objects.values())
    c.out.stream(objects, columns.CONNECTION_STATUS)
    c.remember_connections(
        [(o["key"], o.get("name")) for o in objects],
        complete=not (keys or statuses or healths),
    )


@dataclass(frozen=True, kw_only=True)
class _WatchOptions:
    watch: bool
    conditions: "list[Condition]"
    timeout: float | None
    interval: float
    interval_text: str
    alert_after: float
    max_updates: int | None


def _conditions(texts: list[str]) -> "list[Condition]":
    from makini_cli.api import watch as engine

    found = []
    for text in texts:
        try:
            found.append(engine.parse_condition(text))
        except ValueError as exc:
            raise UsageError(
                str(exc),
                hint="write --until FIELD=VALUE with a field of "
                + ", ".join(engine.STATUS_FIELDS)
                + ", e.g. --until health=online",
            ) from None
    return found


def _watch(
    c: AppContext,
    keys: list[str] | None,
    statuses: list[str] | None,
    healths: list[str] | None,
    options: _WatchOptions,
) -> None:
    """--watch and --until: the live view on a terminal, else the stream or a quiet wait."""
    import time

    from makini_cli.api import watch as engine
    from makini_cli.api.errors import DeadlineExceededError
    from makini_cli.errors import ExitCode, QuietExit, interruption_code

    mode = c.out.mode_for("stream")
    live = options.watch and c.out.is_tty and mode in ("table", "wide")
    streaming = not live and (options.watch or mode == "jsonl")
    if streaming and mode in ("json", "csv"):
        raise UsageError(
            f"--watch prints a stream of changes, which -o {mode} cannot hold",
            hint="use -o jsonl (the default when piped): one change per line",
        )
    conditions = options.conditions
    # A field a server without the extension never sends would never hold.
    for rule in conditions:
        if rule.path[0] not in engine.DOCUMENTED_FIELDS:
            c.capabilities.require("status", f"--until {rule.text}")
    # --timeout bounds the whole command: a request in flight when it runs out is cut short.
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    c.client.deadline = deadline
    watcher = engine.StatusWatch(
        c.api,
        keys,
        status=statuses,
        health=healths,
        interval=options.interval,
        alert_after=options.alert_after,
        progress=live,
        wall=engine.wall_clock,
        monotonic=time.monotonic,
    )

    def done(objects: "Mapping[str, dict[str, Any]]") -> bool:
        if not conditions:
            return False
        for key in watcher.deleted:
            _give_up(key, "deleted", conditions)
        if engine.holds(conditions, objects):
            return True
        for key, obj in objects.items():
            _give_up(key, engine.hopeless(conditions, obj), conditions)
        return False

    if live:
        from makini_cli.output.status_view import live_console, run_live

        try:
            outcome = run_live(
                watcher,
                console=live_console(c.terminal, c.settings["color"]),
                terminal=c.terminal,
                until=done if conditions else None,
                deadline=deadline,
                alert_after=options.alert_after,
                monotonic=time.monotonic,
            )
        except DeadlineExceededError:
            outcome = "timeout"
        if outcome == "interrupted":
            raise QuietExit(ExitCode.INTERRUPTED)
        if outcome == "timeout" and conditions:
            _pending(c, watcher.objects, conditions)
            raise QuietExit(ExitCode.PENDING)
        return

    from makini_cli.output import columns
    from makini_cli.output.status_stream import FailureNotes, StatusStream

    stream = StatusStream(c.out) if streaming else None
    notes = FailureNotes(c.msg.warn, c.msg.notice, retry_every=options.interval_text)
    ended = "timeout"
    try:
        updates = watcher.start()
        _announce(c, watcher, options, streaming)
        while True:
            if stream is not None:
                if options.max_updates is not None:
                    updates = updates[: options.max_updates - stream.written]
                stream.write(updates)
                if options.max_updates is not None and stream.written >= options.max_updates:
                    ended = "enough"
                    break
            if done(watcher.objects):
                ended = "until"
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            pause = watcher.next_wait()
            if deadline is not None:
                pause = min(pause, deadline - now)
            time.sleep(max(0.0, pause))
            updates = watcher.step()
            notes.after_step(_failure(c, watcher))
    except DeadlineExceededError:
        ended = "timeout"
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as `Terminated`
        raise QuietExit(interruption_code(exc)) from None
    finally:
        c.client.deadline = None
    if stream is None:
        c.out.stream(list(watcher.objects.values()), columns.CONNECTION_STATUS)
    if ended == "timeout" and conditions:
        _pending(c, watcher.objects, conditions)
        raise QuietExit(ExitCode.PENDING)


def _announce(
    c: AppContext, watcher: "StatusWatch", options: _WatchOptions, streaming: bool
) -> None:
    count = len(watcher.objects)
    what = f"{count} connection{'s' if count != 1 else ''}"
    if options.conditions:
        wanted = " and ".join(rule.text for rule in options.conditions)
        c.msg.notice(f"waiting until {wanted} for {what}; Ctrl-C stops")
    elif streaming:
        c.msg.notice(f"watching {what}; Ctrl-C stops")
    if watcher.polling:
        c.msg.notice(
            f"the server keeps no event log: every connection is read every {options.interval_text}"
        )


def _failure(c: AppContext, watcher: "StatusWatch") -> str | None:
    """The step's transient failure as the CLI explains errors, or None."""
    if watcher.last_exception is None:
        return watcher.last_error
    err = c.explain(watcher.last_exception)
    return f"{err.message} [{err.code}]"


def _give_up(key: str, reason: str | None, conditions: "list[Condition]") -> None:
    from makini_cli.errors import CliError, ExitCode

    wanted = " and ".join(rule.text for rule in conditions)
    if reason == "reauth_required":
        raise CliError(
            f"connection {key} needs reauthorization: {wanted} cannot come true by itself",
            code="REAUTHORIZATION_REQUIRED",
            hint="the connection must be reconnected (a new authorization through Makini "
            f"Link); `makini connections status {key} --watch` shows when it is",
            exit_code=ExitCode.CHECK_FAILED,
        )
    if reason == "deleted":
        raise CliError(
            f"connection {key} was deleted while waiting until {wanted}",
            code="NOT_FOUND",
            hint="`makini connections list` shows the connections there are",
            exit_code=ExitCode.ERROR,
        )


def _pending(
    c: AppContext, objects: "Mapping[str, dict[str, Any]]", conditions: "list[Condition]"
) -> None:
    from makini_cli.api.watch import holds_for

    wanted = " and ".join(rule.text for rule in conditions)
    left = [key for key, obj in objects.items() if not holds_for(conditions, obj)]
    if not objects:
        c.msg.warn(f"--timeout reached before the connections were read; {wanted} is unknown")
        return
    shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    c.msg.warn(f"--timeout reached: {wanted} does not hold yet for {shown}")


def _print_metadata(c: AppContext, metadata: dict[str, Any]) -> None:
    """`-o json|jsonl`: the metadata as one object; otherwise a NAME/VALUE row per entry."""
    from makini_cli.output import columns

    if c.out.mode_for("object") in ("json", "jsonl"):
        c.out.object(metadata)
    else:
        c.out.stream(
            ({"key": name, "value": value} for name, value in metadata.items()),
            columns.METADATA,
        )


@metadata_app.command("get")
def metadata_get(ctx: typer.Context, key: KeyArg) -> None:
    """Show a connection's metadata (with -o json: one object of its entries).

    \b
    Examples:
      makini connections metadata get 10000715260448
      makini connections metadata get 10000715260448 -o json | jq -r .customer_id
    """
    c = app_ctx(ctx)
    _print_metadata(c, c.connections.metadata(key))


@metadata_app.command("set")
def metadata_set(
    ctx: typer.Context,
    key: KeyArg,
    pairs: Annotated[
        list[str] | None, typer.Argument(metavar="[NAME=VALUE]...", help="Entries to set.")
    ] = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", metavar="NAME", help="A metadata entry to remove (repeatable)."),
    ] = None,
) -> None:
    """Set (and with --unset remove) metadata entries; prints the resulting metadata.

    Values are strings. Removing an entry needs the server capability `metadata_delete`:
    Makini documents no way to remove one.

    \b
    Examples:
      makini connections metadata set 10000715260448 site=plant-2 owner=ops
      makini connections metadata set 10000715260448 --unset owner
    """
    c = app_ctx(ctx)
    values = _pairs(pairs or [], "metadata")
    remove = list(dict.fromkeys(unset or []))
    if not values and not remove:
        raise UsageError("nothing to set", hint="give NAME=VALUE pairs or --unset NAME")
    both = sorted(set(values) & set(remove))
    if both:
        raise UsageError(f"metadata {both[0]!r} is both set and unset", hint="give each name once")
    _print_metadata(c, c.connections.update_metadata(key, values, remove))
