"""`advance(store, now)`: the one step that does all time-driven work (sandbox-design).

Every job is idempotent and runs in its own transaction, so calling `advance` twice, late,
or from two processes at once does each piece of due work exactly once. Serve mode calls
it from a background task about once a second; embedded mode at the start of each
request, so work that fell due while no process ran is done late, in order.

Due work runs in timestamp order across job kinds, so a jump of the clock replays
history as it would have happened: a sync that failed during an outage fails before the
probe sees the system back, not after. Each timed job (`TIMED_JOBS`: finishing syncs,
the health probe of offline connections whose outage ended, firing schedules and
retries) says when its next piece of work falls due; `advance` repeatedly does the
earliest, at its time, until nothing is due by `now`. At equal times the jobs run in the
order of `TIMED_JOBS` (a sync ending at t frees its connection for a retry at t). Purges
(`HOUSEKEEPING`) change nothing another job reads, so they run once, at `now`.

Every change a job makes goes through `transitions.py`, which records its event (and
queues its webhook deliveries) in the step's transaction, dated when the work was due:
a replay writes the event log as it would have been written live.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from makini_cli.sandbox import health, idempotency, ratelimit, schedules, syncs
from makini_cli.sandbox.store import Store

logger = logging.getLogger("makini_cli.sandbox")

# Expired tokens are kept a while so that using one answers TOKEN_EXPIRED (refresh and
# retry) rather than AUTHENTICATION_FAILED (start over).
EXPIRED_TOKEN_GRACE_SECONDS = 7 * 86_400.0

# A guard, not a budget: whatever the jump, one call finds some 70 steps of work per
# connection at most (missed regular runs collapse into one, retries catch up from at most
# a day back), each well under a millisecond. Work left past the guard waits for the next
# call.
MAX_STEPS = 20_000

Job = Callable[[sqlite3.Connection, float], int]


@dataclass(frozen=True)
class TimedJob:
    """A kind of time-driven work.

    `next_due(conn, now)`: when its earliest piece of work falls due (None: nothing is
    pending). `run(conn, until, now)`: do the work due at or before `until`, each piece at
    the time it was due, and say how many pieces. `now` is the time `advance` runs to.
    """

    name: str
    next_due: Callable[[sqlite3.Connection, float], float | None]
    run: Callable[[sqlite3.Connection, float, float], int]


def _purge_tokens(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute(
        "DELETE FROM tokens WHERE expires_at < ? OR revoked_at < ?",
        (now - EXPIRED_TOKEN_GRACE_SECONDS, now - EXPIRED_TOKEN_GRACE_SECONDS),
    ).rowcount


TIMED_JOBS: tuple[TimedJob, ...] = (
    TimedJob(
        "finish_syncs",
        lambda conn, now: syncs.next_finish_due(conn),
        lambda conn, until, now: syncs.finish_due(conn, until),
    ),
    TimedJob(
        "probe_health",
        lambda conn, now: health.next_probe_due(conn),
        lambda conn, until, now: health.probe_offline(conn, until),
    ),
    TimedJob(
        "fire_schedules",
        schedules.next_due,
        lambda conn, until, now: schedules.fire_due(conn, now, until),
    ),
)

HOUSEKEEPING: tuple[tuple[str, Job], ...] = (
    ("purge_idempotency", idempotency.purge_expired),
    ("purge_tokens", _purge_tokens),
    ("purge_rate_limits", ratelimit.purge_idle),
)


@dataclass(frozen=True)
class AdvanceReport:
    now: float
    done: dict[str, int]


@dataclass(frozen=True)
class _Step:
    job: str
    at: float
    count: int


def _step(conn: sqlite3.Connection, now: float, after: float) -> _Step | None:
    """Do the earliest work due by `now`, if any. `after`: the time of the previous step.

    Finding the work and doing it share one transaction, so another process cannot do
    it in between.
    """
    earliest: tuple[float, TimedJob] | None = None
    for job in TIMED_JOBS:
        due = job.next_due(conn, now)
        if due is not None and due <= now and (earliest is None or due < earliest[0]):
            earliest = (due, job)
    if earliest is None:
        return None
    due, job = earliest
    # Work the previous step made due at an earlier time (a retry that waited for a sync
    # to end) is done now, never behind the clock of the replay.
    at = max(due, after)
    return _Step(job.name, at, job.run(conn, at, now))


def advance(store: Store, now: float) -> AdvanceReport:
    """Do everything due at sandbox time `now` (Unix seconds), in timestamp order.

    Each step does the work due at one time, in its own transaction; doing it can make
    more work due (a retry fired late starts a sync whose end has passed too), which a
    later step finds. The replay stops when nothing is due by `now`.
    """
    done: dict[str, int] = {job.name: 0 for job in TIMED_JOBS}
    done.update({name: 0 for name, _ in HOUSEKEEPING})
    after = -math.inf
    for _ in range(MAX_STEPS):
        with store.transaction() as conn:
            step = _step(conn, now, after)
        if step is None:
            break
        if step.count == 0:
            # A job said work was due and then found none: stop rather than spin; the
            # next call finds it again.
            logger.warning("scheduler: %s had work due at %s but did none", step.job, step.at)
            break
        done[step.job] += step.count
        after = step.at
    else:
        logger.warning("scheduler: stopped after %d steps; the rest waits", MAX_STEPS)
    for name, job in HOUSEKEEPING:
        with store.transaction() as conn:
            done[name] += job(conn, now)
    return AdvanceReport(now, done)
