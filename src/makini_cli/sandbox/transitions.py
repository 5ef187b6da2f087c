"""The one write path: every change of a connection, a sync, an outage, a custom field or
a unified record, with its event.

The rules modules (`syncs.py`, `health.py`, `schedules.py`, `custom_fields.py`,
`writes.py`) and the routes decide whether and when something changes; a function here
makes the change. Each writes its rows and records its event (`events.record`, which
also queues the webhook deliveries) in the caller's transaction, at the one time the
caller read (`now`, or a scheduler job's `at`), so a change and its event commit
together or not at all. No other module writes the `connections`, `syncs`, `outages`,
`custom_fields` or `record_changes` tables (tests/sandbox/test_transitions.py greps for
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
  The change also sets `health_since`.
- (ext) a sync queued: `sync.started` `{sync_id, type, trigger, scopes, sync}` (`sync`:
  the Sync as `GET /api/system/syncs/{id}` shows it then); the connection's `sync_status`
  becomes `inprogress`, and a first sync makes it `synchronizing`.
- (ext) a change of a field of the status call (`GET …/status`) that no other event
  tells: `connection.updated` `{"changed": [<field>, …], <field>: <new value>, …}`.
  Today that is `next_sync_at` alone: a schedule set, a scheduled slot skipped, or the
  credentials rejected or accepted again while the system is offline (nothing is due
  while they are rejected). Where another event of the connection is recorded in the
  same transaction (a sync started or ended, a health change) that event tells, and
  `connection.updated` is not recorded: a client re-reads the connection on any event
  of it, and reads the whole transaction's outcome.
So a client following the log re-reads exactly the connections whose status fields
changed: every change of `status`, `health`, `sync_status`, `last_sync_at`,
`last_successful_sync_at`, `next_sync_at` or `error` comes with an event of that
connection (tests/sandbox/test_transitions.py drives each kind of change and checks).
The stored lifecycle status never changes after creation (credits freed by a deletion
do not revive an `inactive` connection: it is reconnected).
- a sync succeeded: its records changed (`sync_record_changes`), `<entity>.inserted`
  and/or `<entity>.updated` for each of its scopes that Makini announces, then
  `sync.completed`; failed: `sync.failed` with its error;
  cancelled (by hand, or with its connection): `sync.failed` with error `SYNC_CANCELLED`,
  since the contract names no event for it and a client waiting for the end of a sync
  must hear of it.
- a record written (POST or PUT of work-orders or assets): `<entity>.inserted` or
  `<entity>.updated` with its key.
- (ext) a custom field defined, changed or removed: `custom_field.created` /
  `custom_field.updated` (body: the field) / `custom_field.deleted` (`{key, entity,
  name}`); a change that changes nothing changes no row and tells nothing.
- No event: a sync going from queued to running (derived from the clock and the rows,
  never written: its start is known when the sync is queued, and told by `sync.started`);
  metadata set or removed (the client's own data, changed by its own request; the
  contract names no event for it, and it is no field of the status call); the health of
  credentials rejected while the system is offline (nothing can be learnt from a system
  that does not answer: the health event comes when the probe sees it back).

Syncs change records (records.py has how records are made): for each scope of a
successful sync that the connection's category serves, a connection's first successful
sync announces its first records as inserted (the import: they change nothing); a later
one touches a deterministic share of the records (seeded by the sync's id, at most
`MAX_KEYS_PER_EVENT` per scope, so the rows it writes are bounded): their `updatedAt`
becomes the sync's end, some get another status, and about one in four is a new record
(the system's next row). `modified_after=<a time before the sync>` then lists exactly
what it touched, and the entity events name the same keys.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from makini_cli.sandbox import connections, custom_fields, events, records, sync_view, tokens
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.platforms import Platform, get_platform
from makini_cli.sandbox.unified import Entity, record_key, sources

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

MAX_KEYS_PER_EVENT = 20
# About one record in four of a later sync is new; the rest were changed, and about one
# changed record in three got another status.
_INSERTED_SHARE = 0.25
_STATUS_SHARE = 1 / 3
#: The fields a sync may change besides updatedAt, first one an entity has.
STATUS_FIELDS: tuple[str, ...] = ("status", "statusKey")
#: Columns of custom_fields a change may set.
CUSTOM_FIELD_COLUMNS: tuple[str, ...] = ("name", "source", "type", "writable")


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


def refresh_next_sync(
    conn: sqlite3.Connection, connection_key: str, *, event_at: float | None
) -> bool:
    """`next_sync_at` of a connection: its pending retry, else its next regular run.
    Nothing is due while the credentials are rejected: only a person can fix those.

    If it changed: `connection.updated` at `event_at`, or no event when `event_at` is
    None: the caller records another event of the connection in this transaction (or
    seeds the world before any event). Answers whether it changed.
    """
    before = conn.execute(
        "SELECT next_sync_at FROM connections WHERE key = ?", (connection_key,)
    ).fetchone()
    conn.execute(
        "UPDATE connections SET next_sync_at = ("
        " SELECT COALESCE(schedules.retry_at, schedules.next_run_at) FROM schedules"
        " WHERE schedules.connection_key = connections.key AND schedules.enabled = 1"
        " AND connections.credentials_broken = 0) WHERE key = ?",
        (connection_key,),
    )
    after = conn.execute(
        "SELECT next_sync_at FROM connections WHERE key = ?", (connection_key,)
    ).fetchone()
    if before is None or before["next_sync_at"] == after["next_sync_at"]:
        return False
    if event_at is not None:
        _updated_event(conn, event_at, connection_key, {"next_sync_at": iso(after["next_sync_at"])})
    return True


def _updated_event(
    conn: sqlite3.Connection, now: float, key: str, changes: Mapping[str, Any]
) -> None:
    """(ext) `connection.updated`: status fields that changed with no other event."""
    body = {"changed": list(changes), **changes}
    events.record(conn, now, "connection.updated", key, body)


# --- health -----------------------------------------------------------------------


def set_health(conn: sqlite3.Connection, now: float, key: str, health: str) -> bool:
    """The connected system is now `health` (online, offline, reauth_required); False
    (and no event) if it already was."""
    before = conn.execute("SELECT health FROM connections WHERE key = ?", (key,)).fetchone()
    if before is None or before["health"] == health:
        return False
    if health == "online":
        conn.execute(
            "UPDATE connections SET health = ?, health_since = ?, error_code = NULL,"
            " error_message = NULL WHERE key = ?",
            (health, now, key),
        )
    else:
        conn.execute(
            "UPDATE connections SET health = ?, health_since = ? WHERE key = ?",
            (health, now, key),
        )
    _health_event(conn, now, key, before["health"], health)
    if health == "reauth_required":
        code = "REAUTHORIZATION_REQUIRED"
        error = {"code": code, "message": FAILURES[code]}
        events.record(conn, now, "connection.auth_required", key, {"error": error})
    return True


def set_credentials(conn: sqlite3.Connection, now: float, key: str, *, broken: bool) -> None:
    """Whether the connected system rejects the stored credentials, and the health that
    follows: `reauth_required` once they are rejected by a system that answers, `online`
    once they are fixed. The health change carries the event; without one (the system
    is offline) a change of `next_sync_at` has its own."""
    row = conn.execute("SELECT health FROM connections WHERE key = ?", (key,)).fetchone()
    conn.execute("UPDATE connections SET credentials_broken = ? WHERE key = ?", (int(broken), key))
    told = False
    if row is not None and broken and row["health"] not in (None, "offline"):
        told = set_health(conn, now, key, "reauth_required")
    elif row is not None and not broken and row["health"] == "reauth_required":
        told = set_health(conn, now, key, "online")
    refresh_next_sync(conn, key, event_at=None if told else now)


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


def system_answered(conn: sqlite3.Connection, at: float, key: str) -> bool:
    """A probe at `at` found the system answering again: its health says whether it
    accepts the credentials, and the pending retry of its syncs is due at once. Answers
    whether the health changed (and so has its event)."""
    conn.execute("UPDATE outages SET recovered_at = ? WHERE connection_key = ?", (at, key))
    broken = conn.execute(
        "SELECT credentials_broken FROM connections WHERE key = ?", (key,)
    ).fetchone()["credentials_broken"]
    changed = set_health(conn, at, key, "reauth_required" if broken else "online")
    conn.execute(
        "UPDATE syncs SET next_retry_at = ? WHERE connection_key = ? AND next_retry_at > ?",
        (at, key, at),
    )
    return changed


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
    `expected_duration`: (ext) `sync.started`."""
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
    queued = conn.execute("SELECT * FROM syncs WHERE id = ?", (sync_id,)).fetchone()
    body = {
        "sync_id": sync_id,
        "type": sync_type,
        "trigger": trigger,
        "scopes": list(scopes),
        "sync": sync_view.serialize(queued, now),
    }
    events.record(conn, now, "sync.started", connection["key"], body)


def succeed_sync(conn: sqlite3.Connection, row: sqlite3.Row, at: float) -> None:
    """The open sync `row` ended well at `at`: its records' events, then `sync.completed`."""
    key = row["connection_key"]
    before = conn.execute(
        "SELECT platform, last_successful_sync_at FROM connections WHERE key = ?", (key,)
    ).fetchone()
    first = before["last_successful_sync_at"] is None
    conn.execute(
        "UPDATE syncs SET status = 'succeeded', finished_at = ? WHERE id = ?", (at, row["id"])
    )
    conn.execute(
        "UPDATE connections SET sync_status = ?, sync_updated_at = ?, last_sync_at = ?,"
        " last_successful_sync_at = ?, error_code = NULL, error_message = NULL WHERE key = ?",
        (FINISHED_SYNC_STATUS[row["type"]], at, at, at, key),
    )
    platform = get_platform(before["platform"])
    for event, keys in sync_record_changes(conn, row, at, platform, first=first):
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
    body = _sync_body(conn, row, at, records_processed(row, at), {"code": code, "message": message})
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


def sync_record_changes(
    conn: sqlite3.Connection, row: sqlite3.Row, at: float, platform: Platform, *, first: bool
) -> list[tuple[str, list[str]]]:
    """Change the records the successful sync `row` touched (module docstring) and answer
    its entity events: `(event name, record keys)`, for the scopes Makini announces.

    `first`: the connection's first successful sync, which imports what is there.
    """
    connection_key = row["connection_key"]
    scopes: list[str] = json.loads(row["scopes"])
    per_scope = max(1, int(row["records_total"]) // max(1, len(scopes)))
    count = min(MAX_KEYS_PER_EVENT, per_scope)
    by_scope = {source.entity.scope: source for source in sources(platform).values()}
    rows = records.table_rows(conn)
    changes: list[tuple[str, list[str]]] = []
    for scope in scopes:
        source = by_scope.get(scope)
        if source is None:
            continue  # a scope the category serves no records of (users, …)
        entity = source.entity
        size = source.size(connection_key, rows=rows)
        inserted: list[int] = []
        updated: list[int] = []
        if first:
            inserted = list(range(1, min(count, size) + 1))
        else:
            # Not for secrets: seeded by the sync, so the same sync changes the same records.
            rng = random.Random(f"{row['id']}/{scope}")  # noqa: S311
            existing = _changes_of(conn, connection_key, entity)
            last = max([size, *existing])
            new = sum(rng.random() < _INSERTED_SHARE for _ in range(count))
            picked = rng.sample(range(1, last + 1), min(count - new, last))
            updated = sorted(n for n in picked if n <= size or n in existing)
            status = next((f for f in STATUS_FIELDS if f in entity.fields), None)
            for number in updated:
                patch: dict[str, Any] = {}
                if status is not None and rng.random() < _STATUS_SHARE:
                    value = source.record(connection_key, rng.randint(1, size)).get(status)
                    if value is not None:
                        patch[status] = value
                _put_change(
                    conn,
                    connection_key,
                    entity,
                    number,
                    origin="seed" if number <= size else existing[number],
                    created_at=None,
                    updated_at=at,
                    patch=patch,
                )
            inserted = list(range(last + 1, last + new + 1))
            for number in inserted:
                _put_change(
                    conn,
                    connection_key,
                    entity,
                    number,
                    origin="sync",
                    created_at=at,
                    updated_at=at,
                    patch={},
                )
        if scope not in events.ENTITY_EVENT_ENTITIES:
            continue  # changed, but Makini announces no event for it
        for action, numbers in (("inserted", inserted), ("updated", updated)):
            if numbers:
                keys = sorted(record_key(connection_key, entity, n) for n in numbers)
                changes.append((f"{scope}.{action}", keys))
    return changes


def _changes_of(conn: sqlite3.Connection, connection_key: str, entity: Entity) -> dict[int, str]:
    """Number → origin of every changed or added record of the entity."""
    return {
        int(found["number"]): found["origin"]
        for found in conn.execute(
            "SELECT number, origin FROM record_changes WHERE connection_key = ? AND entity = ?",
            (connection_key, entity.path),
        )
    }


def _put_change(
    conn: sqlite3.Connection,
    connection_key: str,
    entity: Entity,
    number: int,
    *,
    origin: str,
    created_at: float | None,
    updated_at: float,
    patch: Mapping[str, Any],
) -> None:
    """Record `number` changed: `patch` over what earlier changes set (custom field values
    merged too); an existing row keeps its origin and creation time. No event: the caller
    tells."""
    found = conn.execute(
        "SELECT data FROM record_changes WHERE connection_key = ? AND entity = ? AND number = ?",
        (connection_key, entity.path, number),
    ).fetchone()
    data: dict[str, Any] = json.loads(found["data"]) if found is not None else {}
    written = {**data.get(records.CUSTOM_FIELDS, {}), **patch.get(records.CUSTOM_FIELDS, {})}
    data |= patch
    if written:
        data[records.CUSTOM_FIELDS] = written
    conn.execute(
        "INSERT INTO record_changes"
        " (connection_key, entity, number, origin, created_at, updated_at, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (connection_key, entity, number) DO UPDATE SET"
        " updated_at = excluded.updated_at, data = excluded.data",
        (connection_key, entity.path, number, origin, created_at, updated_at, json.dumps(data)),
    )


# --- unified records --------------------------------------------------------------


def write_record(
    conn: sqlite3.Connection,
    now: float,
    connection_key: str,
    entity: Entity,
    number: int,
    data: Mapping[str, Any],
    *,
    created: bool,
) -> str:
    """A documented write: record `number` created (`created`, from `data` alone) or
    changed (`data` over it), at `now`; its entity event. Answers its key."""
    _put_change(
        conn,
        connection_key,
        entity,
        number,
        origin="write" if created else "seed",
        created_at=now if created else None,
        updated_at=now,
        patch=data,
    )
    key = record_key(connection_key, entity, number)
    if entity.scope in events.ENTITY_EVENT_ENTITIES:
        action = "inserted" if created else "updated"
        events.record(conn, now, f"{entity.scope}.{action}", connection_key, [key])
    return key


# --- custom fields (ext) ----------------------------------------------------------


def define_custom_field(
    conn: sqlite3.Connection,
    now: float,
    connection_key: str,
    *,
    entity: str,
    name: str,
    source: str,
    type_: str,
    writable: bool,
) -> dict[str, Any]:
    """A new custom field (already checked: `custom_fields.check`); answers it."""
    key = custom_fields.new_key()
    conn.execute(
        "INSERT INTO custom_fields (key, connection_key, entity, name, source, type, writable,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (key, connection_key, entity, name, source, type_, int(writable), now, now),
    )
    field = custom_fields.view(custom_fields.get_row(conn, connection_key, key))
    events.record(conn, now, "custom_field.created", connection_key, field)
    return field


def change_custom_field(
    conn: sqlite3.Connection, now: float, row: sqlite3.Row, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Set `changes` (of `CUSTOM_FIELD_COLUMNS`, already checked) on the field `row`;
    what already holds the value is no change. Answers the field."""
    stored = {name: int(value) if name == "writable" else value for name, value in changes.items()}
    different = {
        name: value
        for name, value in stored.items()
        if name in CUSTOM_FIELD_COLUMNS and row[name] != value
    }
    if different:
        assignments = ", ".join(f"{name} = ?" for name in different)
        conn.execute(
            f"UPDATE custom_fields SET {assignments}, updated_at = ? WHERE key = ?",  # noqa: S608 - fixed column names
            (*different.values(), now, row["key"]),
        )
    field = custom_fields.view(custom_fields.get_row(conn, row["connection_key"], row["key"]))
    if different:
        events.record(conn, now, "custom_field.updated", row["connection_key"], field)
    return field


def remove_custom_field(conn: sqlite3.Connection, now: float, row: sqlite3.Row) -> dict[str, Any]:
    """Remove the field `row`; answers what the event tells of it."""
    conn.execute("DELETE FROM custom_fields WHERE key = ?", (row["key"],))
    body = {"key": row["key"], "entity": row["entity"], "name": row["name"]}
    events.record(conn, now, "custom_field.deleted", row["connection_key"], body)
    return body


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
