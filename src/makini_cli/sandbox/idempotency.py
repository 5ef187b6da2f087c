"""Idempotency keys (ext): a repeated mutating POST replays the first answer.

A record is kept per (token subject, key) for 24 hours of sandbox time. The fingerprint
covers method, path, query and body (JSON bodies in canonical form, so key order and
spacing do not count); the same key with another fingerprint is a conflict.

A record is written as `pending` before the handler runs and completed with the
answer afterwards, so two processes racing on one key cannot both do the work. Answers
of 5xx are not kept: the work may not have happened, and a retry should try again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

WINDOW_SECONDS = 24 * 3_600.0
HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Response headers worth replaying; request ids and rate-limit figures are per request.
REPLAYED_RESPONSE_HEADERS = frozenset({"content-type", "location", "cache-control", "pragma"})


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Outcome = Literal["proceed", "conflict", "in_progress"]


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def begin(
    conn: sqlite3.Connection, subject: str, key: str, print_: str, now: float
) -> Outcome | StoredAnswer:
    """Claim `key` for this request, or say why not. Call inside a transaction."""
    row = conn.execute(
        "SELECT * FROM idempotency WHERE subject = ? AND key = ? AND expires_at > ?",
        (subject, key, now),
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO idempotency (subject, key, fingerprint, state, created_at, expires_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (subject, key) DO UPDATE SET"
            " fingerprint = excluded.fingerprint, state = 'pending', status_code = NULL,"
            " headers = NULL, body = NULL, created_at = excluded.created_at,"
            " expires_at = excluded.expires_at",
            (subject, key, print_, now, now + WINDOW_SECONDS),
        )
        return "proceed"
    if row["fingerprint"] != print_:
        return "conflict"
    if row["state"] == "pending":
        return "in_progress"
    headers = [(str(k), str(v)) for k, v in json.loads(row["headers"])]
    return StoredAnswer(int(row["status_code"]), headers, bytes(row["body"]))


def finish(conn: sqlite3.Connection, subject: str, key: str, answer: StoredAnswer) -> None:
    headers = [(k, v) for k, v in answer.headers if k.lower() in REPLAYED_RESPONSE_HEADERS]
    conn.execute(
        "UPDATE idempotency SET state = 'done', status_code = ?, headers = ?, body = ?"
        " WHERE subject = ? AND key = ?",
        (answer.status, json.dumps(headers), answer.body, subject, key),
    )


def abandon(conn: sqlite3.Connection, subject: str, key: str) -> None:
    conn.execute(
        "DELETE FROM idempotency WHERE subject = ? AND key = ? AND state = 'pending'",
        (subject, key),
    )


def purge_expired(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,)).rowcount
