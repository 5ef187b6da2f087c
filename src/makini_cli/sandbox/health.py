"""What makes a connection's system unusable, on the sandbox's command, and the probe.

Two independent causes, stored apart so that one ending does not hide the other:
- broken credentials (`connections.credentials_broken`): health `reauth_required`; the
  queued or running sync fails with `REAUTHORIZATION_REQUIRED`, and so does every sync
  started until `fix_credentials` (a reconnect). Nothing retries on its own: only a
  person can fix credentials.
- an outage (`outages`, one row per connection): health `offline`; the queued or running
  sync fails with `SYSTEM_UNREACHABLE`, and so does every sync started while the system
  is down. Credits stay consumed. An outage with an end time ends by itself, but health
  only says `online` again once the probe has seen the system answer: the probe runs at
  every whole sandbox minute, so that is the first minute boundary at or after the end.
  Ending an outage by hand (`end_outage`) counts as a probe at that moment.
While both hold, health says `offline` (nothing can be learnt about credentials from a
system that does not answer).

The changes themselves, with their events, are transitions (`transitions.py`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from makini_cli.sandbox import syncs, transitions
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.connections import connection_status, live_row
from makini_cli.sandbox.errors import ApiError


def _probeable(conn: sqlite3.Connection, key: str) -> sqlite3.Row:
    row = live_row(conn, key)
    if row["health"] is None:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            f"Connection {key!r} is {row['status']}: it has no connected system yet.",
            details={"status": row["status"]},
        )
    return row


def _outage_active(conn: sqlite3.Connection, key: str, now: float) -> bool:
    row = conn.execute(
        "SELECT 1 FROM outages WHERE connection_key = ? AND (ends_at IS NULL OR ends_at > ?)",
        (key, now),
    ).fetchone()
    return row is not None


def _recover(conn: sqlite3.Connection, key: str, at: float) -> None:
    """A probe at `at` found the system answering again."""
    told = transitions.system_answered(conn, at, key)
    # The pending backoff retry runs at once.
    conn.execute(
        "UPDATE schedules SET retry_at = ? WHERE connection_key = ? AND retry_at > ?",
        (at, key, at),
    )
    transitions.refresh_next_sync(conn, key, event_at=None if told else at)


def break_credentials(conn: sqlite3.Connection, now: float, key: str) -> dict[str, Any]:
    row = _probeable(conn, key)
    transitions.set_credentials(conn, now, key, broken=True)
    if row["health"] != "offline":
        syncs.fail_open(conn, now, key, "REAUTHORIZATION_REQUIRED")
    return connection_status(conn, now, key)


def fix_credentials(conn: sqlite3.Connection, now: float, key: str) -> dict[str, Any]:
    _probeable(conn, key)
    transitions.set_credentials(conn, now, key, broken=False)
    return connection_status(conn, now, key)


def start_outage(conn: sqlite3.Connection, now: float, key: str, seconds: float) -> dict[str, Any]:
    """Take the system down for `seconds` from now (an ongoing outage gets the new end)."""
    _probeable(conn, key)
    started = now
    if _outage_active(conn, key, now):
        started = conn.execute(
            "SELECT started_at FROM outages WHERE connection_key = ?", (key,)
        ).fetchone()["started_at"]
    transitions.start_outage(conn, now, key, started_at=started, ends_at=now + seconds)
    syncs.fail_open(conn, now, key, "SYSTEM_UNREACHABLE")
    return outage_view(conn, now, key)


def end_outage(conn: sqlite3.Connection, now: float, key: str) -> dict[str, Any]:
    """End the outage now and probe at once; harmless when there is none."""
    row = _probeable(conn, key)
    if _outage_active(conn, key, now):
        transitions.end_outage(conn, key, now)
    if row["health"] == "offline":
        _recover(conn, key, now)
    return outage_view(conn, now, key)


def outage_view(conn: sqlite3.Connection, now: float, key: str) -> dict[str, Any]:
    """The connection's status plus its outage (`null` when none is going on)."""
    status = connection_status(conn, now, key)
    row = conn.execute(
        "SELECT * FROM outages WHERE connection_key = ? AND (ends_at IS NULL OR ends_at > ?)",
        (key, now),
    ).fetchone()
    status["outage"] = (  # the contract's Status has no such field: control answers only
        None
        if row is None
        else {"started_at": iso(row["started_at"]), "ends_at": iso(row["ends_at"])}
    )
    return status


def _probes(conn: sqlite3.Connection) -> list[tuple[float, str]]:
    """`(probe time, key)` of each offline connection whose outage has an end, earliest
    first: the probe sees the system back at the first whole minute at or after it."""
    rows = conn.execute(
        "SELECT connections.key, outages.ends_at FROM connections"
        " JOIN outages ON outages.connection_key = connections.key"
        " WHERE connections.health = 'offline' AND connections.deleted_at IS NULL"
        " AND outages.ends_at IS NOT NULL"
    ).fetchall()
    return sorted((syncs.next_probe(float(row["ends_at"])), row["key"]) for row in rows)


def next_probe_due(conn: sqlite3.Connection) -> float | None:
    """When `probe_offline` next sees a system back."""
    probes = _probes(conn)
    return probes[0][0] if probes else None


def probe_offline(conn: sqlite3.Connection, now: float) -> int:
    """Scheduler job: an offline system whose outage ended is back at the next probe."""
    back = 0
    for probe, key in _probes(conn):
        if probe > now:
            break
        _recover(conn, key, probe)
        back += 1
    return back
