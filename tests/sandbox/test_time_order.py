"""The scheduler replays due work in timestamp order across job kinds (sandbox-design).

A jump of the clock must leave the state history would have left, and every
time-driven change must be applied in the order of the times it is dated with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from makini_cli.sandbox import health, scheduler, schedules, syncs
from makini_cli.sandbox.clock import ManualClock
from makini_cli.sandbox.connections import connection_status
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.settings import SandboxSettings

from .conftest import ACTIVE_KEY, OFFLINE_KEY, assert_backed_off_until

HOUR = 3_600.0
DAY = 86_400.0

# Every time-driven change, logged by the database itself in the order it is applied,
# with the sandbox time it is dated with.
TRANSITION_LOG = (
    "CREATE TABLE transition_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT, at REAL)",
    "CREATE TRIGGER log_sync_created AFTER INSERT ON syncs BEGIN"
    " INSERT INTO transition_log (what, at) VALUES ('created ' || NEW.id, NEW.created_at); END",
    "CREATE TRIGGER log_sync_ended AFTER UPDATE OF status ON syncs"
    " WHEN OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL BEGIN"
    " INSERT INTO transition_log (what, at) VALUES (NEW.status || ' ' || NEW.id,"
    " NEW.finished_at); END",
    "CREATE TRIGGER log_recovered AFTER UPDATE OF recovered_at ON outages"
    " WHEN NEW.recovered_at IS NOT NULL BEGIN"
    " INSERT INTO transition_log (what, at) VALUES ('recovered ' || NEW.connection_key,"
    " NEW.recovered_at); END",
)


@pytest.fixture
def runtime(settings: SandboxSettings, manual_clock: ManualClock) -> Iterator[Runtime]:
    opened = Runtime.open(settings, manual_clock)
    with opened.store.transaction() as conn:
        for statement in TRANSITION_LOG:
            conn.execute(statement)
    yield opened
    opened.store.close()


def _outage_on_a_schedule(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, seconds: float
) -> float:
    """The active connection on a 15-minute schedule, its system down for `seconds` from
    now, with the scheduler's warnings captured; answers that start time."""
    caplog.set_level(logging.WARNING, logger="makini_cli.sandbox")
    start = runtime.now()
    with runtime.store.transaction() as conn:
        schedules.put_schedule(conn, start, ACTIVE_KEY, enabled=True, interval_minutes=15)
        health.start_outage(conn, start, ACTIVE_KEY, seconds)
    return start


def _advance(runtime: Runtime, manual_clock: ManualClock, seconds: float) -> None:
    manual_clock.advance(seconds)
    scheduler.advance(runtime.store, runtime.now())


def _log(runtime: Runtime) -> list[tuple[str, float]]:
    with runtime.store.connection() as conn:
        return [
            (row["what"], row["at"])
            for row in conn.execute("SELECT what, at FROM transition_log ORDER BY seq")
        ]


def _syncs(runtime: Runtime, key: str | None = None) -> list[dict[str, Any]]:
    with runtime.store.connection() as conn:
        rows = conn.execute(
            "SELECT * FROM syncs WHERE ? IS NULL OR connection_key = ? ORDER BY seq", (key, key)
        ).fetchall()
    return [dict(row) for row in rows]


def _status(runtime: Runtime, key: str = ACTIVE_KEY) -> dict[str, Any]:
    with runtime.store.connection() as conn:
        return connection_status(conn, runtime.now(), key)


def _schedule(runtime: Runtime, key: str = ACTIVE_KEY) -> dict[str, Any]:
    with runtime.store.connection() as conn:
        row = conn.execute("SELECT * FROM schedules WHERE connection_key = ?", (key,))
        return dict(row.fetchone())


def _assert_no_scheduler_warning(caplog: pytest.LogCaptureFixture) -> None:
    """The scheduler neither stopped at work it could not do nor hit its step guard."""
    assert [r.getMessage() for r in caplog.records if r.name == "makini_cli.sandbox"] == []


def _assert_in_time_order(runtime: Runtime) -> None:
    log = _log(runtime)
    assert log, "nothing was logged"
    out_of_order = [(earlier, later) for earlier, later in pairwise(log) if later[1] < earlier[1]]
    assert out_of_order == []
    history = _syncs(runtime)
    created = [row["created_at"] for row in history]
    assert created == sorted(created)  # across connections: history is one timeline
    for key in {row["connection_key"] for row in history}:
        finished = [r["finished_at"] for r in _syncs(runtime, key) if r["finished_at"]]
        assert finished == sorted(finished)


def test_a_jump_across_an_outage_replays_it_in_time_order(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    start = runtime.now()  # 09:00:00
    with runtime.store.transaction() as conn:
        schedules.put_schedule(conn, start, ACTIVE_KEY, enabled=True, interval_minutes=15)
        health.start_outage(conn, start, ACTIVE_KEY, 3.5 * HOUR + 20)
    recovery = syncs.next_probe(start + 3.5 * HOUR + 20)  # 12:31:00, mid-backoff
    # One multi-hour jump to just after the probe saw the system back: the retry it
    # pulled in has started and is still running.
    _advance(runtime, manual_clock, recovery + 3 - start)
    status = _status(runtime)
    assert status["health"] == "online"
    assert status["error"] is None  # the outage's failures were all before the recovery
    assert status["sync_status"] == "inprogress"
    _assert_in_time_order(runtime)

    _advance(runtime, manual_clock, 5 * HOUR)
    status = _status(runtime)
    assert (status["health"], status["error"], status["sync_status"]) == ("online", None, "done")
    _assert_in_time_order(runtime)
    rows = _syncs(runtime, ACTIVE_KEY)
    retry, failed = assert_backed_off_until(rows, recovery)
    assert all(row["started_at"] < recovery for row in failed)
    assert all(row["status"] == "succeeded" for row in rows if row["started_at"] >= recovery)
    assert (failed[0]["trigger"], failed[0]["created_at"]) == ("scheduled", start + 900)
    # Regular runs resumed an interval after the success.
    assert rows[len(failed) + 1]["trigger"] == "scheduled"
    assert rows[len(failed) + 1]["created_at"] == retry["finished_at"] + 900
    assert _schedule(runtime)["retry_at"] is None


def test_a_week_long_jump_is_done_in_one_call(
    runtime: Runtime, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    start = _outage_on_a_schedule(runtime, caplog, 6.5 * DAY)
    manual_clock.advance(7 * DAY)
    now = runtime.now()
    report = scheduler.advance(runtime.store, now)
    assert report.done["fire_schedules"] > 24  # the last day of hourly retries, at least
    again = scheduler.advance(runtime.store, now)
    assert set(again.done.values()) == {0}  # nothing was left for a later call
    _assert_no_scheduler_warning(caplog)
    _assert_in_time_order(runtime)
    status = _status(runtime)
    assert (status["health"], status["error"], status["sync_status"]) == ("online", None, "done")
    rows = _syncs(runtime, ACTIVE_KEY)
    # Retries older than a day catch up from a day ago; the rest ran at their times.
    assert [row["trigger"] for row in rows[:2]] == ["scheduled", "retry"]
    assert rows[1]["created_at"] == now - schedules.CATCH_UP_SECONDS
    recovery = syncs.next_probe(start + 6.5 * DAY)
    assert all(row["status"] == "failed" for row in rows if row["started_at"] < recovery)
    assert all(row["status"] == "succeeded" for row in rows if row["started_at"] >= recovery)
    # The seeded system that stays down retried hourly all the last day, in step.
    offline = [row for row in _syncs(runtime, OFFLINE_KEY) if row["created_at"] >= now - DAY]
    assert len(offline) >= 24
    assert _status(runtime, OFFLINE_KEY)["health"] == "offline"


def test_a_retry_blocked_by_a_running_sync_runs_when_that_sync_ends(
    runtime: Runtime, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    _outage_on_a_schedule(runtime, caplog, 2 * HOUR)
    _advance(runtime, manual_clock, 900 + 10)  # the scheduled run failed: retry in a minute
    retry_at = _schedule(runtime)["retry_at"]
    assert retry_at is not None and retry_at > runtime.now()
    manual_clock.advance(retry_at - runtime.now() - 0.5)
    with runtime.store.transaction() as conn:
        # Starts (and fails, the system being down) just after the retry falls due.
        manual = syncs.start_sync(conn, runtime.now(), ACTIVE_KEY)
    manual_clock.advance(0.5)
    report = scheduler.advance(runtime.store, runtime.now())  # due, but blocked: no spin
    assert report.done["fire_schedules"] == 0
    _advance(runtime, manual_clock, 30)
    rows = _syncs(runtime, ACTIVE_KEY)
    assert [row["trigger"] for row in rows] == ["scheduled", "manual", "retry"]
    ended = rows[1]["finished_at"]
    assert ended > retry_at and rows[1]["id"] == manual["id"]
    assert rows[2]["created_at"] == ended  # not before the sync that blocked it ended
    _assert_in_time_order(runtime)
    _assert_no_scheduler_warning(caplog)


def test_a_retry_that_cannot_run_is_not_due(
    runtime: Runtime, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    _outage_on_a_schedule(runtime, caplog, 2 * HOUR)
    _advance(runtime, manual_clock, 900 + 10)
    with runtime.store.transaction() as conn:
        health.break_credentials(conn, runtime.now(), ACTIVE_KEY)
    before = len(_syncs(runtime, ACTIVE_KEY))
    _advance(runtime, manual_clock, 3 * HOUR)
    assert len(_syncs(runtime, ACTIVE_KEY)) == before  # only a person can fix credentials
    assert set(scheduler.advance(runtime.store, runtime.now()).done.values()) == {0}
    _assert_no_scheduler_warning(caplog)
