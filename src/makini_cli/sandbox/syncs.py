"""Syncs: rows in, API objects out, and the scheduler job that finishes them.

State is rows; progress is derived. A sync row stores when it starts (`started_at`,
1–2 s after it was created), how long it will take (`expected_duration`) and how many
records it will read (`records_total`). Whether it is queued or running, and how far it
got, is computed from those and the clock, so it is right after a restart or a gap in
embedded mode. Only `finish_due` (a scheduler job) and explicit calls (start, cancel)
change a sync, through `transitions.py`, which writes the row and its event.

Durations and sizes are deterministic, from the connection key, the sync type and its
scopes, scaled by the platform's tier (a proxy for how much data the system holds): at
clock speed 1, incremental syncs take 5–30 s and full ones 1–5 min. The first sync of a
connection (none succeeded yet) is full over a 90-day window; later ones are
incremental from the last successful sync; `full` forces a full one.

Errors a start can answer, besides 404 for an unknown connection:
- 409 `SYNC_ALREADY_RUNNING`: a sync of that connection is queued or running;
- 402 `INSUFFICIENT_CREDITS`: the connection is `inactive` (the account lacked the
  credits for it), so Makini keeps nothing of it in sync;
- 400 `INVALID_REQUEST`: the connection is `pending` (its Link flow never finished), so
  there is no system to sync from. (Both are codes of the contract's table: a client
  written against Makini meets no code it cannot know.)
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import sqlite3
from collections.abc import Sequence
from typing import Any, Literal

from makini_cli.sandbox import transitions
from makini_cli.sandbox.connections import CREDIT_HOLDING_STATUSES, live_row
from makini_cli.sandbox.errors import ApiError, not_found, validation_failed
from makini_cli.sandbox.platforms import get_platform
from makini_cli.sandbox.sync_view import serialize
from makini_cli.sandbox.transitions import OPEN, SYNC_STATUS_IN_PROGRESS, open_sync

SyncType = Literal["incremental", "full"]
Trigger = Literal["initial", "manual", "scheduled", "retry"]

SYNC_FIELDS: tuple[str, ...] = (
    "id",
    "connection_key",
    "type",
    "trigger",
    "scopes",
    "status",
    "progress",
    "attempt",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "next_retry_at",
)
HISTORY_WINDOW_DAYS = 90
START_DELAY_SECONDS = (1.0, 2.0)
DURATIONS: dict[SyncType, tuple[float, float]] = {
    "incremental": (5.0, 30.0),
    "full": (60.0, 300.0),
}
# Records per scope for a tier-1 system: a day of changes, or the whole history window.
RECORDS_PER_SCOPE: dict[SyncType, int] = {"incremental": 40, "full": 25 * HISTORY_WINDOW_DAYS}
# Retries of scheduled runs that failed because the system is down (contract §5).
FIRST_BACKOFF_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 3_600.0
# The health probe runs at every whole sandbox minute (see `health.py`).
PROBE_INTERVAL_SECONDS = 60.0
# The connections that hold credits are the ones whose data is kept in sync.
ACTIVE_CONNECTION_STATUSES = CREDIT_HOLDING_STATUSES


def _fraction(*parts: str) -> float:
    """A deterministic number in [0, 1) from `parts`."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def plan(
    connection_key: str, platform_key: str, sync_type: SyncType, scopes: Sequence[str]
) -> tuple[float, int]:
    """`(expected_duration, records_total)` of a sync: deterministic, sized by the tier."""
    platform = get_platform(platform_key)
    size = (platform.tier - 1) / 2  # 0, 0.5, 1
    jitter = _fraction(connection_key, sync_type, *sorted(scopes))
    low, high = DURATIONS[sync_type]
    duration = low + (high - low) * (0.5 * size + 0.5 * jitter)
    records = len(scopes) * RECORDS_PER_SCOPE[sync_type] * platform.tier
    return round(duration, 3), max(1, round(records * (0.75 + 0.5 * jitter)))


def not_syncable(connection: sqlite3.Row) -> ApiError | None:
    """Why a connection in its stored status cannot sync, if it cannot."""
    status = connection["status"]
    if status in ACTIVE_CONNECTION_STATUSES:
        return None
    key = connection["key"]
    if status == "inactive":
        return ApiError(
            402,
            "INSUFFICIENT_CREDITS",
            f"Connection {key!r} is inactive: the account lacked the credits for it. Free "
            "credits (delete a connection) or move to a paid plan, then reconnect it.",
            details={"status": status},
        )
    return ApiError(
        400,
        "INVALID_REQUEST",
        f"Connection {key!r} is {status}: its Link flow never finished, so there is no "
        "system to sync from.",
        details={"status": status},
    )


def start_sync(
    conn: sqlite3.Connection,
    now: float,
    connection_key: str,
    *,
    trigger: Trigger = "manual",
    scopes: Sequence[str] | None = None,
    full: bool = False,
    attempt: int = 1,
) -> dict[str, Any]:
    """Queue a sync of `connection_key`; it starts 1–2 s later. Call inside a transaction."""
    connection = live_row(conn, connection_key)
    refusal = not_syncable(connection)
    if refusal is not None:
        raise refusal
    running = open_sync(conn, connection_key)
    if running is not None:
        raise ApiError(
            409,
            "SYNC_ALREADY_RUNNING",
            f"Sync {running['id']} of connection {connection_key!r} is still queued or "
            "running; wait for it or cancel it.",
            details={"sync_id": running["id"]},
        )
    available: list[str] = json.loads(connection["scopes"])
    chosen = list(dict.fromkeys(scopes)) if scopes else available
    unknown = [scope for scope in chosen if scope not in available]
    if unknown:
        raise validation_failed(
            {"scopes": [f"Not a scope of this connection: {', '.join(unknown)}."]},
            f"Connection {connection_key!r} syncs only: {', '.join(available)}.",
        )
    first = connection["last_successful_sync_at"] is None
    sync_type: SyncType = "full" if full or first else "incremental"
    duration, records = plan(connection_key, connection["platform"], sync_type, chosen)
    sync_id = "sync_" + secrets.token_hex(8)
    started = (
        now
        + START_DELAY_SECONDS[0]
        + (START_DELAY_SECONDS[1] - START_DELAY_SECONDS[0]) * _fraction(sync_id)
    )
    transitions.queue_sync(
        conn,
        now,
        connection,
        sync_id=sync_id,
        sync_type=sync_type,
        trigger=trigger,
        scopes=chosen,
        attempt=attempt,
        started_at=round(started, 3),
        expected_duration=duration,
        records_total=records,
    )
    return get_sync(conn, now, sync_id)


def _sync_row(conn: sqlite3.Connection, sync_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT syncs.* FROM syncs JOIN connections ON connections.key = syncs.connection_key"
        " WHERE syncs.id = ? AND connections.deleted_at IS NULL",
        (sync_id,),
    ).fetchone()
    if row is None:
        raise not_found(f"Sync {sync_id!r}")
    return row


def get_sync(conn: sqlite3.Connection, now: float, sync_id: str) -> dict[str, Any]:
    return serialize(_sync_row(conn, sync_id), now)


def list_syncs(conn: sqlite3.Connection, now: float, connection_key: str) -> list[dict[str, Any]]:
    """A connection's syncs, newest first."""
    live_row(conn, connection_key)
    rows = conn.execute(
        "SELECT * FROM syncs WHERE connection_key = ? ORDER BY seq DESC", (connection_key,)
    ).fetchall()
    return [serialize(row, now) for row in rows]


def cancel_sync(conn: sqlite3.Connection, now: float, sync_id: str) -> dict[str, Any]:
    row = _sync_row(conn, sync_id)
    if row["status"] != OPEN:
        raise ApiError(
            409,
            "SYNC_NOT_CANCELLABLE",
            f"Sync {sync_id} already finished ({row['status']}); only a queued or running "
            "sync can be cancelled.",
            details={"status": row["status"]},
        )
    transitions.cancel_sync(conn, row, now)
    return get_sync(conn, now, sync_id)


def _end(row: sqlite3.Row) -> float:
    return float(row["started_at"]) + float(row["expected_duration"])


def backoff_seconds(attempt: int) -> float:
    """The wait before the retry that follows failed attempt `attempt` (1, 2, …)."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** min(attempt - 1, 32)))


def _plan_retry(conn: sqlite3.Connection, row: sqlite3.Row, at: float, code: str) -> float | None:
    """After a scheduled run failed because the system is down, retry with backoff:
    answers when (None: no retry).

    The retry runs after the backoff or when the probe sees the system again, whichever
    is first.
    """
    if code != "SYSTEM_UNREACHABLE" or row["trigger"] not in ("scheduled", "retry"):
        return None
    schedule = conn.execute(
        "SELECT * FROM schedules WHERE connection_key = ? AND enabled = 1",
        (row["connection_key"],),
    ).fetchone()
    if schedule is None:
        return None
    retry_at = at + backoff_seconds(int(row["attempt"]))
    offline = offline_interval(conn, row["connection_key"])
    if offline is not None and offline[0] <= at < offline[1]:
        retry_at = min(retry_at, offline[1])
    conn.execute(
        "UPDATE schedules SET retry_at = ?, retry_attempt = ? WHERE connection_key = ?",
        (retry_at, int(row["attempt"]) + 1, row["connection_key"]),
    )
    return retry_at


def _succeed(conn: sqlite3.Connection, row: sqlite3.Row, at: float) -> None:
    transitions.succeed_sync(conn, row, at)
    # A success ends any backoff; after a retry, regular runs resume an interval later.
    conn.execute(
        "UPDATE schedules SET retry_at = NULL, retry_attempt = NULL,"
        " next_run_at = CASE WHEN ? = 'retry' THEN ? + interval_minutes * 60"
        " ELSE next_run_at END WHERE connection_key = ?",
        (row["trigger"], at, row["connection_key"]),
    )
    transitions.refresh_next_sync(conn, row["connection_key"], event_at=None)  # sync.completed


def _fail(conn: sqlite3.Connection, row: sqlite3.Row, at: float, code: str) -> None:
    retry_at = _plan_retry(conn, row, at, code)
    transitions.fail_sync(conn, row, at, code, retry_at=retry_at)
    transitions.refresh_next_sync(conn, row["connection_key"], event_at=None)  # sync.failed


def fail_open(conn: sqlite3.Connection, now: float, connection_key: str, code: str) -> int:
    """Fail the queued or running sync of a connection whose system just became unusable."""
    row = open_sync(conn, connection_key)
    if row is None:
        return 0
    _fail(conn, row, now, code)
    return 1


def next_probe(after: float) -> float:
    """The first probe time (a whole sandbox minute) at or after `after`."""
    return math.ceil(after / PROBE_INTERVAL_SECONDS) * PROBE_INTERVAL_SECONDS


def offline_interval(conn: sqlite3.Connection, connection_key: str) -> tuple[float, float] | None:
    """When the connection's last outage kept it `offline`: from its start until a probe
    saw the system again (or will: the first probe after its end; never if open-ended)."""
    row = conn.execute(
        "SELECT * FROM outages WHERE connection_key = ?", (connection_key,)
    ).fetchone()
    if row is None:
        return None
    if row["recovered_at"] is not None:
        return float(row["started_at"]), float(row["recovered_at"])
    if row["ends_at"] is None:
        return float(row["started_at"]), math.inf
    return float(row["started_at"]), next_probe(float(row["ends_at"]))


def failure_at(conn: sqlite3.Connection, row: sqlite3.Row, at: float) -> str | None:
    """The error a sync of `row`'s connection starting at `at` meets, if any."""
    offline = offline_interval(conn, row["connection_key"])
    if offline is not None and offline[0] <= at < offline[1]:
        return "SYSTEM_UNREACHABLE"
    if row["connection_credentials_broken"]:
        return "REAUTHORIZATION_REQUIRED"
    return None


def _ending(conn: sqlite3.Connection, row: sqlite3.Row) -> tuple[float, str | None]:
    """When an open sync ends and how: `cancelled`, a failure code, or None (success)."""
    if row["connection_deleted_at"] is not None:
        return max(float(row["connection_deleted_at"]), float(row["created_at"])), "cancelled"
    code = failure_at(conn, row, float(row["started_at"]))
    if code is not None:
        return float(row["started_at"]), code
    return _end(row), None


def _endings(conn: sqlite3.Connection) -> list[tuple[float, sqlite3.Row, str | None]]:
    """Every open sync with when and how it ends, earliest first."""
    rows = conn.execute(
        "SELECT syncs.*, connections.deleted_at AS connection_deleted_at,"
        " connections.credentials_broken AS connection_credentials_broken FROM syncs"
        " JOIN connections ON connections.key = syncs.connection_key"
        " WHERE syncs.status = ?",
        (OPEN,),
    ).fetchall()
    endings: list[tuple[float, sqlite3.Row, str | None]] = []
    for row in rows:
        at, outcome = _ending(conn, row)
        endings.append((at, row, outcome))
    return sorted(endings, key=lambda item: item[0])


def next_finish_due(conn: sqlite3.Connection) -> float | None:
    """When `finish_due` next has a sync to end."""
    endings = _endings(conn)
    return endings[0][0] if endings else None


def finish_due(conn: sqlite3.Connection, now: float) -> int:
    """Scheduler job: end every open sync whose end time has passed, in order, at that time.

    A sync that starts while its connection's system is unusable (an outage, or rejected
    credentials) fails as it starts; one running when that happened was failed then, by
    `fail_open`. A sync of a connection deleted meanwhile (only in data dirs written
    before deleting cancelled the sync at once) is cancelled at the time of the deletion.
    """
    due = [item for item in _endings(conn) if item[0] <= now]
    for at, row, outcome in due:
        if outcome == "cancelled":
            transitions.cancel_sync(conn, row, at)
        elif outcome is not None:
            _fail(conn, row, at, outcome)
        else:
            _succeed(conn, row, at)
    return len(due)


def documented_status(conn: sqlite3.Connection, connection_key: str) -> str:
    """`GET /api/integrations/sync/status`: inprogress|done|fulldone|error|fail."""
    row = live_row(conn, connection_key)
    if open_sync(conn, connection_key) is not None:
        return SYNC_STATUS_IN_PROGRESS
    return str(row["sync_status"] or "done")
