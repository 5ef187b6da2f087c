"""The account, the client and its connections: rows in, API objects out.

Fields are typed as Makini's schema types them, even where a richer type would serve
better, so that a client written against Makini reads the sandbox the same way:
- `scopes` is a string: the connection's unified scopes, comma-separated, named as
  Makini names them (`sites,assets,work_orders`).
- `user_metadata` is a string: the compact JSON of the key/value metadata set through
  `POST …/metadata` (`{"customer_id":"CUST-1001"}`); `"{}"` when there is none.
- `tags` is a list, as documented.
Documented fields come first, in the spec's order, then the (ext) ones, which a
`--no-extensions` sandbox leaves out. Of those, `sync_status` and `error` are what the
status call (`GET …/status`) says, so a client tailing many connections reads them from
one list; `health_since` is when the current health began (the connection's creation, or
its last health change: stored, set by the transition that changes health).

`status` is Makini's lifecycle (makini-api-facts §8.2, §8.4, §8.5). The row stores the
account's view (`pending`, `active`, `inactive`, `overage`); the answer also shows what
is happening to the connection now: `synchronizing` while its first sync runs, and
`offline` or `reauth_required` while its system is down or rejects its credentials
("Makini marks the connection status" in an outage). `health` (ext) says the latter too.

Apart from the raw writers the seed builds its world with (`insert_connection`,
`put_metadata`), this module reads: creating, deleting and changing a connection are
transitions (`transitions.py`), which record their events.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import not_found
from makini_cli.sandbox.platforms import Platform, get_platform
from makini_cli.vocabulary import STATUSES as STATUSES

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
    "sync_status",
    "error",
    "health_since",
)
CONNECTION_FIELDS = DOCUMENTED_FIELDS + EXTENSION_FIELDS
#: Makini's `ConnectionMetadata`: the connection as its metadata calls show it.
METADATA_VIEW_FIELDS: tuple[str, ...] = tuple(f for f in DOCUMENTED_FIELDS if f != "tags")

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
    #: When its health began; None: its creation, or for a system that is down or rejects
    #: the credentials its last successful sync (the system answered then), if any.
    health_since: float | None = None

    @property
    def credits(self) -> int:
        return self.platform.credits if self.status in CREDIT_HOLDING_STATUSES else 0

    @property
    def health_began(self) -> float | None:
        if self.health is None:
            return None
        if self.health_since is not None:
            return self.health_since
        if self.health != "online" and self.last_successful_sync_at is not None:
            return self.last_successful_sync_at
        return self.created_at


def insert_connection(conn: sqlite3.Connection, new: NewConnection) -> None:
    """The raw row, with no event: for the seed (the world before any event) and
    `transitions.create_connection`, which records the event. Nothing else calls it."""
    conn.execute(
        """
        INSERT INTO connections (
            key, name, email, status, platform, health, credits, scopes, tags,
            sync_status, sync_updated_at, last_sync_at, last_successful_sync_at,
            next_sync_at, error_code, error_message, created_at, updated_at, connected_at,
            health_since
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
            new.health_began,
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


def _status(row: sqlite3.Row, first_sync_running: bool) -> str:
    """The documented status: the stored one, unless something is happening now."""
    stored = str(row["status"])
    if stored in ("pending", "inactive"):
        return stored
    if row["health"] in ("offline", "reauth_required"):
        return str(row["health"])
    if first_sync_running:
        return "synchronizing"
    return stored


def _first_syncs_running(conn: sqlite3.Connection) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT connection_key FROM syncs WHERE status = 'queued' AND trigger = 'initial'"
        )
    }


def _serialize(
    row: sqlite3.Row,
    metadata: Mapping[str, str],
    client: Mapping[str, Any],
    *,
    first_sync_running: bool,
    extensions: bool,
) -> dict[str, Any]:
    platform = get_platform(row["platform"])
    documented = {
        "key": row["key"],
        "name": row["name"],
        "email": row["email"],
        "status": _status(row, first_sync_running),
        "integration_name": platform.name,
        "redirect": client["default_redirect"],
        "scopes": ",".join(json.loads(row["scopes"])),
        "tags": json.loads(row["tags"]),
        "user_metadata": json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=False),
        "client_id": client["id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "connected_at": iso(row["connected_at"]),
    }
    if not extensions:
        return documented
    return {
        **documented,
        "platform": platform.key,
        "health": row["health"],
        "credits": row["credits"],
        "last_sync_at": iso(row["last_sync_at"]),
        "last_successful_sync_at": iso(row["last_successful_sync_at"]),
        "next_sync_at": iso(row["next_sync_at"]),
        "sync_status": row["sync_status"],
        "error": _error(row),
        "health_since": iso(row["health_since"]),
    }


def _error(row: sqlite3.Row) -> dict[str, str] | None:
    """What went wrong last, as the status call says it: the last sync's failure, else
    what the health says."""
    if row["error_code"] is not None:
        return {"code": row["error_code"], "message": row["error_message"]}
    if row["health"] in _HEALTH_ERRORS:
        code, message = _HEALTH_ERRORS[row["health"]]
        return {"code": code, "message": message}
    return None


def live_row(conn: sqlite3.Connection, key: str) -> sqlite3.Row:
    """The connection's row, or 404 if it does not exist or was deleted."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM connections WHERE key = ? AND deleted_at IS NULL", (key,)
    ).fetchone()
    if row is None:
        raise not_found(f"Connection {key!r}")
    return row


def list_connections(conn: sqlite3.Connection, *, extensions: bool) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM connections WHERE deleted_at IS NULL ORDER BY id").fetchall()
    metadata = _metadata_by_connection(conn, (row["key"] for row in rows))
    client = client_record(conn)
    running = _first_syncs_running(conn)
    return [
        _serialize(
            row,
            metadata[row["key"]],
            client,
            first_sync_running=row["key"] in running,
            extensions=extensions,
        )
        for row in rows
    ]


def get_connection(conn: sqlite3.Connection, key: str, *, extensions: bool) -> dict[str, Any]:
    row = live_row(conn, key)
    return _serialize(
        row,
        _metadata_by_connection(conn, [key])[key],
        client_record(conn),
        first_sync_running=key in _first_syncs_running(conn),
        extensions=extensions,
    )


def metadata_view(conn: sqlite3.Connection, key: str) -> dict[str, Any]:
    """Makini's `ConnectionMetadata`: the connection with its metadata, without tags."""
    connection = get_connection(conn, key, extensions=False)
    return {name: connection[name] for name in METADATA_VIEW_FIELDS}


def new_connection_key(conn: sqlite3.Connection) -> str:
    # 14 digits like Makini's keys; never reuse one, not even a deleted connection's.
    while True:
        key = f"{secrets.randbelow(10**14):014d}"
        if conn.execute("SELECT 1 FROM connections WHERE key = ?", (key,)).fetchone() is None:
            return key


def put_metadata(conn: sqlite3.Connection, key: str, name: str, value: str, at: float) -> None:
    conn.execute(
        "INSERT INTO connection_metadata"
        " (connection_key, key, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (connection_key, key) DO UPDATE SET"
        " value = excluded.value, updated_at = excluded.updated_at",
        (key, name, value, at, at),
    )


def status_of(conn: sqlite3.Connection, key: str) -> str | None:
    """The connection's documented status now (None: no such connection)."""
    row = conn.execute("SELECT * FROM connections WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    first_sync = conn.execute(
        "SELECT 1 FROM syncs WHERE connection_key = ? AND status = 'queued'"
        " AND trigger = 'initial' LIMIT 1",
        (key,),
    ).fetchone()
    return _status(row, first_sync is not None)


def connection_status(conn: sqlite3.Connection, now: float, key: str) -> dict[str, Any]:
    """(ext) `GET …/status`: the fields a client tailing connections follows."""
    row = live_row(conn, key)
    return {
        "key": row["key"],
        "name": row["name"],
        "platform": row["platform"],
        "status": _status(row, key in _first_syncs_running(conn)),
        "health": row["health"],
        "health_since": iso(row["health_since"]),
        "sync_status": row["sync_status"],
        "last_sync_at": iso(row["last_sync_at"]),
        "last_successful_sync_at": iso(row["last_successful_sync_at"]),
        "next_sync_at": iso(row["next_sync_at"]),
        "error": _error(row),
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
