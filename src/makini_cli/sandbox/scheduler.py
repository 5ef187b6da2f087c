"""`advance(store, now)`: the one step that does all time-driven work (sandbox-design).

Every job is idempotent and runs in its own transaction, so calling `advance` twice, late,
or from two processes at once does each piece of due work exactly once. Serve mode calls
it from a background task about once a second; embedded mode at the start of each
request, so work that fell due while no process ran is done late, in order.

Jobs run in the order of `JOBS`. Later issues add theirs here: finishing syncs, firing
schedules and retries, health probes, ending outages, events and the delivery outbox.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from makini_cli.sandbox import idempotency, ratelimit
from makini_cli.sandbox.store import Store

# Expired tokens are kept a while so that using one answers TOKEN_EXPIRED (refresh and
# retry) rather than AUTHENTICATION_FAILED (start over).
EXPIRED_TOKEN_GRACE_SECONDS = 7 * 86_400.0

Job = Callable[[sqlite3.Connection, float], int]


def _purge_tokens(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute(
        "DELETE FROM tokens WHERE expires_at < ? OR revoked_at < ?",
        (now - EXPIRED_TOKEN_GRACE_SECONDS, now - EXPIRED_TOKEN_GRACE_SECONDS),
    ).rowcount


JOBS: tuple[tuple[str, Job], ...] = (
    ("purge_idempotency", idempotency.purge_expired),
    ("purge_tokens", _purge_tokens),
    ("purge_rate_limits", ratelimit.purge_idle),
)


@dataclass(frozen=True)
class AdvanceReport:
    now: float
    done: dict[str, int]


def advance(store: Store, now: float) -> AdvanceReport:
    """Do everything due at sandbox time `now` (Unix seconds)."""
    done: dict[str, int] = {}
    for name, job in JOBS:
        with store.transaction() as conn:
            done[name] = job(conn, now)
    return AdvanceReport(now, done)
