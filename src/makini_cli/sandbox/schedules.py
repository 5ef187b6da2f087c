"""Sync schedules (ext): one per connection, and the scheduler job that fires them.

A schedule runs a sync every `interval_minutes` (15 … 1440), with `trigger: scheduled`.
A slot that finds a sync already queued or running, or the connection inactive, or its
credentials rejected, is skipped. Slots missed while no process ran collapse into one,
run late with the time it was due. Missed retries run late in order, each at its due
time, back to at most a day ago (`CATCH_UP_SECONDS`), so a long gap costs bounded work.
A retry that falls due while a sync of the connection runs starts when that sync ends.

When a scheduled run fails because the system is down, backoff retries (see
`syncs._plan_retry`: 1 min, doubling, capped at 1 h, `trigger: retry`) replace the
regular runs until a sync succeeds; the probe seeing the system back makes the pending
retry run at once. A connection with no schedule row (never active) reads as disabled.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from makini_cli.sandbox import syncs, transitions
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.connections import live_row
from makini_cli.sandbox.errors import validation_failed

MIN_INTERVAL_MINUTES = 15
MAX_INTERVAL_MINUTES = 1_440
DEFAULT_INTERVAL_MINUTES = 60
CATCH_UP_SECONDS = 86_400.0


def create_default(conn: sqlite3.Connection, key: str, next_run_at: float | None) -> None:
    """The schedule every active connection starts with: hourly, enabled. No event of its
    own: the seed precedes every event, and a new connection's creation has its events."""
    conn.execute(
        "INSERT INTO schedules (connection_key, enabled, interval_minutes, next_run_at,"
        " updated_at) VALUES (?, 1, ?, ?, ?) ON CONFLICT (connection_key) DO NOTHING",
        (key, DEFAULT_INTERVAL_MINUTES, next_run_at, next_run_at or 0.0),
    )
    transitions.refresh_next_sync(conn, key, event_at=None)


def get_schedule(conn: sqlite3.Connection, key: str) -> dict[str, Any]:
    live_row(conn, key)
    row = conn.execute("SELECT * FROM schedules WHERE connection_key = ?", (key,)).fetchone()
    if row is None:
        return {
            "connection_key": key,
            "enabled": False,
            "interval_minutes": DEFAULT_INTERVAL_MINUTES,
            "next_run_at": None,
        }
    return {
        "connection_key": key,
        "enabled": bool(row["enabled"]),
        "interval_minutes": row["interval_minutes"],
        "next_run_at": iso(row["retry_at"] or row["next_run_at"]) if row["enabled"] else None,
    }


def put_schedule(
    conn: sqlite3.Connection, now: float, key: str, *, enabled: bool, interval_minutes: int
) -> dict[str, Any]:
    """Replace the schedule; an enabled one runs first an interval from now."""
    live_row(conn, key)
    if not MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES:
        raise validation_failed(
            {
                "interval_minutes": [
                    f"interval_minutes must be {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES}."
                ]
            }
        )
    next_run = now + interval_minutes * 60 if enabled else None
    retry = conn.execute(
        "SELECT retry_at, retry_attempt FROM schedules WHERE connection_key = ?", (key,)
    ).fetchone()
    retry_at, attempt = (retry["retry_at"], retry["retry_attempt"]) if retry else (None, None)
    if not enabled:
        retry_at, attempt = None, None
    conn.execute(
        "INSERT INTO schedules (connection_key, enabled, interval_minutes, next_run_at,"
        " retry_at, retry_attempt, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (connection_key) DO UPDATE SET enabled = excluded.enabled,"
        " interval_minutes = excluded.interval_minutes, next_run_at = excluded.next_run_at,"
        " retry_at = excluded.retry_at, retry_attempt = excluded.retry_attempt,"
        " updated_at = excluded.updated_at",
        (key, int(enabled), interval_minutes, next_run, retry_at, attempt, now),
    )
    transitions.refresh_next_sync(conn, key, event_at=now)
    return get_schedule(conn, key)


def _can_run(conn: sqlite3.Connection, row: sqlite3.Row) -> bool:
    return (
        row["status"] in syncs.ACTIVE_CONNECTION_STATUSES
        and not row["credentials_broken"]
        and transitions.open_sync(conn, row["connection_key"]) is None
    )


def _last_ended(conn: sqlite3.Connection, key: str) -> float | None:
    """When the connection's last sync ended (None: never, or it is still open).

    A connection's syncs never overlap, so the newest is the last to end.
    """
    row = conn.execute(
        "SELECT finished_at FROM syncs WHERE connection_key = ? ORDER BY seq DESC LIMIT 1",
        (key,),
    ).fetchone()
    return None if row is None or row["finished_at"] is None else float(row["finished_at"])


def _due_work(conn: sqlite3.Connection, now: float) -> list[tuple[float, sqlite3.Row]]:
    """Each enabled schedule's next piece of work and the time it runs at, earliest first.

    A pending retry hides the regular runs. It is not due while it cannot run (a sync of
    the connection is open, the connection is inactive, its credentials are rejected):
    only the end of that sync, which the scheduler replays in its turn, or a person can
    change that. `now` is when the scheduler runs; retries older than `CATCH_UP_SECONDS`
    before it run as if due then. No run starts before the connection's last sync ended.
    """
    rows = conn.execute(
        "SELECT schedules.*, connections.status, connections.credentials_broken FROM schedules"
        " JOIN connections ON connections.key = schedules.connection_key"
        " WHERE schedules.enabled = 1 AND connections.deleted_at IS NULL"
        " AND COALESCE(schedules.retry_at, schedules.next_run_at) IS NOT NULL"
    ).fetchall()
    work: list[tuple[float, sqlite3.Row]] = []
    for row in rows:
        if row["retry_at"] is not None:
            if not _can_run(conn, row):
                continue
            due = max(float(row["retry_at"]), now - CATCH_UP_SECONDS)
        else:
            due = float(row["next_run_at"])
        ended = _last_ended(conn, row["connection_key"])
        work.append((due if ended is None else max(due, ended), row))
    return sorted(work, key=lambda item: item[0])


def next_due(conn: sqlite3.Connection, now: float) -> float | None:
    """When `fire_due` next has work: a retry or regular run to start (see `_due_work`)."""
    work = _due_work(conn, now)
    return work[0][0] if work else None


def fire_due(conn: sqlite3.Connection, now: float, until: float | None = None) -> int:
    """Scheduler job: start the retries and regular runs due by `until` (default `now`),
    each at the time it was due.

    `now` is when the scheduler runs: missed regular slots collapse into the first one
    after it, and retries catch up from a day before it.
    """
    fired = 0
    for at, row in _due_work(conn, now):
        if at > (now if until is None else until):
            break
        key = row["connection_key"]
        if row["retry_at"] is not None:
            conn.execute("UPDATE schedules SET retry_at = NULL WHERE connection_key = ?", (key,))
            syncs.start_sync(conn, at, key, trigger="retry", attempt=int(row["retry_attempt"]))
            started = True
        else:
            due = float(row["next_run_at"])
            interval = row["interval_minutes"] * 60.0
            # Missed slots collapse: the next one is the first after now.
            following = due + interval * max(1, math.floor((now - due) / interval) + 1)
            conn.execute(
                "UPDATE schedules SET next_run_at = ? WHERE connection_key = ?",
                (following, key),
            )
            started = _can_run(conn, row)
            if started:
                syncs.start_sync(conn, at, key, trigger="scheduled")
        # A started sync's event tells of the new next_sync_at; a skipped slot needs one.
        # A slot a backoff retry hid is found skipped only once that retry starts (and is
        # the open sync): no earlier, so the log stays in time order.
        blocking = None if started else transitions.open_sync(conn, key)
        told_at = at if blocking is None else max(at, float(blocking["created_at"]))
        transitions.refresh_next_sync(conn, key, event_at=None if started else told_at)
        fired += 1
    return fired
