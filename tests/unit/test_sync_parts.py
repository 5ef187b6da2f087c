from __future__ import annotations

import io

import pytest

from makini_cli.api.resources.syncs import EtaEstimate, PollPolicy
from makini_cli.commands._sync_runner import Outcome, worst
from makini_cli.durations import format_duration, parse_duration
from makini_cli.errors import CliError, ExitCode, UsageError
from makini_cli.models.sync import Sync
from makini_cli.output.github import annotation, summary_table
from makini_cli.output.progress import PlainProgress


def sync(status: str, done: int = 0, total: int = 100, **extra: object) -> Sync:
    return Sync.model_validate({"id": "sync_1", "connection_key": "k", "status": status,
                                "progress": {"scope": "assets", "records_processed": done,
                                             "records_total": total}, **extra})


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("1d", 86400), ("500ms", 0.5),
    ("0.5s", 0.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, flag="--timeout") == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "1h 30m", "0", "-5"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_duration(text, flag="--timeout")
    assert "--timeout" in err.value.message + (err.value.hint or "")


def test_format_duration() -> None:
    assert [format_duration(s) for s in (1.25, 42, 125, 7300)] == ["1.2s", "42s", "2m05s", "2h01m"]


def test_worst_outcome_decides_the_exit_code() -> None:
    ok = Outcome("a", "succeeded")
    assert worst([]) == ExitCode.OK
    assert worst([ok, Outcome("b", "skipped")]) == ExitCode.OK
    assert worst([ok, Outcome("b", "conflict"), Outcome("c", "timeout")]) == ExitCode.PENDING
    assert worst([Outcome("b", "timeout"), Outcome("c", "cancelled")]) == ExitCode.SYNC_CANCELLED
    assert worst([Outcome("c", "cancelled"), Outcome("d", "failed")]) == ExitCode.SYNC_FAILED
    auth = CliError("no", exit_code=ExitCode.AUTH)
    assert worst([Outcome("d", "failed"), Outcome("e", "error", error=auth)]) == ExitCode.AUTH


def test_outcome_records_never_invent_a_sync() -> None:
    with_sync = Outcome("k", "failed", sync("failed", error={"code": "X", "message": "m"}))
    assert with_sync.record()["error"] == {"code": "X", "message": "m"}
    assert with_sync.record()["outcome"] == "failed"
    assert with_sync.record()["sync"]["status"] == "failed"
    bare = Outcome("k", "error", error=CliError("boom", code="NOT_FOUND", http_status=404))
    assert bare.record() == {
        "connection_key": "k", "outcome": "error", "sync": None,
        "error": {"code": "NOT_FOUND", "message": "boom", "http_status": 404, "request_id": None},
    }
    assert bare.flat()["sync_id"] is None and bare.flat()["error_code"] == "NOT_FOUND"


def test_poll_policy_backs_off_to_its_ceiling() -> None:
    intervals = PollPolicy(first=0.5, factor=2, ceiling=3).intervals()
    assert [next(intervals) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_eta_waits_for_the_predicted_end() -> None:
    eta = EtaEstimate()
    assert eta.seconds_left(sync("running", 10), now=0.0) == 0.0  # one point: no rate yet
    assert eta.seconds_left(sync("running", 30), now=2.0) == pytest.approx(7.0)  # 70 left at 10/s
    assert eta.seconds_left(sync("queued", 0), now=3.0) == 0.0
    slow = EtaEstimate()
    slow.seconds_left(sync("running", 1, 10_000), now=0.0)
    assert slow.seconds_left(sync("running", 2, 10_000), now=1.0) == 30.0  # capped


def test_plain_progress_prints_changes_and_throttles_repeats() -> None:
    now = [0.0]
    buf = io.StringIO()
    view = PlainProgress(buf, every=5.0, monotonic=lambda: now[0])
    view.update("k", sync("queued"))
    view.update("k", sync("running", 10))
    now[0] = 1.0
    view.update("k", sync("running", 20))  # same status, too soon: silent
    now[0] = 7.0
    view.update("k", sync("running", 70))
    view.update("k", sync("succeeded", 100))
    lines = buf.getvalue().splitlines()
    assert lines == [
        "k sync_1: queued assets 0/100 records (0.0s)",
        "k sync_1: running assets 10/100 records (0.0s)",
        "k sync_1: running assets 70/100 records (7.0s)",
        "k sync_1: succeeded assets 100/100 records (7.0s)",
    ]
    assert "\x1b" not in buf.getvalue()


def test_github_annotation_escapes_and_summary_table() -> None:
    assert annotation("makini sync: run", "a%b\nc") == "::error title=makini sync%3A run::a%25b%0Ac"
    from makini_cli.commands.sync import _summary_row

    table = summary_table([
        _summary_row(Outcome("k1", "succeeded", sync("succeeded", 100), elapsed=12.0)),
        _summary_row(Outcome("k|2", "failed", sync("failed", error={
            "code": "SYSTEM_UNREACHABLE", "message": "down"}))),
    ])
    lines = table.strip().splitlines()
    assert lines[2] == "| Connection | Sync | Result | Records | Duration | Error |"
    assert lines[4] == "| k1 | sync_1 | succeeded | 100 | 12s |  |"
    assert "k\\|2" in lines[5] and "SYSTEM_UNREACHABLE: down" in lines[5]


def test_stall_watch_warns_once_when_progress_stops() -> None:
    from makini_cli.commands._sync_runner import _StallWatch

    watch = _StallWatch(now=0.0, after=60.0)
    assert watch.still(sync("running", 10), 0.0) is None
    assert watch.still(sync("running", 20), 30.0) is None  # moved
    assert watch.still(sync("running", 20), 80.0) is None  # 50 s quiet
    assert watch.still(sync("running", 20), 95.0) == 65.0  # 65 s quiet: warn
    assert watch.still(sync("running", 20), 200.0) is None  # once
    assert _StallWatch(0.0, 1.0).still(Sync.model_validate({"status": "running"}), 99.0) is None
