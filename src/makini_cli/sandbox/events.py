"""The event log: every change of state, one row each, in the order it happened.

`record` is the only way an event is written. Transition functions call it inside the
transaction that changes the row the event tells of, so a change and its event commit
together or not at all; and it hands the event to the outbox (`outbox.enqueue`), which
writes a delivery for each matching webhook in that same transaction.

An event's payload (contract §7–8) is what the event log answers and what a webhook
delivery carries: `{"id", "event", "created_at", "connection_key", "body"}`.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from makini_cli.sandbox.clock import iso

#: Entities whose records Makini announces (contract §7), and how.
ENTITY_EVENT_ENTITIES: tuple[str, ...] = ("sites", "assets", "purchase_orders", "work_orders")
ENTITY_ACTIONS: tuple[str, ...] = ("inserted", "updated")
#: (ext) A connection's custom field defined, changed or removed: operational, not entity
#: events (their body is the field, not record keys).
CUSTOM_FIELD_EVENTS: tuple[str, ...] = (
    "custom_field.created",
    "custom_field.updated",
    "custom_field.deleted",
)
#: (ext) Changes of a connection's status fields the contract names no event for: a sync
#: started (`sync_status` becomes `inprogress`), and the rest (`connection.updated`, with
#: the fields that changed); see transitions.py.
STATUS_EVENTS: tuple[str, ...] = ("sync.started", "connection.updated")
OPERATIONAL_EVENTS: tuple[str, ...] = (
    "sync.completed",
    "sync.failed",
    "connection.auth_required",
    "connection.status_changed",
    "system.error",
    "ping",
    *CUSTOM_FIELD_EVENTS,
    *STATUS_EVENTS,
)
EVENT_NAMES: tuple[str, ...] = OPERATIONAL_EVENTS + tuple(
    f"{entity}.{action}" for entity in ENTITY_EVENT_ENTITIES for action in ENTITY_ACTIONS
)

Body = Mapping[str, Any] | Sequence[str]


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def record(
    conn: sqlite3.Connection,
    now: float,
    event: str,
    connection_key: str | None,
    body: Body,
) -> dict[str, Any]:
    """Write one event at sandbox time `now` and queue its deliveries; call inside the
    transaction that makes the change it tells of. Answers the event's payload."""
    from makini_cli.sandbox import outbox  # outbox reads payloads built here

    if event not in EVENT_NAMES:
        raise ValueError(f"unknown event {event!r}")
    event_id = new_event_id()
    stored_body = json.dumps(body if isinstance(body, Mapping) else list(body))
    conn.execute(
        "INSERT INTO events (id, event, connection_key, created_at, body) VALUES (?, ?, ?, ?, ?)",
        (event_id, event, connection_key, now, stored_body),
    )
    payload = {
        "id": event_id,
        "event": event,
        "created_at": iso(now),
        "connection_key": connection_key,
        "body": json.loads(stored_body),
    }
    outbox.enqueue(conn, now, payload)
    return payload


def payload_of(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": row["event"],
        "created_at": iso(row["created_at"]),
        "connection_key": row["connection_key"],
        "body": json.loads(row["body"]),
    }


def get_event(conn: sqlite3.Connection, event_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else payload_of(row)
