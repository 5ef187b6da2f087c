"""Which fields a table shows for each resource. Machine formats always print everything.

On a narrow terminal the lowest `priority` goes first; `keep` columns (keys, ids) are
never dropped, `cut` columns (free text) are shortened with "…" before anything else goes,
and `time` columns read as ages. `-o wide` shows every column whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from makini_cli.output.render import Column

if TYPE_CHECKING:
    from datetime import datetime



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


# ---------------------------------------------------------------- webhooks and events


def _all_or_list(value: Any) -> str:
    """A webhook's `events` or `connection_keys`: empty means every one."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "all"
    return ""


WEBHOOKS = [
    Column("ID", "id", keep=True),
    Column("URL", "url", priority=50, cut=True, min_width=20),
    Column("EVENTS", "events", fmt=_all_or_list, priority=30, cut=True, min_width=12),
    Column("CONNECTIONS", "connection_keys", fmt=_all_or_list, priority=20, cut=True),
    Column("ENABLED", "enabled", priority=40),
    Column("CREATED", "created_at", priority=10, time=True),
]


def _attempt_count(value: Any) -> str:
    return str(len(value)) if isinstance(value, list) else ""


def _last_attempt(value: Any) -> str:
    """The last attempt's answer: its HTTP status, or why there was none."""
    if not isinstance(value, list) or not value or not isinstance(value[-1], dict):
        return ""
    last = value[-1]
    parts = [str(last["status_code"])] if last.get("status_code") is not None else []
    if last.get("error"):
        parts.append(str(last["error"]))
    return " ".join(parts)


#: How a delivery's status reads on a colour terminal (a Rich style).
DELIVERY_STATUS_STYLES: dict[str, str] = {
    "succeeded": "green",
    "failed": "red",
    "pending": "yellow",
}


def _delivery_style(status: Any) -> str | None:
    return DELIVERY_STATUS_STYLES.get(str(status))


#: Both ATTEMPTS and LAST read `attempts`: give -o csv no columns (every field) instead.
DELIVERIES = [
    Column("ID", "id", keep=True),
    Column("EVENT", "event", priority=40),
    Column("STATUS", "status", priority=60, style=_delivery_style),
    Column("ATTEMPTS", "attempts", fmt=_attempt_count, priority=30),
    Column("LAST", "attempts", fmt=_last_attempt, priority=50, cut=True, min_width=12),
    Column("NEXT ATTEMPT", "next_attempt_at", priority=20, time=True),
    Column("CREATED", "created_at", priority=10, time=True),
]


def _keys(keys: list[Any], shown: int = 3) -> str:
    names = ", ".join(str(k) for k in keys[:shown])
    more = f" +{len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} record{'' if len(keys) == 1 else 's'}: {names}{more}"


def event_summary(body: Any) -> str:
    """The gist of an event's body, read from its shape (contract §7): the record keys of
    an entity event, or the details of an operational one."""
    if isinstance(body, list):
        return _keys(body) if body else "no records"
    if not isinstance(body, dict):
        return "" if body is None else str(body)
    error = _error_text(body.get("error"))
    if "from" in body or "to" in body:  # connection.status_changed
        return f"{body.get('from') or '?'} → {body.get('to') or '?'}"
    if body.get("sync_id"):  # sync.completed, sync.failed
        parts = [str(body["sync_id"])]
        if body.get("type"):
            parts.append(str(body["type"]))
        if isinstance(body.get("records_processed"), int):
            parts.append(f"{body['records_processed']:,} records")
        return " ".join(parts) + (f": {error}" if error else "")
    if error:  # connection.auth_required
        return error
    changed = body.get("changed")
    if isinstance(changed, list):  # connection.updated: {"changed": [fields], field: value}
        return ", ".join(f"{name} → {body.get(name) or '–'}" for name in changed[:3])
    if body.get("entity") and body.get("name"):  # custom_field.*
        kind = f" ({body['type']})" if body.get("type") else ""
        return f"{body['entity']}/{body['name']}{kind}"
    if body.get("code") or body.get("message"):  # system.error, ping
        return _error_text(body)
    from makini_cli.output.sanitize import dumps

    return dumps(body, separators=(",", ":"))


EVENTS = [
    Column("TIME", "created_at", priority=30, time=True),
    Column("EVENT", "event", keep=True),
    Column("CONNECTION", "connection_key", priority=40),
    Column("SUMMARY", "body", fmt=event_summary, priority=50, cut=True, min_width=16),
    Column("ID", "id", priority=10),
]


def event_style(name: str) -> str:
    """The colour (an SGR code) an event name reads in on a terminal."""
    if name.endswith((".failed", ".auth_required")) or name == "system.error":
        return "31"  # red
    if name.endswith(".completed"):
        return "32"  # green
    if name.endswith(".status_changed"):
        return "33"  # yellow
    if name == "ping":
        return "35"  # magenta
    return "36"  # cyan: records inserted or updated


#: the widest event name (`connection.status_changed`), so the names line up
EVENT_NAME_WIDTH = 25
CONNECTION_KEY_WIDTH = 14


def event_line(
    event: dict[str, Any],
    now: datetime | None = None,
    *,
    paint: bool = False,
    width: int | None = None,
) -> str:
    """One event as one line: `5m ago  sync.completed  10000715260448  sync_1 full …`.

    On a terminal (`now` given) the time is an age and `width` cuts the summary so the
    line never wraps; the connection key is never cut. `paint` adds colour codes (our
    own, after every server string was cleaned)."""
    from makini_cli.output.ages import age, parse_time
    from makini_cli.output.render import cell, cell_width
    from makini_cli.output.sanitize import clean

    moment = parse_time(event.get("created_at"))
    when = (
        age(moment, now)
        if now is not None and moment is not None
        else cell(event.get("created_at"))
    )
    name = cell(event.get("event"))
    # Makini's connection keys are 14 digits: events with and without one line up.
    key = (cell(event.get("connection_key")) or "-").ljust(CONNECTION_KEY_WIDTH)
    summary = clean(event_summary(event.get("body")))
    head = [when.rjust(8) if now is not None else when, name.ljust(EVENT_NAME_WIDTH), key]
    used = sum(cell_width(part) for part in head) + 2 * len(head)
    if width is not None and cell_width(summary) > width - used:
        room = max(0, width - used - 1)
        cut = ""
        for ch in summary:
            if cell_width(cut + ch) > room:
                break
            cut += ch
        summary = cut + "…" if room > 0 else ""
    if paint:
        head = [
            f"\x1b[2m{head[0]}\x1b[0m",
            f"\x1b[{event_style(name)}m{head[1]}\x1b[0m",
            head[2],
        ]
    return "  ".join([*head, summary]).rstrip()
