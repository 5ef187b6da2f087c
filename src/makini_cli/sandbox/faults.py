"""Injected faults: the next N matching requests answer with a chosen failure.

The CLI's integration tests use them to get real 5xx answers and odd bodies (an empty
body, an HTML gateway page, a Laravel-style body, truncated JSON) from a real server.
Faults live in SQLite, so a test process can arm them in a server running elsewhere.
They never apply to the `/sandbox/` control routes. A 5xx one that fires is recorded
as a `system.error` event (middleware.py).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from makini_cli.sandbox.errors import default_code, envelope_bytes

BodyKind = Literal["envelope", "empty", "html", "laravel", "malformed_json"]
BODY_KINDS: tuple[BodyKind, ...] = ("envelope", "empty", "html", "laravel", "malformed_json")


@dataclass(frozen=True)
class Fault:
    id: int
    path_prefix: str
    method: str | None
    status: int
    remaining: int
    body: BodyKind
    code: str | None
    retry_after: float | None
    skip: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path_prefix": self.path_prefix,
            "method": self.method,
            "status": self.status,
            "count": self.remaining,
            "body": self.body,
            "code": self.code,
            "retry_after": self.retry_after,
            "skip": self.skip,
        }


def _from_row(row: sqlite3.Row) -> Fault:
    return Fault(
        id=row["id"],
        path_prefix=row["path_prefix"],
        method=row["method"],
        status=row["status"],
        remaining=row["remaining"],
        body=row["body"],
        code=row["code"],
        retry_after=row["retry_after"],
        skip=row["skip"],
    )


def add_fault(
    conn: sqlite3.Connection,
    now: float,
    *,
    path_prefix: str,
    method: str | None,
    status: int,
    count: int,
    body: BodyKind,
    code: str | None = None,
    retry_after: float | None = None,
    skip: int = 0,
) -> Fault:
    cursor = conn.execute(
        "INSERT INTO faults (path_prefix, method, status, remaining, body, code, retry_after,"
        " created_at, skip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            path_prefix,
            method.upper() if method else None,
            status,
            count,
            body,
            code,
            retry_after,
            now,
            skip,
        ),
    )
    row = conn.execute("SELECT * FROM faults WHERE id = ?", (cursor.lastrowid,)).fetchone()
    return _from_row(row)


def list_faults(conn: sqlite3.Connection) -> list[Fault]:
    return [_from_row(row) for row in conn.execute("SELECT * FROM faults ORDER BY id")]


def clear_faults(conn: sqlite3.Connection) -> int:
    return conn.execute("DELETE FROM faults").rowcount


def any_armed(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM faults WHERE remaining > 0 LIMIT 1").fetchone() is not None


def take_fault(conn: sqlite3.Connection, method: str, path: str) -> Fault | None:
    """The oldest armed fault matching this request, with one use spent. In a transaction."""
    for row in conn.execute("SELECT * FROM faults WHERE remaining > 0 ORDER BY id").fetchall():
        fault = _from_row(row)
        if path.startswith(fault.path_prefix) and fault.method in (None, method.upper()):
            if fault.skip > 0:
                conn.execute("UPDATE faults SET skip = skip - 1 WHERE id = ?", (fault.id,))
                return None
            if fault.remaining <= 1:
                conn.execute("DELETE FROM faults WHERE id = ?", (fault.id,))
            else:
                conn.execute(
                    "UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault.id,)
                )
            return fault
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def describe(fault: Fault) -> tuple[str, str]:
    """The error code and message a fault answers with (in its envelope body, and in the
    `system.error` event an injected 5xx records)."""
    code = fault.code or default_code(fault.status)
    return code, f"Injected fault: HTTP {fault.status} {_phrase(fault.status)}."


def render_fault(fault: Fault, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of the answer a fault gives."""
    phrase = _phrase(fault.status)
    headers: list[tuple[str, str]] = []
    if fault.retry_after is not None:
        headers.append(("retry-after", str(max(0, round(fault.retry_after)))))
    if fault.body == "empty":
        return headers, b""
    if fault.body == "html":
        page = (
            f"<html>\r\n<head><title>{fault.status} {phrase}</title></head>\r\n<body>\r\n"
            f"<center><h1>{fault.status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return [*headers, ("content-type", "text/html; charset=utf-8")], page.encode()
    json_type = ("content-type", "application/json")
    if fault.body == "malformed_json":
        return [*headers, json_type], b'{"data": [{"key": "0100002230412'
    if fault.body == "laravel":
        laravel = json.dumps(_laravel_body(fault.status, phrase), separators=(",", ":"))
        return [*headers, json_type], laravel.encode()
    code, message = describe(fault)
    return [*headers, json_type], envelope_bytes(code, message, request_id, {"injected": True})


def _laravel_body(status: int, phrase: str) -> dict[str, Any]:
    if status == 422:
        return {
            "message": "The given data was invalid.",
            "errors": {"name": ["The name field is required."]},
        }
    messages = {401: "Unauthenticated.", 429: "Too Many Attempts.", 500: "Server Error"}
    return {"message": messages.get(status, phrase)}
