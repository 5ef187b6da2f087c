"""A sync as the API shows it: the stored row, and what the clock makes of it.

State is rows; progress is derived (sandbox-design): whether an open sync is queued or
running, and how far it got, is computed from when it starts, how long it takes and how
many records it reads. Read by the routes (through `syncs`) and by the transitions that
tell of a sync's end (its event carries the ended Sync).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from makini_cli.sandbox.clock import iso

OPEN = "queued"  # stored status of a sync that is queued or running


def _progress(row: sqlite3.Row, status: str, at: float) -> dict[str, Any]:
    scopes: list[str] = json.loads(row["scopes"])
    total = int(row["records_total"])
    if status == "queued":
        return {"scope": None, "records_processed": 0, "records_total": total}
    if at < row["started_at"]:  # ended before it started
        return {"scope": None, "records_processed": 0, "records_total": total}
    if status == "succeeded":
        share = 1.0
    else:
        share = min(1.0, (at - row["started_at"]) / row["expected_duration"])
    scope = scopes[min(len(scopes) - 1, int(share * len(scopes)))] if scopes else None
    return {"scope": scope, "records_processed": int(total * share), "records_total": total}


def serialize(row: sqlite3.Row, now: float) -> dict[str, Any]:
    stored = row["status"]
    if stored == OPEN:
        status = "running" if now >= row["started_at"] else "queued"
        at = now
    else:
        status = stored
        at = row["finished_at"]
    started = row["started_at"] if status != "queued" and at >= row["started_at"] else None
    error = None
    if row["error_code"] is not None:
        error = {"code": row["error_code"], "message": row["error_message"]}
    return {
        "id": row["id"],
        "connection_key": row["connection_key"],
        "type": row["type"],
        "trigger": row["trigger"],
        "scopes": json.loads(row["scopes"]),
        "status": status,
        "progress": _progress(row, status, at),
        "attempt": row["attempt"],
        "created_at": iso(row["created_at"]),
        "started_at": iso(started),
        "finished_at": iso(row["finished_at"]),
        "error": error,
        "next_retry_at": iso(row["next_retry_at"]),
    }
