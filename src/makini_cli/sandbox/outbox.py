"""The outbox: a delivery for each webhook an event concerns, written with the event.

`enqueue` runs inside the transaction that records the event (`events.record`), so an
event and its deliveries commit together: a crash can lose neither one without the
other. Sending happens later, outside any transaction (the sender in `delivery.py`).

A webhook concerns an event when it is enabled, not deleted, and its `events` and
`connection_keys` lists each either are empty (all) or name the event's. `ping` (from
`POST /api/system/webhooks/{id}/test`) goes only to the webhook tested, which writes
its own delivery (`add_delivery`); so does a test of another event, recorded inside
`no_fan_out()`.

A delivery is `pending` (its next attempt due at `next_attempt_at`), `succeeded` or
`failed`. Its attempts are rows of `delivery_attempts`, oldest first; one whose
`outcome_known` is 0 is being sent, or was when its sender died (see `delivery.py`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import not_found

DELIVERY_STATUSES: tuple[str, ...] = ("pending", "succeeded", "failed")
DELIVERY_FIELDS: tuple[str, ...] = (
    "id",
    "webhook_id",
    "event_id",
    "event",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)

# Set while a test event is recorded: it goes to the tested webhook alone.
_NO_FAN_OUT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "makini_sandbox_no_fan_out", default=False
)


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_hex(8)


def concerns(webhook: sqlite3.Row, event: str, connection_key: str | None) -> bool:
    if not webhook["enabled"] or webhook["deleted_at"] is not None:
        return False
    events: list[str] = json.loads(webhook["events"])
    keys: list[str] = json.loads(webhook["connection_keys"])
    if events and event not in events:
        return False
    return not keys or connection_key in keys


@contextlib.contextmanager
def no_fan_out() -> Iterator[None]:
    """Events recorded inside go to no webhook by themselves: the caller adds the one
    delivery it means (`POST /api/system/webhooks/{id}/test` of any event)."""
    token = _NO_FAN_OUT.set(True)
    try:
        yield
    finally:
        _NO_FAN_OUT.reset(token)


def add_delivery(
    conn: sqlite3.Connection, now: float, webhook_id: str, payload: Mapping[str, Any]
) -> str:
    """A pending delivery of `payload` to one webhook, due now. Answers its id."""
    delivery_id = new_delivery_id()
    conn.execute(
        "INSERT INTO deliveries (id, webhook_id, event_id, event, status, created_at,"
        " next_attempt_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
        (delivery_id, webhook_id, payload["id"], payload["event"], now, now, now),
    )
    return delivery_id


def enqueue(conn: sqlite3.Connection, now: float, payload: Mapping[str, Any]) -> int:
    """Write a delivery of `payload` for each webhook it concerns; answers how many."""
    if payload["event"] == "ping" or _NO_FAN_OUT.get():
        return 0
    count = 0
    for webhook in conn.execute("SELECT * FROM webhooks WHERE deleted_at IS NULL AND enabled = 1"):
        if concerns(webhook, payload["event"], payload["connection_key"]):
            add_delivery(conn, now, webhook["id"], payload)
            count += 1
    return count


# ---------------------------------------------------------------------- reading


def _attempt_view(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "at": iso(row["at"]),
        "status_code": row["status_code"],
        "error": row["error"],
        # None while the attempt is in flight, or when its sender stopped mid-send.
        "duration_ms": row["duration_ms"],
    }


def _view(row: sqlite3.Row, attempts: list[sqlite3.Row]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "webhook_id": row["webhook_id"],
        "event_id": row["event_id"],
        "event": row["event"],
        "status": row["status"],
        "attempts": [_attempt_view(a) for a in attempts],
        "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "created_at": iso(row["created_at"]),
    }


def delivery_row(conn: sqlite3.Connection, delivery_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    if row is None:
        raise not_found(f"Delivery {delivery_id!r}")
    return row


def get_delivery(conn: sqlite3.Connection, delivery_id: str) -> dict[str, Any]:
    row = delivery_row(conn, delivery_id)
    attempts = conn.execute(
        "SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY seq", (delivery_id,)
    ).fetchall()
    return _view(row, attempts)


def list_deliveries(conn: sqlite3.Connection, webhook_id: str) -> list[dict[str, Any]]:
    """A webhook's deliveries, newest first."""
    rows = conn.execute(
        "SELECT * FROM deliveries WHERE webhook_id = ? ORDER BY seq DESC", (webhook_id,)
    ).fetchall()
    attempts: dict[str, list[sqlite3.Row]] = {row["id"]: [] for row in rows}
    for attempt in conn.execute(
        "SELECT a.* FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id"
        " WHERE d.webhook_id = ? ORDER BY a.seq",
        (webhook_id,),
    ):
        attempts[attempt["delivery_id"]].append(attempt)
    return [_view(row, attempts[row["id"]]) for row in rows]


# ---------------------------------------------------------------------- changing


def retry(conn: sqlite3.Connection, now: float, delivery_id: str) -> dict[str, Any]:
    """Make a new attempt due now. A delivery that was done (failed, or succeeded: a
    redelivery) becomes pending again with a fresh 24 h window, which its next attempt
    opens; a pending one keeps its window."""
    row = delivery_row(conn, delivery_id)
    if row["status"] == "pending":
        conn.execute(
            "UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE id = ?",
            (now, now, delivery_id),
        )
    else:
        conn.execute(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?,"
            " first_attempt_at = NULL, updated_at = ? WHERE id = ?",
            (now, now, delivery_id),
        )
    return get_delivery(conn, delivery_id)


def fail_pending(conn: sqlite3.Connection, now: float, webhook_id: str) -> int:
    """Fail every pending delivery of a webhook (it is being deleted); answers how many.

    One being sent keeps its claim: its sender still records the attempt's outcome, and
    a 2xx still makes it `succeeded` (it did arrive)."""
    return conn.execute(
        "UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = ?"
        " WHERE webhook_id = ? AND status = 'pending'",
        (now, webhook_id),
    ).rowcount
