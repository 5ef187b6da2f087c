"""`makini sync`: run syncs and follow them; list, inspect, cancel and schedule them."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from makini_cli.api.errors import APIError
from makini_cli.commands._common import (
    KeyArg,
    LimitOption,
    app_ctx,
    complete_connection_keys,
    complete_sync_ids,
    keys_arg,
    new_app,
)
from makini_cli.commands._common import idempotency_key as check_idempotency_key
from makini_cli.context import AppContext
from makini_cli.errors import (
    AbortedError,
    CliError,
    ExitCode,
    QuietExit,
    UsageError,
    interruption_code,
)

if TYPE_CHECKING:
    from makini_cli.api.resources.syncs import Tracker
    from makini_cli.commands._sync_runner import Outcome, RunOptions, SyncRunner
    from makini_cli.models.sync import Sync
    from makini_cli.output.github import SummaryRow
    from makini_cli.output.progress import ProgressView

app = new_app(
    """Run syncs and watch them finish; list, inspect, cancel and schedule them.

    \b
    Examples:
      makini sync run 10000715260448
      makini sync run --all --timeout 30m -o jsonl
      makini sync list 10000715260448 --status failed"""
)
schedule_app = new_app(
    """Read and set a connection's sync schedule.

    \b
    Examples:
      makini sync schedule get 10000715260448
      makini sync schedule set 10000715260448 --every 1h"""
)
app.add_typer(schedule_app, name="schedule")

IfRunning = Literal["fail", "skip", "wait"]
SyncStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
DEFAULT_CONCURRENCY = 8

IdArg = Annotated[
    str,
    typer.Argument(metavar="ID", help="Sync id (sync_…).", autocompletion=complete_sync_ids),
]


def _duration(value: str | None, flag: str) -> float | None:
    from makini_cli.durations import parse_duration

    return None if value is None else parse_duration(value, flag=flag)


def _progress_view(c: AppContext, names: dict[str, str]) -> "ProgressView":
    from makini_cli.output.progress import NullProgress, PlainProgress, RichProgress

    if c.flags.get("quiet"):
        return NullProgress(names=names)
    if c.terminal.is_tty("stderr"):
        return RichProgress(color=c.settings["color"], names=names)
    return PlainProgress(c.terminal.stderr, names=names)


def _names(c: AppContext, keys: list[str], known: dict[str, str] | None = None) -> dict[str, str]:
    """Connection names for the progress rows: from what the caller listed, else from Tab's
    cache (no request). On a terminal, where names matter most, one list call fills in the
    rest; a failure there only costs the names."""
    from makini_cli import completion

    names = dict(known or {})
    cached = dict(completion.cached(completion.scope_of(c.settings), "connections"))
    names.update({k: str(cached[k]) for k in keys if k not in names and cached.get(k)})
    if c.terminal.is_tty("stderr") and any(k not in names for k in keys):
        try:
            listed = [(conn.key, conn.name) for conn in c.connections.list()]
        except (CliError, APIError):
            return names
        c.remember_connections(listed, complete=True)
        names.update({k: n for k, n in listed if n and k in keys and k not in names})
    return names


def _runner(c: AppContext, options: "RunOptions", names: dict[str, str]) -> "SyncRunner":
    from makini_cli.commands._sync_runner import SyncRunner

    runner = SyncRunner(
        c.syncs,
        options,
        _progress_view(c, names),
        c.msg.warn,
        explain=c.explain,
        endings=lambda: c.api.events.sync_endings(),
    )
    # Whatever ends the run (an error, Ctrl-C, SIGTERM before the first sync started), the
    # live display stops and the terminal gets its cursor back.
    c.resources.callback(runner.progress.close)
    # Ctrl-C must not sit out a Retry-After wait inside a worker thread.
    c.client.sleep = runner.sleep
    return runner


@app.command("run")
def run(
    ctx: typer.Context,
    keys: Annotated[list[str] | None, keys_arg("Connection keys to sync.")] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Sync every connected connection (active, overage, offline, reauth_required).",
        ),
    ] = False,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help="Only this scope, e.g. work_orders or work-orders (repeatable).",
        ),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Refetch the whole history window.")] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait for the end (default) or fire and forget."),
    ] = True,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout", metavar="DURATION", help="Stop waiting after this long (exit 8), e.g. 30m."
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval", metavar="DURATION", help="Longest pause between polls (default 5s)."
        ),
    ] = None,
    if_running: Annotated[
        IfRunning,
        typer.Option(
            "--if-running",
            metavar="[fail|skip|wait]",
            help="When a sync is already running: fail (exit 7), skip it, or wait for it.",
        ),
    ] = "fail",
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Makes a re-run of this command start nothing new.",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            metavar="N",
            min=1,
            max=32,
            help="Requests in flight at once, 1 to 32 (every sync starts).",
        ),
    ] = DEFAULT_CONCURRENCY,
    stall_after: Annotated[
        str,
        typer.Option(
            "--stall-after",
            metavar="DURATION",
            help="Warn when progress has not moved for this long.",
        ),
    ] = "2m",
) -> None:
    """Start syncs and (by default) wait for them; the exit code tells how they ended.

    Prints one result per connection: {"connection_key", "outcome", "sync", "error"}
    (see the README's JSON contract). Exit codes: 0 succeeded, 10 failed, 12 cancelled,
    8 --timeout reached, 7 already running, 130 Ctrl-C (the sync goes on).

    \b
    Examples:
      makini sync run 10000715260448
      makini sync run 10000715260448 --scope work_orders --full
      makini sync run --all --timeout 30m -o jsonl
      makini sync run 10000715260448 --no-wait --idempotency-key "$CI_JOB_ID"
    """
    from makini_cli.api.resources.syncs import PollPolicy
    from makini_cli.commands._sync_runner import RunOptions, limit_requests

    c = app_ctx(ctx)
    if all_ and keys:
        raise UsageError(
            "give connection keys or --all, not both", hint="see `makini sync run --help`"
        )
    if not all_ and not keys:
        raise UsageError(
            "which connections? give their keys, or --all",
            hint="`makini connections list` shows the keys",
        )
    ceiling = _duration(interval, "--interval") or 5.0
    options = RunOptions(
        scopes=scope or None,
        full=full,
        wait=wait,
        timeout=_duration(timeout, "--timeout"),
        if_running=if_running,
        idempotency_key=check_idempotency_key(idempotency_key),
        policy=PollPolicy(first=min(0.5, ceiling), ceiling=ceiling),
        stall_after=_duration(stall_after, "--stall-after") or 120.0,
    )
    limit_requests(options, c.client)  # --timeout bounds the whole command from here
    targets = list(dict.fromkeys(keys or []))  # a key given twice is synced once
    known: dict[str, str] = {}
    if all_:
        from makini_cli.models.connection import SYNCABLE

        # Filtered here, not with filter[status]: Makini declares no filters on this list.
        listed = list(c.connections.list())
        known = {conn.key: conn.name for conn in listed if conn.name}
        c.remember_connections(((conn.key, conn.name) for conn in listed), complete=True)
        targets = [conn.key for conn in listed if conn.status in SYNCABLE]
        skipped: dict[str, int] = {}
        for conn in listed:
            if conn.status not in SYNCABLE:
                label = conn.status or "no status"
                skipped[label] = skipped.get(label, 0) + 1
        if skipped:
            counts = ", ".join(f"{n} {label}" for label, n in sorted(skipped.items()))
            c.msg.notice(
                f"skipping {sum(skipped.values())} connection(s) that cannot sync now: {counts}"
            )
        if not targets:
            c.msg.notice("no connections to sync")
            return
    options.several = all_ or len(targets) > 1
    runner = _runner(c, options, _names(c, targets, known))
    _report(
        c, runner, runner.run_many(targets, concurrency), several=options.several, command="run"
    )


@app.command("watch")
def watch(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[ID|KEY]...",
            help="Sync ids (sync_…), or connection keys: a key means its running sync, "
            "else its latest. None on a terminal: pick from the running syncs.",
            autocompletion=complete_sync_ids,
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout", metavar="DURATION", help="Stop waiting after this long (exit 8)."
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", metavar="DURATION", help="Longest pause between polls."),
    ] = None,
) -> None:
    """Follow syncs to their end; same results, times and exit codes as `sync run`.

    Each sync reports how long it ran on the server; one that has ended already reports
    at once. With no argument on a terminal, offers the running syncs to pick from.
    Exit codes: 0 succeeded, 10 failed, 12 cancelled, 8 --timeout reached; several
    syncs exit with the most severe.

    \b
    Examples:
      makini sync watch sync_8f2c1d
      makini sync watch 10000715260448 10000593048226 --timeout 10m
      makini sync watch
    """
    from makini_cli.api.resources.syncs import PollPolicy
    from makini_cli.commands._sync_runner import RunOptions, limit_requests

    c = app_ctx(ctx)
    if not targets and not c.terminal.can_ask(c.no_input):
        raise UsageError(
            "which syncs? give their ids (sync_…) or connection keys",
            hint="`makini sync list --status running` shows the running syncs",
        )
    ceiling = _duration(interval, "--interval") or 5.0
    options = RunOptions(
        timeout=_duration(timeout, "--timeout"),
        policy=PollPolicy(first=min(0.5, ceiling), ceiling=ceiling),
    )
    limit_requests(options, c.client)  # --timeout bounds the whole command from here
    known: dict[str, str] = {}
    if targets:
        trackers = _watch_targets(c, targets)
        options.several = len(trackers) > 1
    else:
        picked = _pick_running(c)
        if picked is None:
            return
        trackers, known, options.several = picked
    runner = _runner(c, options, _names(c, list(trackers), known))
    _report(
        c,
        runner,
        runner.run_many([], DEFAULT_CONCURRENCY, trackers),
        several=options.several,
        command="watch",
    )


def _watch_targets(c: AppContext, targets: list[str]) -> "dict[str, Tracker]":
    """What each argument names, by connection key: a sync id its sync, a key that
    connection's running sync, else its latest. Each is read once here, so a typo ends
    the command before anything is followed."""
    trackers: dict[str, Tracker] = {}
    for target in dict.fromkeys(targets):
        tracker = _tracker_for(c, target)
        key = tracker.key or target
        earlier = trackers.get(key)
        if earlier is not None:
            if earlier.sync_id == tracker.sync_id:
                continue  # a sync named twice, by its id and by its connection
            raise UsageError(
                f"{earlier.sync_id} and {tracker.sync_id} are both syncs of connection {key}",
                hint="watch one sync of a connection at a time",
            )
        trackers[key] = tracker
    return trackers


def _tracker_for(c: AppContext, target: str) -> "Tracker":
    if target.startswith("sync_"):
        return c.syncs.track(target)
    if not c.syncs.extended:
        # Makini's documented status call tells of the connection's current or last sync.
        return c.syncs.follow_documented(target)
    tracker = c.syncs.latest(target)
    if tracker is None:
        raise CliError(
            f"connection {target} has had no sync to watch",
            code="NO_SYNC",
            hint=f"start one with `makini sync run {target}`",
        )
    return tracker


def _pick_running(
    c: AppContext,
) -> "tuple[dict[str, Tracker], dict[str, str], bool] | None":
    """Offer the running syncs on the terminal and follow the ones picked, as `gh run
    watch` does: (trackers, names, several), or None when no sync is running."""
    from makini_cli.api.resources.syncs import ExtTracker
    from makini_cli.output.progress import describe
    from makini_cli.output.sanitize import clean

    running = list(c.syncs.in_progress())
    if not running:
        if not c.msg.quiet:
            c.msg.notice("no sync is running; name one to see how it ended:")
            c.msg.hint("makini sync watch KEY")
        return None
    err = c.terminal.stderr
    err.write("Running syncs:\n")
    for number, (conn, sync) in enumerate(running, 1):
        label = f"{conn.name} ({conn.key})" if conn.name else conn.key
        err.write(clean(f"  {number}. {label}  {sync.id}  {describe(sync)}") + "\n")
    question = f"Watch which? a number (1-{len(running)}), several, or all"
    hint = "name the syncs to watch: makini sync watch ID|KEY…"
    while True:
        try:
            answer = c.terminal.ask_line(question, no_input=c.no_input, hint=hint)
        except AbortedError:  # nothing typed
            raise AbortedError("no sync picked", code="INPUT_REQUIRED", hint=hint) from None
        chosen = _chosen(answer, len(running))
        if chosen is not None:
            break
        err.write(f"not a choice: {clean(answer)}\n")
    picked = [running[i] for i in chosen]
    trackers: dict[str, Tracker] = {
        conn.key: ExtTracker(c.syncs, sync, None) for conn, sync in picked
    }
    names = {conn.key: conn.name for conn, _ in picked if conn.name}
    return trackers, names, answer.strip().lower() == "all" or len(trackers) > 1


def _chosen(answer: str, count: int) -> list[int] | None:
    """`2`, `1 3`, `1,3` or `all` as indexes into the offered list; None if not one."""
    words = answer.replace(",", " ").split()
    if [w.lower() for w in words] == ["all"]:
        return list(range(count))
    if not words or not all(w.isdigit() and 1 <= int(w) <= count for w in words):
        return None
    return list(dict.fromkeys(int(w) - 1 for w in words))


def _report(
    c: AppContext,
    runner: "SyncRunner",
    outcomes: "Iterator[Outcome]",
    *,
    several: bool,
    command: str,
) -> None:
    """Print outcomes as they arrive, then exit with the worst one's code."""
    from makini_cli.commands._sync_runner import Outcome, worst
    from makini_cli.output import columns

    seen: list[Outcome] = []
    out = c.out
    mode = out.mode_for("stream" if several else "object")

    def arrived() -> Iterator[Outcome]:
        for outcome in outcomes:
            seen.append(outcome)
            _explain(c, outcome)
            yield outcome

    try:
        if mode == "json" and not several:
            for outcome in arrived():
                out.object(outcome.record())
        elif mode in ("json", "jsonl"):
            out.stream((o.record() for o in arrived()), None)
        elif mode == "csv":
            out.stream((o.flat() for o in arrived()), None)
        elif out.is_tty:
            # A table, once the live display (which owns the terminal until the last sync
            # ends) has stopped: whole ids, names cut before anything else goes.
            finished = list(arrived())
            runner.progress.close()
            names = getattr(runner.progress, "names", {})
            out.stream((_result_row(o, names) for o in finished), columns.SYNC_RESULTS)
        else:
            # Piped: one plain line per connection as it ends, for a log or a `while read`.
            for outcome in arrived():
                out.text(_summary_line(outcome))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as `Terminated`
        runner.stop.set()
        runner.progress.close()  # give the terminal back (cursor, live rows) first
        _detached(c, runner)
        raise QuietExit(interruption_code(exc)) from None
    # The display stopped when the last sync ended; the run ends with its total time.
    runner.progress.close(runner.progress.totals() if seen else None)
    c.remember_syncs(o.sync for o in seen if o.sync is not None)
    _github(c, seen, command)
    code = worst(seen)
    if code != ExitCode.OK:
        raise QuietExit(code)


def _summary_line(o: "Outcome") -> str:
    from makini_cli.durations import format_duration

    sync = o.sync
    records = ""
    if sync and sync.progress and sync.progress.records_total:
        records = f", {sync.progress.records_processed or 0:,} records"
    ident = f" {o.sync_id}" if o.sync_id else ""
    detail = {
        "succeeded": f"succeeded in {format_duration(o.elapsed)}{records}",
        "started": f"started ({sync.status if sync else 'queued'})",
        "skipped": f"skipped: a sync is already {sync.status if sync else 'running'}",
        "conflict": "not started: a sync is already running",
        "timeout": f"still {sync.status if sync else 'running'} after {format_duration(o.elapsed)}",
        "failed": "failed" + (f": {sync.error.code}" if sync and sync.error else ""),
        "cancelled": "cancelled",
        "detached": "detached",
    }.get(o.result, f"error: {o.error.code if o.error else '?'}")
    return f"{o.key}{ident}: {detail}"


def _result_row(o: "Outcome", names: dict[str, str]) -> dict[str, object]:
    sync = o.sync
    records = None
    if sync and sync.progress and sync.progress.records_total:
        records = sync.progress.records_processed or 0
    error = o.record()["error"]
    return {
        "connection_key": o.key,
        "name": names.get(o.key),
        "sync_id": o.sync_id,
        "outcome": o.result,
        "records": records,
        "seconds": o.elapsed,
        "error": error,
    }


def _explain(c: AppContext, o: "Outcome") -> None:
    """Errors and next steps on stderr, as each outcome arrives."""
    from makini_cli.errors import CliError

    sync = f"sync {o.sync_id}" if o.sync_id else "sync"
    if o.result == "failed":
        error = o.sync.error if o.sync and o.sync.error else None
        c.msg.error(
            CliError(
                f"{o.key}: {sync} failed: "
                + (error.message or "no reason given" if error else "no reason given"),
                code=(error.code if error and error.code else "SYNC_FAILED"),
                request_id=o.request_id,
                exit_code=ExitCode.SYNC_FAILED,
            )
        )
    elif o.result == "cancelled":
        c.msg.warn(f"{o.key}: {sync} was cancelled")
    elif o.result == "timeout":
        follow = (
            f"makini sync watch {o.sync_id}" if o.sync_id else f"makini connections status {o.key}"
        )
        c.msg.warn(f"{o.key}: still running when the wait timed out; the sync goes on. Follow it:")
        c.msg.hint(follow)
    elif o.result in ("conflict", "error") and o.error is not None:
        o.error.message = f"{o.key}: {o.error.message}"
        c.msg.error(o.error)
        if o.result == "error" and o.sync_id and not (o.sync and o.sync.finished):
            # The wait failed, not the sync: it goes on, and this is how to find it again.
            c.msg.warn(f"{o.key}: sync {o.sync_id} goes on on the server. Follow it:")
            c.msg.hint(f"makini sync watch {o.sync_id}")
    elif o.result == "skipped":
        c.msg.notice(f"{o.key}: a sync is already running; skipped (--if-running skip)")


def _detached(c: AppContext, runner: "SyncRunner") -> None:
    if c.msg.quiet:
        return
    for key, tracker in sorted(runner.active.items()):
        if tracker.sync_id:
            c.msg.notice(
                f"detached from sync {tracker.sync_id} of {key}; it goes on on the server. "
                "Follow it, or stop it:"
            )
            c.msg.hint(f"makini sync watch {tracker.sync_id}")
            c.msg.hint(f"makini sync cancel {tracker.sync_id}")
        else:
            c.msg.notice(f"detached from the sync of {key}; it goes on. Check it:")
            c.msg.hint(f"makini connections status {key}")


def _summary_row(o: "Outcome") -> "SummaryRow":
    from makini_cli.output.github import SummaryRow

    sync = o.sync
    records = None
    if sync and sync.progress and sync.progress.records_total:
        records = sync.progress.records_processed or 0
    error = o.record()["error"]
    return SummaryRow(
        connection=o.key,
        sync_id=o.sync_id,
        result=o.result,
        records=records,
        seconds=o.elapsed,
        error=f"{error['code']}: {error['message']}" if error else None,
    )


def _github(c: AppContext, outcomes: "list[Outcome]", command: str) -> None:
    """GitHub Actions: an ::error:: annotation per failure, and a step-summary table."""
    if c.env.get("GITHUB_ACTIONS") != "true":
        return
    from makini_cli.output.github import annotation, summary_table

    for o in outcomes:
        if o.exit_code != ExitCode.OK:
            c.msg.raw(annotation(f"makini sync {command}", _summary_line(o)))
    path = c.env.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(summary_table([_summary_row(o) for o in outcomes]))
        except OSError as exc:
            c.msg.warn(f"cannot append to GITHUB_STEP_SUMMARY ({path}): {exc.strerror or exc}")


@app.command("list")
def list_(
    ctx: typer.Context,
    key: Annotated[
        str | None,
        typer.Argument(
            metavar="[KEY]",
            help="Connection key (default: every connection).",
            autocompletion=complete_connection_keys,
        ),
    ] = None,
    status: Annotated[
        SyncStatus | None,
        typer.Option(
            metavar="[queued|running|succeeded|failed|cancelled]", help="Only syncs in this status."
        ),
    ] = None,
    limit: LimitOption = None,
) -> None:
    """Sync history, newest first.

    \b
    Examples:
      makini sync list 10000715260448
      makini sync list --status failed --limit 20
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    seen: list[Sync] = []

    def rows() -> Iterator[dict[str, Any]]:
        for sync in c.syncs.history(key, status=status, limit=limit):
            seen.append(sync)
            yield sync.to_api()

    c.out.stream(rows(), columns.SYNCS)
    c.remember_syncs(seen)


@app.command("get")
def get(ctx: typer.Context, sync_id: IdArg) -> None:
    """One sync, with its progress and error.

    \b
    Examples:
      makini sync get sync_8f2c1d
      makini sync get sync_8f2c1d -o json
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    sync = c.syncs.get(sync_id)
    c.remember_syncs([sync])
    c.out.object(sync.to_api(), columns.SYNCS)


@app.command("cancel")
def cancel(ctx: typer.Context, sync_id: IdArg) -> None:
    """Cancel a queued or running sync.

    \b
    Examples:
      makini sync cancel sync_8f2c1d
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    sync = c.syncs.cancel(sync_id)
    c.msg.notice(f"sync {sync_id} is {sync.status}")
    c.out.object(sync.to_api(), columns.SYNCS)


@schedule_app.command("get")
def schedule_get(ctx: typer.Context, key: KeyArg) -> None:
    """Show when a connection syncs by itself.

    \b
    Examples:
      makini sync schedule get 10000715260448
    """
    c = app_ctx(ctx)
    c.out.object(c.syncs.schedule(key).to_api())


@schedule_app.command("set")
def schedule_set(
    ctx: typer.Context,
    key: KeyArg,
    every: Annotated[
        str | None,
        typer.Option("--every", metavar="DURATION", help="From 15m to 1d, in whole minutes."),
    ] = None,
    disable: Annotated[bool, typer.Option("--disable", help="Stop scheduled syncs.")] = False,
) -> None:
    """Sync every 15 minutes to once a day, or --disable.

    \b
    Examples:
      makini sync schedule set 10000715260448 --every 1h
      makini sync schedule set 10000715260448 --disable
    """
    from makini_cli.durations import parse_duration

    c = app_ctx(ctx)
    if every is None and not disable:
        raise UsageError(
            "give --every or --disable", hint="e.g. makini sync schedule set KEY --every 1h"
        )
    if every is not None:
        minutes = parse_duration(every, flag="--every") / 60
        if not (15 <= minutes <= 1440) or minutes != int(minutes):
            raise UsageError(
                f"--every {every} is not a whole number of minutes from 15m to 1d",
                hint="use 15m, 30m, 1h, 6h or 1d",
            )
        interval = int(minutes)
    else:
        interval = c.syncs.schedule(key).interval_minutes or 60
    schedule = c.syncs.set_schedule(key, enabled=not disable, interval_minutes=interval)
    c.out.object(schedule.to_api())
