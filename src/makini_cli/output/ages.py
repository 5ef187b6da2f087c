"""Times for people: `5m ago`, `in 12m`, `just now`, `3d ago`.

Only terminals get ages; JSON, JSON Lines, CSV and piped tables keep the API's absolute
ISO-8601 times, which a script can parse. Stdlib only: the light commands use it too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# A date and a time of day: bare dates and numbers stay as they are, they are not moments.
_LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

#: Closer than this to now, in either direction, a time is "just now": a sync that just
#: finished must not read "in 3s" because the server's clock runs a little ahead.
JUST_NOW = 60.0


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware datetime (UTC when it names no zone), else None."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _LOOKS_LIKE_TIME.match(value):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(when: datetime, now: datetime) -> str:
    """How long ago (or how far ahead) `when` is, in its largest whole unit."""
    seconds = (when - now).total_seconds()
    span = abs(seconds)
    if span < JUST_NOW:
        return "just now"
    minutes = int(span // 60)
    hours, days = minutes // 60, minutes // 1440
    if minutes < 60:
        amount = f"{minutes}m"
    elif hours < 24:
        amount = f"{hours}h"
    elif days < 30:
        amount = f"{days}d"
    elif days < 365:
        amount = f"{days // 30}mo"
    else:
        amount = f"{days // 365}y"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def absolute(when: datetime) -> str:
    """`2026-11-30 10:00 UTC`: one zone for every reader of a shared screen or log."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def utc_now() -> datetime:
    return datetime.now(UTC)
