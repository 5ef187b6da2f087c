"""`advance(store, now)`: the one step that does all time-driven work (sandbox-design).

Every job is idempotent and runs in its own transaction, so calling `advance` twice, late,
or from two processes at once does each piece of due work exactly once. Serve mode calls
it from a background task about once a second; embedded mode at the start of each
request, so work that fell due while no process ran is done late, in order.

Jobs run in the order of `JOBS`: finishing syncs (`syncs.finish_due`), the health probe
of offline connections whose outage ended (`health.probe_offline`), firing schedules and
retries (`schedules.fire_due`), then purges. Later issues add events and the delivery
outbox.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from makini_cli.sandbox import health, idempotency, ratelimit, schedules, syncs
from makini_cli.sandbox.store import Store

# Expired tokens are kept a while so that using one answers TOKEN_EXPIRED (refresh and
# retry) rather than AUTHENTICATION_FAILED (start over).
EXPIRED_TOKEN_GRACE_SECONDS = 7 * 86_400.0

MAX_PASSES = 64

Job = Callable[[sqlite3.Connection, float], int]


def _purge_tokens(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute(
        "DELETE FROM tokens WHERE expires_at < ? OR revoked_at < ?",
        (now - EXPIRED_TOKEN_GRACE_SECONDS, now - EXPIRED_TOKEN_GRACE_SECONDS),
    ).rowcount


JOBS: tuple[tuple[str, Job], ...] = (
    ("finish_syncs", syncs.finish_due),
    ("probe_health", health.probe_offline),
    ("fire_schedules", schedules.fire_due),
    ("purge_idempotency", idempotency.purge_expired),
    ("purge_tokens", _purge_tokens),
    ("purge_rate_limits", ratelimit.purge_idle),
)


@dataclass(frozen=True)
class AdvanceReport:
    now: float
    done: dict[str, int]


def advance(store: Store, now: float) -> AdvanceReport:
    """Do everything due at sandbox time `now` (Unix seconds).

    One job's work can make another's due in the past (a schedule fired late starts a
    sync whose end has passed too), so the jobs run again until a pass finds nothing to
    do, at most `MAX_PASSES` times; the rest waits for the next call.
    """
    done: dict[str, int] = {name: 0 for name, _ in JOBS}
    for _ in range(MAX_PASSES):
        worked = False
        for name, job in JOBS:
            with store.transaction() as conn:
                count = job(conn, now)
            done[name] += count
            worked = worked or count > 0
        if not worked:
            break
    return AdvanceReport(now, done)
