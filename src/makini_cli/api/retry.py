"""Retry timing: exponential backoff with full jitter, honouring Retry-After, bounded by a
retry count and a total deadline. Pure functions of their inputs so tests need no sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: no retry starts after this many seconds from the first attempt
    deadline: float = 120.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """How long to wait before retry `retry_number` (1-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        return self.rng.uniform(0, ceiling)

    def next_delay(
        self, retry_number: int, retry_after: float | None, elapsed: float
    ) -> float | None:
        """The wait before the next try, or None when the budget is spent."""
        if retry_number > self.max_retries:
            return None
        wait = self.delay(retry_number, retry_after)
        if elapsed + wait > self.deadline:
            return None
        return wait


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


@dataclass
class RatePacer:
    """Slows down before the server has to say 429.

    When `X-RateLimit-Remaining` falls to a tenth of the limit, the remaining requests are
    spread evenly over the time left until `X-RateLimit-Reset`.
    """

    low_fraction: float = 0.1
    max_pause: float = 15.0
    _pause_until: float = 0.0

    def observe(
        self, limit: str | None, remaining: str | None, reset: str | None, now: float
    ) -> None:
        try:
            lim = int(limit) if limit else None
            rem = int(remaining) if remaining is not None and remaining != "" else None
            rst = float(reset) if reset else None
        except ValueError:
            return
        if lim is None or rem is None or rst is None or lim <= 0:
            return
        if rem > max(1, int(lim * self.low_fraction)):
            self._pause_until = 0.0
            return
        window = max(0.0, rst - now)
        pause = (
            min(self.max_pause, window / max(rem, 1)) if rem > 0 else min(self.max_pause, window)
        )
        self._pause_until = now + pause

    def pause_needed(self, now: float) -> float:
        return max(0.0, self._pause_until - now)
