"""Which fields a table shows for each resource. Machine formats always print everything.

On a narrow terminal the lowest `priority` goes first; `keep` columns (keys, ids) are
never dropped, `cut` columns (free text) are shortened with "…" before anything else goes,
and `time` columns read as ages. `-o wide` shows every column whole.
"""

from __future__ import annotations

from typing import Any

from makini_cli.output.render import Column


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return ""
    code, message = error.get("code"), error.get("message")
    return ": ".join(str(part) for part in (code, message) if part)


def _error_code(error: Any) -> str:
    return str(error.get("code") or "") if isinstance(error, dict) else ""


CONNECTIONS = [
    Column("KEY", "key", keep=True),
    Column("NAME", "name", priority=50, cut=True, min_width=16),
    Column("PLATFORM", "platform", priority=10),
    Column("STATUS", "status", priority=20),
    Column("HEALTH", "health", priority=40),
    Column("LAST SYNC", "last_sync_at", priority=30, time=True),
]

CONNECTION_STATUS = [
    Column("KEY", "key", keep=True),
    Column("STATUS", "status", priority=20),
    Column("HEALTH", "health", priority=60),
    Column("SYNC", "sync_status", priority=50),
    Column("LAST SYNC", "last_sync_at", priority=40, time=True),
    Column("LAST SUCCESS", "last_successful_sync_at", priority=30, time=True),
    Column("NEXT SYNC", "next_sync_at", priority=10, time=True),
    Column("ERROR", "error", fmt=_error_text, priority=55, cut=True, min_width=20),
]

METADATA = [
    Column("KEY", "key", keep=True),
    Column("VALUE", "value", priority=50, cut=True, min_width=20),
]

PROFILES = [
    Column("ACTIVE", "active", fmt=lambda v: "*" if v else "", keep=True),
    Column("NAME", "name", keep=True),
    Column("BASE URL", "base_url", priority=50),
    Column("CLIENT ID", "client_id", priority=40),
]

CONFIG = [
    Column("KEY", "key", keep=True),
    Column("VALUE", "value", priority=50, cut=True, min_width=20),
]
CONFIG_WITH_ORIGIN = [*CONFIG, Column("ORIGIN", "origin", priority=40, cut=True)]

EXIT_CODES = [
    Column("CODE", "code", keep=True),
    Column("MEANING", "meaning", priority=50, cut=True, min_width=20),
]

SYNCS = [
    Column("ID", "id", keep=True),
    Column("CONNECTION", "connection_key", keep=True),
    Column("TYPE", "type", priority=10),
    Column("TRIGGER", "trigger", priority=20),
    Column("STATUS", "status", priority=60),
    Column("CREATED", "created_at", priority=40, time=True),
    Column("FINISHED", "finished_at", priority=30, time=True),
    Column("ERROR", "error", fmt=_error_code, priority=50),
]


def _records(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else ""


def _seconds(value: Any) -> str:
    from makini_cli.durations import format_duration

    return format_duration(float(value)) if isinstance(value, int | float) else ""


#: `sync run` / `sync watch` on a terminal: one row per connection's result.
SYNC_RESULTS = [
    Column("CONNECTION", "connection_key", keep=True),
    Column("NAME", "name", priority=30, cut=True, min_width=12),
    Column("SYNC", "sync_id", priority=20),
    Column("RESULT", "outcome", priority=60),
    Column("RECORDS", "records", fmt=_records, priority=10),
    Column("TIME", "seconds", fmt=_seconds, priority=40),
    Column("ERROR", "error", fmt=_error_code, priority=50),
]
