"""The account, the client and its connections: rows in, API objects out.

Field types where Makini's spec and docs disagree:
- `scopes` is documented as a string but holds a set of unified entity scopes, so it is
  a list of scope strings (`["sites", "assets", "work-orders"]`).
- `user_metadata` is documented as a string, but the docs describe free-form key/value
  metadata set through `POST …/metadata`, so it is an object built from those rows
  (`{"customer_id": "CUST-1001"}`); `{}` when there is none.
- `tags` is a list, as documented.
Documented fields come first, in the spec's order, then the (ext) ones.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from makini_cli.sandbox import tokens
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import ApiError, not_found
from makini_cli.sandbox.platforms import Platform, get_platform

DOCUMENTED_FIELDS: tuple[str, ...] = (
    "key",
    "name",
    "email",
    "status",
    "integration_name",
    "redirect",
    "scopes",
    "tags",
    "user_metadata",
    "client_id",
    "created_at",
    "updated_at",
    "connected_at",
)
EXTENSION_FIELDS: tuple[str, ...] = (
    "platform",
    "health",
    "credits",
    "last_sync_at",
    "last_successful_sync_at",
    "next_sync_at",
)
CONNECTION_FIELDS = DOCUMENTED_FIELDS + EXTENSION_FIELDS

# Statuses in which a connection holds its credits (makini-api-facts §8.4).
CREDIT_HOLDING_STATUSES = frozenset({"synchronizing", "in_progress", "active", "overage"})

_HEALTH_ERRORS: Mapping[str, tuple[str, str]] = {
    "offline": ("SYSTEM_UNREACHABLE", "The connected system does not answer."),
    "reauth_required": (
        "REAUTHORIZATION_REQUIRED",
        "The connected system rejected the stored credentials; reconnect to renew them.",
    ),
}


@dataclass(frozen=True)
class NewConnection:
    key: str
    name: str
    email: str
    platform: Platform
    status: str = "active"
    health: str | None = "online"
    tags: Sequence[str] = ()
    created_at: float = 0.0
    connected_at: float | None = None
    sync_status: str | None = None
    last_sync_at: float | None = None
    last_successful_sync_at: float | None = None
    next_sync_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def credits(self) -> int:
        return self.platform.credits if self.status in CREDIT_HOLDING_STATUSES else 0


def insert_connection(conn: sqlite3.Connection, new: NewConnection) -> None:
    conn.execute(
        """
        INSERT INTO connections (
            key, name, email, status, platform, health, credits, scopes, tags,
            sync_status, sync_updated_at, last_sync_at, last_successful_sync_at,
            next_sync_at, error_code, error_message, created_at, updated_at, connected_at
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (
            new.key,
            new.name,
            new.email,
            new.status,
            new.platform.key,
            new.health,
            new.credits,
            json.dumps(list(new.platform.scopes)),
            json.dumps(list(new.tags)),
            new.sync_status,
            new.last_sync_at,
            new.last_sync_at,
            new.last_successful_sync_at,
            new.next_sync_at,
            new.error_code,
            new.error_message,
            new.created_at,
            new.connected_at or new.created_at,
            new.connected_at,
        ),
    )


def client_record(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM client").fetchone()
    if row is None:
        raise RuntimeError("the sandbox has no client; was it seeded?")
    return {
        "id": row["id"],
        "name": row["name"],
        "logo_url": row["logo_url"],
        "email": row["email"],
        "default_redirect": row["default_redirect"],
        "redirects": json.loads(row["redirects"]),
    }


def account_summary(conn: sqlite3.Connection) -> dict[str, Any]:
    total = conn.execute("SELECT credits_total FROM account").fetchone()["credits_total"]
    used, count = conn.execute(
        "SELECT COALESCE(SUM(credits), 0), COUNT(*) FROM connections WHERE deleted_at IS NULL"
    ).fetchone()
    return {"credits_total": int(total), "credits_used": int(used), "connections": int(count)}


def _metadata_by_connection(
    conn: sqlite3.Connection, keys: Iterable[str]
) -> dict[str, dict[str, str]]:
    keys = list(keys)
    result: dict[str, dict[str, str]] = {key: {} for key in keys}
    if not keys:
        return result
    placeholders = ",".join("?" * len(keys))
    for row in conn.execute(
        f"SELECT connection_key, key, value FROM connection_metadata "  # noqa: S608 - placeholders only
        f"WHERE connection_key IN ({placeholders}) ORDER BY key",
        keys,
    ):
        result[row["connection_key"]][row["key"]] = row["value"]
    return result


def _serialize(
    row: sqlite3.Row, metadata: Mapping[str, str], client: Mapping[str, Any]
) -> dict[str, Any]:
    platform = get_platform(row["platform"])
    return {
        "key": row["key"],
        "name": row["name"],
        "email": row["email"],
        "status": row["status"],
        "integration_name": platform.name,
        "redirect": client["default_redirect"],
        "scopes": json.loads(row["scopes"]),
        "tags": json.loads(row["tags"]),
        "user_metadata": dict(metadata),
        "client_id": client["id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "connected_at": iso(row["connected_at"]),
        "platform": platform.key,
        "health": row["health"],
        "credits": row["credits"],
        "last_sync_at": iso(row["last_sync_at"]),
        "last_successful_sync_at": iso(row["last_successful_sync_at"]),
        "next_sync_at": iso(row["next_sync_at"]),
    }


def live_row(conn: sqlite3.Connection, key: str) -> sqlite3.Row:
    """The connection's row, or 404 if it does not exist or was deleted."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM connections WHERE key = ? AND deleted_at IS NULL", (key,)
    ).fetchone()
    if row is None:
        raise not_found(f"Connection {key!r}")
    return row


def list_connections(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM connections WHERE deleted_at IS NULL ORDER BY id").fetchall()
    metadata = _metadata_by_connection(conn, (row["key"] for row in rows))
    client = client_record(conn)
    return [_serialize(row, metadata[row["key"]], client) for row in rows]


def get_connection(conn: sqlite3.Connection, key: str) -> dict[str, Any]:
    row = live_row(conn, key)
    return _serialize(row, _metadata_by_connection(conn, [key])[key], client_record(conn))


def new_connection_key(conn: sqlite3.Connection) -> str:
    # 14 digits like Makini's keys; never reuse one, not even a deleted connection's.
    while True:
        key = f"{secrets.randbelow(10**14):014d}"
        if conn.execute("SELECT 1 FROM connections WHERE key = ?", (key,)).fetchone() is None:
            return key


def create_connection(
    conn: sqlite3.Connection, now: float, *, name: str, email: str, platform: Platform
) -> tuple[str, tokens.TokenPair]:
    """A new active, online connection and its first connection token pair."""
    account = account_summary(conn)
    available = account["credits_total"] - account["credits_used"]
    if platform.credits > available:
        raise ApiError(
            402,
            "INSUFFICIENT_CREDITS",
            f"Connecting {platform.name} needs {platform.credits} credits; "
            f"{available} of {account['credits_total']} are available.",
            details={"required": platform.credits, "available": available},
        )
    key = new_connection_key(conn)
    insert_connection(
        conn,
        NewConnection(
            key=key, name=name, email=email, platform=platform, created_at=now, connected_at=now
        ),
    )
    return key, tokens.issue_pair(conn, now, "connection", key)


def delete_connection(conn: sqlite3.Connection, now: float, key: str) -> None:
    """Disconnect: credits return to the pool and every token of it stops working."""
    live_row(conn, key)
    conn.execute(
        "UPDATE connections SET deleted_at = ?, updated_at = ?, credits = 0, "
        "next_sync_at = NULL WHERE key = ?",
        (now, now, key),
    )
    conn.execute("DELETE FROM connection_metadata WHERE connection_key = ?", (key,))
    tokens.revoke_subject(conn, now, "connection", key)


def list_metadata(conn: sqlite3.Connection, key: str) -> list[dict[str, Any]]:
    live_row(conn, key)
    return [
        {
            "key": row["key"],
            "value": row["value"],
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }
        for row in conn.execute(
            "SELECT * FROM connection_metadata WHERE connection_key = ? ORDER BY key", (key,)
        )
    ]


def put_metadata(conn: sqlite3.Connection, key: str, name: str, value: str, at: float) -> None:
    conn.execute(
        "INSERT INTO connection_metadata"
        " (connection_key, key, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (connection_key, key) DO UPDATE SET"
        " value = excluded.value, updated_at = excluded.updated_at",
        (key, name, value, at, at),
    )


def upsert_metadata(
    conn: sqlite3.Connection, now: float, key: str, items: Sequence[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    """Set each `(name, value)`; a `None` value removes that entry."""
    live_row(conn, key)
    for name, value in items:
        if value is None:
            conn.execute(
                "DELETE FROM connection_metadata WHERE connection_key = ? AND key = ?", (key, name)
            )
        else:
            put_metadata(conn, key, name, value, now)
    conn.execute("UPDATE connections SET updated_at = ? WHERE key = ?", (now, key))
    return list_metadata(conn, key)


def connection_status(conn: sqlite3.Connection, now: float, key: str) -> dict[str, Any]:
    row = live_row(conn, key)
    error = None
    if row["error_code"] is not None:
        error = {"code": row["error_code"], "message": row["error_message"]}
    elif row["health"] in _HEALTH_ERRORS:
        code, message = _HEALTH_ERRORS[row["health"]]
        error = {"code": code, "message": message}
    return {
        "key": row["key"],
        "status": row["status"],
        "health": row["health"],
        "sync_status": row["sync_status"],
        "last_sync_at": iso(row["last_sync_at"]),
        "last_successful_sync_at": iso(row["last_successful_sync_at"]),
        "next_sync_at": iso(row["next_sync_at"]),
        "error": error,
        "checked_at": iso(now),
    }


def integration_view(conn: sqlite3.Connection, key: str) -> dict[str, Any]:
    """The documented `Integration`: one connection as its own token sees it."""
    row = live_row(conn, key)
    return {
        "id": row["key"],
        "company_name": row["name"],
        "email": row["email"],
        "provider": row["platform"],
        "sync_status": row["sync_status"],
        "sync_updated_at": iso(row["sync_updated_at"]),
        "updated_at": iso(row["updated_at"]),
    }
