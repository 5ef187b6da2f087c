"""Retry timing: exponential backoff with full jitter, honouring Retry-After, bounded by a
retry count and a total deadline. Pure functions of their inputs so tests need no sleeping.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: no retry starts after this many seconds from the first attempt
    deadline: float = 120.0
    #: Connection failures (refused, connect timeout) get their own, much shorter budget:
    #: nothing reached the server, so either it is coming up in a moment or it is not
    #: there at all, and a few quick tries tell which without making a typo cost minutes.
    connect_retries: int = 2
    connect_base_delay: float = 1.0
    #: total seconds spent waiting between connection attempts
    connect_wait_budget: float = 4.0
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

    @property
    def connect_limit(self) -> int:
        """How many times a refused or timed-out connection is retried (--max-retries caps
        it: `--max-retries 0` means no retry of any kind)."""
        return min(self.connect_retries, self.max_retries)

    def next_connect_delay(self, retry_number: int, waited: float, elapsed: float) -> float | None:
        """The wait before connection retry `retry_number` (1-based), or None when spent.

        `waited` is the time already slept on connection retries of this request. Half
        jitter rather than full: a wait near zero would spend a try on a server that has
        had no time to come up.
        """
        if retry_number > self.connect_limit:
            return None
        ceiling = self.connect_base_delay * (2 ** (retry_number - 1))
        wait = self.rng.uniform(ceiling / 2, ceiling)
        if waited + wait > self.connect_wait_budget or elapsed + wait > self.deadline:
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


class RatePacer:
    """Slows down before the server has to say 429, for every thread sharing a client.

    Limits are per minute (contract §3). While `X-RateLimit-Remaining` is above a tenth
    of the limit, requests go out freely; below it, each request takes the next slot of
    an even schedule at the limit's own pace (60 s / limit), so a pool of threads drains
    the remaining budget no faster than the server refills it.
    """

    def __init__(self, low_fraction: float = 0.1, window: float = 60.0) -> None:
        self.low_fraction = low_fraction
        self.window = window
        self._lock = threading.Lock()
        self._interval = 0.0
        self._next_slot = 0.0

    def observe(self, limit: str | None, remaining: str | None, now: float) -> None:
        try:
            lim = int(limit) if limit else 0
            rem = int(remaining) if remaining not in (None, "") else None
        except ValueError:
            return
        if lim <= 0 or rem is None:
            return
        with self._lock:
            if rem > max(2, int(lim * self.low_fraction)):
                self._interval = 0.0
            else:
                # A hair slower than the refill rate, so threads never overtake it.
                self._interval = self.window / lim * 1.02

    @property
    def interval(self) -> float:
        """Seconds between requests while pacing; 0 while the budget is comfortable."""
        with self._lock:
            return self._interval

    def reserve(self, now: float) -> float:
        """Seconds to wait before sending the next request (0 when not pacing)."""
        with self._lock:
            if self._interval <= 0:
                return 0.0
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
            return slot - now
