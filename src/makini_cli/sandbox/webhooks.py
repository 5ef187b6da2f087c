"""Webhooks (contract §7, ext): where events are posted, and with which secret.

A webhook receives the events its `events` list names (empty: every event) of the
connections its `connection_keys` list names (empty: every connection, and the events
of none, such as `system.error`). Each delivery is signed with its secret (`whsec_` and
43 URL-safe characters): it is shown once, in the answers to create and rotate-secret,
and kept in the database (0600, like every token hash there) because the sender needs
it in clear to sign.

Targets: `http` or `https`, loopback and private addresses allowed, since a sandbox
mostly posts to a receiver on the developer's machine. A production receiver of
Makini's webhooks must use HTTPS: the body carries customer data, and the signature
proves who sent it but hides nothing.

Disabling a webhook pauses it: it gets no deliveries of new events, and those already
pending wait (their 24 h window still runs) until it is enabled again; `test` and
`retry` queue deliveries that wait the same way. Deleting it fails its pending
deliveries at once (with the attempts they had); a delivery being sent at that moment
still records its outcome. A deleted webhook answers 404, its deliveries stay readable.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from makini_cli.sandbox import events as event_log
from makini_cli.sandbox import outbox
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import not_found, validation_failed
from makini_cli.sandbox.events import EVENT_NAMES, OPERATIONAL_EVENTS

SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2048
WEBHOOK_FIELDS: tuple[str, ...] = (
    "id",
    "url",
    "events",
    "connection_keys",
    "enabled",
    "created_at",
    "updated_at",
)


def new_webhook_id() -> str:
    return "wh_" + secrets.token_hex(8)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook's target, or None."""
    if not url:
        return "The url is required."
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "The url must not contain spaces or control characters."
    if len(url) > MAX_URL_LENGTH:
        return f"The url may be at most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError:
        return "The url is not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "The url must start with http:// or https://."
    if not parts.hostname:
        return "The url must name a host."
    if port == 0:
        return "The url's port must be between 1 and 65535."
    if parts.username is not None or parts.password is not None:
        return "The url must not carry a user name or password."
    return None


def _checked(
    conn: sqlite3.Connection,
    *,
    url: str | None,
    events: Sequence[str] | None,
    connection_keys: Sequence[str] | None,
) -> tuple[list[str] | None, list[str] | None]:
    """`events` and `connection_keys` without repeats, once every given field is usable."""
    fields: dict[str, list[str]] = {}
    if url is not None and (problem := url_problem(url)) is not None:
        fields["url"] = [problem]
    unique_events = None if events is None else list(dict.fromkeys(events))
    unknown = [name for name in unique_events or () if name not in EVENT_NAMES]
    if unknown:
        fields["events"] = [
            f"Unknown event {name!r}; known: {', '.join(EVENT_NAMES)}." for name in unknown
        ]
    unique_keys = None if connection_keys is None else list(dict.fromkeys(connection_keys))
    if unique_keys:
        marks = ",".join("?" * len(unique_keys))
        live = {
            row["key"]
            for row in conn.execute(
                f"SELECT key FROM connections WHERE deleted_at IS NULL AND key IN ({marks})",  # noqa: S608 - placeholders only
                unique_keys,
            )
        }
        missing = [key for key in unique_keys if key not in live]
        if missing:
            fields["connection_keys"] = [f"No connection has the key {key!r}." for key in missing]
    if fields:
        raise validation_failed(fields)
    return unique_events, unique_keys


def _view(row: sqlite3.Row, *, secret: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row["id"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "connection_keys": json.loads(row["connection_keys"]),
        "enabled": bool(row["enabled"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if secret:
        view["secret"] = row["secret"]
    return view


def live_row(conn: sqlite3.Connection, webhook_id: str) -> sqlite3.Row:
    """The webhook's row, or 404 if it does not exist or was deleted."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM webhooks WHERE id = ? AND deleted_at IS NULL", (webhook_id,)
    ).fetchone()
    if row is None:
        raise not_found(f"Webhook {webhook_id!r}")
    return row


def create(
    conn: sqlite3.Connection,
    now: float,
    *,
    url: str,
    events: Sequence[str] = (),
    connection_keys: Sequence[str] = (),
    enabled: bool = True,
) -> dict[str, Any]:
    """A new webhook, its secret included (the only answer but rotate's to show it)."""
    unique_events, unique_keys = _checked(
        conn, url=url, events=events, connection_keys=connection_keys
    )
    webhook_id = new_webhook_id()
    conn.execute(
        "INSERT INTO webhooks (id, url, events, connection_keys, enabled, secret, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            webhook_id,
            url,
            json.dumps(unique_events or []),
            json.dumps(unique_keys or []),
            int(enabled),
            new_secret(),
            now,
            now,
        ),
    )
    return _view(live_row(conn, webhook_id), secret=True)


def get(conn: sqlite3.Connection, webhook_id: str) -> dict[str, Any]:
    return _view(live_row(conn, webhook_id))


def list_webhooks(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM webhooks WHERE deleted_at IS NULL ORDER BY seq")
    return [_view(row) for row in rows]


def update(
    conn: sqlite3.Connection,
    now: float,
    webhook_id: str,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    connection_keys: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """Change the fields given (None: left as it is). Deliveries already queued keep
    going to the webhook: they are sent to its URL as it is at each attempt."""
    row = live_row(conn, webhook_id)
    unique_events, unique_keys = _checked(
        conn, url=url, events=events, connection_keys=connection_keys
    )
    conn.execute(
        "UPDATE webhooks SET url = ?, events = ?, connection_keys = ?, enabled = ?,"
        " updated_at = ? WHERE id = ?",
        (
            row["url"] if url is None else url,
            row["events"] if unique_events is None else json.dumps(unique_events),
            row["connection_keys"] if unique_keys is None else json.dumps(unique_keys),
            row["enabled"] if enabled is None else int(enabled),
            now,
            webhook_id,
        ),
    )
    return get(conn, webhook_id)


def delete(conn: sqlite3.Connection, now: float, webhook_id: str) -> None:
    """Delete a webhook and fail its pending deliveries (see the module's doc)."""
    live_row(conn, webhook_id)
    conn.execute(
        "UPDATE webhooks SET deleted_at = ?, updated_at = ? WHERE id = ?",
        (now, now, webhook_id),
    )
    outbox.fail_pending(conn, now, webhook_id)


def rotate_secret(conn: sqlite3.Connection, now: float, webhook_id: str) -> dict[str, Any]:
    """A new secret, used from the next attempt on (one being sent keeps the old)."""
    live_row(conn, webhook_id)
    conn.execute(
        "UPDATE webhooks SET secret = ?, updated_at = ? WHERE id = ?",
        (new_secret(), now, webhook_id),
    )
    return _view(live_row(conn, webhook_id), secret=True)


def sample_body(event: str, webhook_id: str) -> dict[str, Any] | list[str]:
    """What a test of `event` carries: `ping`'s own body; for an entity event no record
    keys; for another operational event a marked test, not the event's real fields."""
    if event == "ping":
        return {"message": "ping from makini sandbox", "webhook_id": webhook_id}
    if event not in OPERATIONAL_EVENTS:
        return []
    return {"test": True, "message": f"test {event} from makini sandbox", "webhook_id": webhook_id}


def send_test(
    conn: sqlite3.Connection, now: float, webhook_id: str, event: str = "ping"
) -> dict[str, Any]:
    """Record a test event and queue its delivery to this webhook alone (whatever its
    filters say); answers the delivery. A disabled webhook gets it once enabled."""
    live_row(conn, webhook_id)
    if event not in EVENT_NAMES:
        raise validation_failed(
            {"event": [f"Unknown event {event!r}; known: {', '.join(EVENT_NAMES)}."]}
        )
    with outbox.no_fan_out():
        payload = event_log.record(conn, now, event, None, sample_body(event, webhook_id))
    delivery_id = outbox.add_delivery(conn, now, webhook_id, payload)
    return outbox.get_delivery(conn, delivery_id)
