"""Human durations for flags: `90s`, `15m`, `1h30m`, `1d`, or plain seconds.

The one place a duration from the user is checked: finite, more than zero, and at most
`MAX_SECONDS`. `nan` slips through a `<= 0` test and `inf` or `1e400` through none, and any
of them turns a wait loop into one that never ends.
"""

from __future__ import annotations

import math
import re

from makini_cli.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: A year: longer than any wait, interval or outage makes sense for.
MAX_SECONDS = 366 * 86400.0


def parse_duration(text: str, *, flag: str) -> float:
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(value) or not value:
            raise UsageError(
                f"{flag} {text!r} is not a duration",
                hint=f"write {flag} like 90s, 15m, 1h30m or 1d",
            ) from None
    if not math.isfinite(seconds):
        raise UsageError(
            f"{flag} {text!r} is not a finite duration",
            hint=f"write {flag} like 90s, 15m, 1h30m or 1d",
        )
    if seconds <= 0:
        raise UsageError(f"{flag} must be more than zero", hint=f"write {flag} like 30s or 10m")
    if seconds > MAX_SECONDS:
        raise UsageError(
            f"{flag} {text!r} is longer than a year", hint=f"write {flag} like 30m or 7d"
        )
    return seconds


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
