"""The one write path: every change of a connection, a sync or an outage, with its event.

The rules modules (`syncs.py`, `health.py`, `schedules.py`) and the routes decide whether
and when something changes; a function here makes the change. Each writes its rows and
records its event (`events.record`, which also queues the webhook deliveries) in the
caller's transaction, at the one time the caller read (`now`, or a scheduler job's `at`),
so a change and its event commit together or not at all. No other module writes the
`connections`, `syncs` or `outages` tables (tests/sandbox/test_transitions.py greps for
it). The exceptions are the migrations and the seed, which builds the world before any
event (a reset empties the event log with it), partly through
`connections.insert_connection`.

What each change tells:
- a connection created: `connection.status_changed` `{"from": null, "to": <health>,
  "status": <status>}`, its status at that instant (`active`, `overage` or `inactive`);
  deleted: `{"from": <health>, "to": null, "status": null}`, after its open sync, if
  any, is cancelled.
- its health going online|offline|reauth_required: `connection.status_changed` `{from,
  to, status}` (`status`: the connection's status after the change); going to
  `reauth_required` (the system rejected the credentials) also `connection.auth_required`.
- a sync succeeded: `<entity>.inserted` and/or `<entity>.updated` for each of its scopes
  that Makini announces, then `sync.completed`; failed: `sync.failed` with its error;
  cancelled (by hand, or with its connection): `sync.failed` with error `SYNC_CANCELLED`,
  since the contract names no event for it and a client waiting for the end of a sync
  must hear of it.
- No event: a sync queued (the contract names none; the request that queued it has the
  answer); a sync running, and a connection `synchronizing` while its first sync is open
  (both derived from the clock and the rows, never written: their start is known when
  the sync is queued, and their end has its event); metadata set or removed (the
  client's own data, changed by its own request; the contract names no event for it);
  credentials rejected while the system is offline (nothing can be learnt from a system
  that does not answer: the event comes when the probe sees it back); `next_sync_at`
  (derived from the schedule by `refresh_next_sync`).

Entity events are a stand-in until the sandbox serves unified records (a later issue):
without records, a successful sync names a small deterministic list of keys per scope
(`changed_keys`, at most `MAX_KEYS_PER_EVENT`), built like Makini's (14 digits, the
scope's 2-digit prefix, makini-api-facts §5.3) from the connection, the scope and the
sync. A connection's first successful sync inserts all of them; later ones mostly update.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from makini_cli.sandbox import connections, events, sync_view, tokens
from makini_cli.sandbox.platforms import Platform

OPEN = sync_view.OPEN
# What the documented sync_status says while a sync is open, and once it ends
# (makini-api-facts: inprogress, done/fulldone).
SYNC_STATUS_IN_PROGRESS = "inprogress"
FINISHED_SYNC_STATUS: dict[str, str] = {"incremental": "done", "full": "fulldone"}
# Why a sync fails, and what the documented sync_status says then: `error` for a system
# that may come back by itself, `fail` for one that needs a person (as in the seed).
FAILURES: dict[str, str] = {
    "SYSTEM_UNREACHABLE": "The connected system did not answer.",
    "REAUTHORIZATION_REQUIRED": (
        "The connected system rejected the stored credentials; reconnect to renew them."
    ),
}
FAILED_SYNC_STATUS: dict[str, str] = {
    "SYSTEM_UNREACHABLE": "error",
    "REAUTHORIZATION_REQUIRED": "fail",
}
CANCELLED_ERROR: dict[str, str] = {
    "code": "SYNC_CANCELLED",
    "message": "The sync was cancelled before it finished.",
}

#: Makini's key prefix of each entity it announces (makini-api-facts §5.3).
SCOPE_PREFIXES: dict[str, str] = {
    "sites": "01",
    "assets": "02",
    "work_orders": "03",
    "purchase_orders": "05",
}
MAX_KEYS_PER_EVENT = 20
# About one record in four of a later sync is new; the rest were changed.
_INSERTED_SHARE = 0.25


# --- connections ------------------------------------------------------------------


def create_connection(
    conn: sqlite3.Connection,
    now: float,
    *,
    name: str,
    email: str,
    platform: Platform,
    plan: str,
) -> tuple[str, str, tokens.TokenPair]:
    """A new online connection, its stored status and its first connection token pair.

    Like Makini (credits page), a connection is never refused for want of credits: it
    is created `inactive` (holding none), or on a paid plan it runs as `overage`.
    """
    account = connections.account_summary(conn)
    available = account["credits_total"] - account["credits_used"]
    status = "active"
    if platform.credits > available:
        status = "overage" if plan == "paid" else "inactive"
    key = connections.new_connection_key(conn)
    new = connections.NewConnection(
        key=key,
        name=name,
        email=email,
        platform=platform,
        status=status,
        created_at=now,
        connected_at=now,
    )
    connections.insert_connection(conn, new)
    _health_event(conn, now, key, None, new.health)
    return key, status, tokens.issue_pair(conn, now, "connection", key)


def delete_connection(conn: sqlite3.Connection, now: float, key: str) -> None:
    """Disconnect: its open sync is cancelled, credits return to the pool and every token
    of it stops working."""
    row = connections.live_row(conn, key)
    running = open_sync(conn, key)
    if running is not None:
        cancel_sync(conn, running, now)
    conn.execute(
        "UPDATE connections SET deleted_at = ?, updated_at = ?, credits = 0, "
        "next_sync_at = NULL WHERE key = ?",
        (now, now, key),
    )
    conn.execute("DELETE FROM connection_metadata WHERE connection_key = ?", (key,))
    tokens.revoke_subject(conn, now, "connection", key)
    events.record(
        conn,
        now,
        "connection.status_changed",
        key,
        {"from": row["health"], "to": None, "status": None},
    )


def set_metadata(
    conn: sqlite3.Connection, now: float, key: str, items: Sequence[tuple[str, str]]
) -> None:
    """Set each `(name, value)`, keeping the other entries. No event (module docstring)."""
    connections.live_row(conn, key)
    for name, value in items:
        connections.put_metadata(conn, key, name, value, now)
    conn.execute("UPDATE connections SET updated_at = ? WHERE key = ?", (now, key))


def remove_metadata(conn: sqlite3.Connection, now: float, key: str, name: str) -> bool:
    """Remove one entry; False if there was none. No event (module docstring)."""
    connections.live_row(conn, key)
    removed = conn.execute(
        "DELETE FROM connection_metadata WHERE connection_key = ? AND key = ?", (key, name)
    ).rowcount
    if removed:
        conn.execute("UPDATE connections SET updated_at = ? WHERE key = ?", (now, key))
    return bool(removed)


def refresh_next_sync(conn: sqlite3.Connection, connection_key: str) -> None:
    """`next_sync_at` of a connection: its pending retry, else its next regular run.

    Derived from the schedule, so no event. Nothing is due while the credentials are
    rejected: only a person can fix those.
    """
    conn.execute(
        "UPDATE connections SET next_sync_at = ("
        " SELECT COALESCE(schedules.retry_at, schedules.next_run_at) FROM schedules"
        " WHERE schedules.connection_key = connections.key AND schedules.enabled = 1"
        " AND connections.credentials_broken = 0) WHERE key = ?",
        (connection_key,),
    )


# --- health -----------------------------------------------------------------------


def set_health(conn: sqlite3.Connection, now: float, key: str, health: str) -> bool:
    """The connected system is now `health` (online, offline, reauth_required); False
    (and no event) if it already was."""
    before = conn.execute("SELECT health FROM connections WHERE key = ?", (key,)).fetchone()
    if before is None or before["health"] == health:
        return False
    if health == "online":
        conn.execute(
            "UPDATE connections SET health = ?, error_code = NULL, error_message = NULL"
            " WHERE key = ?",
            (health, key),
        )
    else:
        conn.execute("UPDATE connections SET health = ? WHERE key = ?", (health, key))
    _health_event(conn, now, key, before["health"], health)
    if health == "reauth_required":
        code = "REAUTHORIZATION_REQUIRED"
        error = {"code": code, "message": FAILURES[code]}
        events.record(conn, now, "connection.auth_required", key, {"error": error})
    return True


def set_credentials(conn: sqlite3.Connection, key: str, *, broken: bool) -> None:
    """Whether the connected system rejects the stored credentials. The health change
    that follows, if any, carries the event (`set_health`)."""
    conn.execute("UPDATE connections SET credentials_broken = ? WHERE key = ?", (int(broken), key))
    refresh_next_sync(conn, key)


def start_outage(
    conn: sqlite3.Connection, now: float, key: str, *, started_at: float, ends_at: float | None
) -> None:
    """The system is down from `started_at` until `ends_at` (None: until ended by hand)."""
    conn.execute(
        "INSERT INTO outages (connection_key, started_at, ends_at) VALUES (?, ?, ?)"
        " ON CONFLICT (connection_key) DO UPDATE SET"
        " started_at = excluded.started_at, ends_at = excluded.ends_at, recovered_at = NULL",
        (key, started_at, ends_at),
    )
    set_health(conn, now, key, "offline")


def end_outage(conn: sqlite3.Connection, key: str, at: float) -> None:
    """The outage ends at `at`. Health follows when a probe sees the system answer
    (`system_answered`)."""
    conn.execute("UPDATE outages SET ends_at = ? WHERE connection_key = ?", (at, key))


def system_answered(conn: sqlite3.Connection, at: float, key: str) -> None:
    """A probe at `at` found the system answering again: its health says whether it
    accepts the credentials, and the pending retry of its syncs is due at once."""
    conn.execute("UPDATE outages SET recovered_at = ? WHERE connection_key = ?", (at, key))
    broken = conn.execute(
        "SELECT credentials_broken FROM connections WHERE key = ?", (key,)
    ).fetchone()["credentials_broken"]
    set_health(conn, at, key, "reauth_required" if broken else "online")
    conn.execute(
        "UPDATE syncs SET next_retry_at = ? WHERE connection_key = ? AND next_retry_at > ?",
        (at, key, at),
    )


def _health_event(
    conn: sqlite3.Connection, now: float, key: str, before: str | None, after: str | None
) -> None:
    body = {"from": before, "to": after, "status": connections.status_of(conn, key)}
    events.record(conn, now, "connection.status_changed", key, body)


# --- syncs ------------------------------------------------------------------------


def queue_sync(
    conn: sqlite3.Connection,
    now: float,
    connection: sqlite3.Row,
    *,
    sync_id: str,
    sync_type: str,
    trigger: str,
    scopes: Sequence[str],
    attempt: int,
    started_at: float,
    expected_duration: float,
    records_total: int,
) -> None:
    """A sync of `connection`, queued now, running from `started_at` for
    `expected_duration`. No event (module docstring)."""
    conn.execute(
        "INSERT INTO syncs (id, connection_key, type, trigger, scopes, status, attempt,"
        " created_at, started_at, expected_duration, records_total, prior_sync_status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sync_id,
            connection["key"],
            sync_type,
            trigger,
            json.dumps(list(scopes)),
            OPEN,
            attempt,
            now,
            started_at,
            expected_duration,
            records_total,
            connection["sync_status"],
        ),
    )
    conn.execute(
        "UPDATE connections SET sync_status = ?, sync_updated_at = ? WHERE key = ?",
        (SYNC_STATUS_IN_PROGRESS, now, connection["key"]),
    )


def succeed_sync(conn: sqlite3.Connection, row: sqlite3.Row, at: float) -> None:
    """The open sync `row` ended well at `at`: its records' events, then `sync.completed`."""
    key = row["connection_key"]
    first = (
        conn.execute(
            "SELECT last_successful_sync_at FROM connections WHERE key = ?", (key,)
        ).fetchone()["last_successful_sync_at"]
        is None
    )
    conn.execute(
        "UPDATE syncs SET status = 'succeeded', finished_at = ? WHERE id = ?", (at, row["id"])
    )
    conn.execute(
        "UPDATE connections SET sync_status = ?, sync_updated_at = ?, last_sync_at = ?,"
        " last_successful_sync_at = ?, error_code = NULL, error_message = NULL WHERE key = ?",
        (FINISHED_SYNC_STATUS[row["type"]], at, at, at, key),
    )
    for event, keys in changed_keys(row, first=first):
        events.record(conn, at, event, key, keys)
    body = _sync_body(conn, row, at, int(row["records_total"]), None)
    events.record(conn, at, "sync.completed", key, body)


def fail_sync(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    at: float,
    code: str,
    *,
    retry_at: float | None = None,
) -> None:
    """The open sync `row` failed at `at` with `code` (a key of `FAILURES`); `retry_at`:
    when its retry runs, if one is planned."""
    message = FAILURES[code]
    conn.execute(
        "UPDATE syncs SET status = 'failed', finished_at = ?, error_code = ?, error_message = ?,"
        " next_retry_at = ? WHERE id = ?",
        (at, code, message, retry_at, row["id"]),
    )
    conn.execute(
        "UPDATE connections SET sync_status = ?, sync_updated_at = ?, last_sync_at = ?,"
        " error_code = ?, error_message = ? WHERE key = ?",
        (FAILED_SYNC_STATUS[code], at, at, code, message, row["connection_key"]),
    )
    body = _sync_body(
        conn, row, at, records_processed(row, at), {"code": code, "message": message}
    )
    events.record(conn, at, "sync.failed", row["connection_key"], body)


def cancel_sync(conn: sqlite3.Connection, row: sqlite3.Row, at: float) -> None:
    """The open sync `row` was cancelled at `at`."""
    conn.execute(
        "UPDATE syncs SET status = 'cancelled', finished_at = ? WHERE id = ?", (at, row["id"])
    )
    # The connection's documented sync_status goes back to what it said before this sync.
    conn.execute(
        "UPDATE connections SET sync_status = ?, sync_updated_at = ? WHERE key = ?",
        (row["prior_sync_status"], at, row["connection_key"]),
    )
    body = _sync_body(conn, row, at, records_processed(row, at), dict(CANCELLED_ERROR))
    events.record(conn, at, "sync.failed", row["connection_key"], body)


def records_processed(row: sqlite3.Row, at: float) -> int:
    """How many records the sync `row` had read by `at` (all of them once it is over)."""
    if at <= row["started_at"]:
        return 0
    share = min(1.0, (at - row["started_at"]) / row["expected_duration"])
    return int(int(row["records_total"]) * share)


def changed_keys(row: sqlite3.Row, *, first: bool) -> list[tuple[str, list[str]]]:
    """The entity events of the successful sync `row`: `(event name, record keys)`.

    A stand-in for records (module docstring): per scope Makini announces, the sync's
    share of its records, at most `MAX_KEYS_PER_EVENT`, each a key derived from the
    connection, the scope, the sync and its place. `first`: the connection's first
    successful sync, which inserts every record it reads.
    """
    scopes: list[str] = json.loads(row["scopes"])
    per_scope = max(1, int(row["records_total"]) // max(1, len(scopes)))
    count = min(MAX_KEYS_PER_EVENT, per_scope)
    changes: list[tuple[str, list[str]]] = []
    for scope in scopes:
        prefix = SCOPE_PREFIXES.get(scope)
        if prefix is None:
            continue
        inserted: set[str] = set()
        updated: set[str] = set()
        for place in range(count):
            seed = f"{row['connection_key']}\x1f{scope}\x1f{row['id']}\x1f{place}"
            digest = hashlib.sha256(seed.encode()).digest()
            record_key = prefix + f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"
            new = first or digest[8] < 256 * _INSERTED_SHARE
            (inserted if new else updated).add(record_key)
        for action, keys in (("inserted", inserted), ("updated", updated)):
            if keys:
                changes.append((f"{scope}.{action}", sorted(keys)))
    return changes


def _sync_body(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    at: float,
    processed: int,
    error: dict[str, str] | None,
) -> dict[str, Any]:
    """The body of `sync.completed` / `sync.failed`: the gist, and (ext, additive) the
    ended Sync as `GET /api/system/syncs/{id}` shows it, so that a client following the
    log learns the outcome without asking for each sync."""
    ended = conn.execute("SELECT * FROM syncs WHERE id = ?", (row["id"],)).fetchone()
    return {
        "sync_id": row["id"],
        "type": row["type"],
        "trigger": row["trigger"],
        "scopes": json.loads(row["scopes"]),
        "records_processed": processed,
        "error": error,
        "sync": sync_view.serialize(ended, at),
    }


def open_sync(conn: sqlite3.Connection, connection_key: str) -> sqlite3.Row | None:
    """The connection's queued or running sync, if any."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM syncs WHERE connection_key = ? AND status = ? ORDER BY seq DESC LIMIT 1",
        (connection_key, OPEN),
    ).fetchone()
    return row
