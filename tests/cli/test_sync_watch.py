"""`makini sync watch [ID|KEY…]` against the bundled sandbox on a manual clock.

The clock stands still until the command has read what it will follow (it writes its
first progress line, or its picker's question), so the syncs are still queued then; from
there a ticker moves it on until the command returns, and the syncs run to their end.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from makini_cli.durations import format_duration
from makini_cli.main import main
from makini_cli.models.sync import Sync
from makini_cli.output.progress import PlainProgress
from makini_cli.sandbox.clock import ManualClock
from makini_cli.terminal import Terminal
from tests.cli.conftest import Sandbox
from tests.inproc import Result, patched_env
from tests.inproc import invoke as run

#: Sandbox seconds per tick, every 10 ms: a sync of 5-300 s ends within about 1.5 s.
STEP_S = 2.0


class _Gate(threading.Event):
    """Set when the command shows it is following: the ticker starts then."""


class _Stderr(io.StringIO):
    def __init__(self, gate: _Gate) -> None:
        super().__init__()
        self.gate = gate

    def write(self, text: str) -> int:
        # A progress line names the sync it follows; the picker has listed the syncs.
        if "sync_" in text or "Watch which?" in text:
            self.gate.set()
        return super().write(text)


@contextmanager
def ticking(clock: ManualClock, gate: _Gate) -> Iterator[None]:
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.01):
            if gate.is_set():
                clock.advance(STEP_S)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def watch(bundled: Sandbox, *args: str, tty: bool = False, answer: str = "") -> Result:
    """`makini sync watch *args`, the clock moving once the command follows."""
    assert bundled.clock is not None
    gate = _Gate()
    out, err = io.StringIO(), _Stderr(gate)
    terminal = Terminal(
        stdin_stream=io.StringIO(answer),
        stdout_stream=out,
        stderr_stream=err,
        stdin_tty=tty,
        stdout_tty=tty,
        stderr_tty=tty,
        columns=120 if tty else None,
    )
    argv = ["sync", "watch", *args]
    with patched_env(None), ticking(bundled.clock, gate):
        code = main(argv, terminal=terminal)
    result = Result(code, out.getvalue(), err.getvalue(), argv)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def start(key: str, *extra: str) -> dict[str, Any]:
    """Start a sync and leave it queued (the clock stands still): the Sync."""
    started = run("sync", "run", key, "--no-wait", *extra)
    assert started.code == 0, started
    sync: dict[str, Any] = started.json()["sync"]
    assert sync["status"] == "queued"
    return sync


def seconds(sync: dict[str, Any]) -> float:
    """How long the sync ran, by its own times."""
    started, finished = (
        datetime.fromisoformat(sync[field].replace("Z", "+00:00"))
        for field in ("started_at", "finished_at")
    )
    return (finished - started).total_seconds()


@pytest.fixture
def keys(bundled: Sandbox) -> dict[str, list[str]]:
    """Keys by health; no scheduled sync can start while the clock runs."""
    bundled.quiet_schedules()
    return bundled.keys_by_health()


def test_two_keys_are_followed_to_the_end(bundled: Sandbox, keys: dict[str, list[str]]) -> None:
    a, b = keys["online"][:2]
    ids = {a: start(a)["id"], b: start(b, "--full")["id"]}
    result = watch(bundled, a, b)
    assert result.code == 0, result
    lines = result.jsonl()  # several: one result a line, as `sync run` prints them
    assert {line["connection_key"] for line in lines} == {a, b} and len(lines) == 2
    for line in lines:
        assert set(line) == {"connection_key", "outcome", "sync", "error"}
        assert line["outcome"] == "succeeded" and line["error"] is None
        assert line["sync"]["id"] == ids[line["connection_key"]]
        assert line["sync"]["status"] == "succeeded"
    # Followed, not found ended: each was seen queued or running first.
    for key in (a, b):
        assert f"{key} {ids[key]}: queued" in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("2 syncs finished in ")


def test_a_failure_or_a_cancel_decides_the_exit_code(
    bundled: Sandbox, keys: dict[str, list[str]]
) -> None:
    online, offline = keys["online"][0], keys["offline"][0]
    start(online)
    start(offline)
    failed = watch(bundled, online, offline)
    assert failed.code == 10, failed
    by_key = {line["connection_key"]: line for line in failed.jsonl()}
    assert by_key[online]["outcome"] == "succeeded"
    assert by_key[offline]["outcome"] == "failed"
    assert by_key[offline]["error"]["code"] == "SYSTEM_UNREACHABLE"
    assert "SYSTEM_UNREACHABLE" in failed.stderr

    other = keys["online"][1]
    doomed = start(online, "--full")
    start(other)
    assert run("sync", "cancel", doomed["id"]).code == 0
    cancelled = watch(bundled, online, other)
    assert cancelled.code == 12, cancelled
    outcomes = {line["connection_key"]: line["outcome"] for line in cancelled.jsonl()}
    assert outcomes == {online: "cancelled", other: "succeeded"}
    assert "was cancelled" in cancelled.stderr

    # A failure outranks a cancel, as in `sync run` (10 > 12).
    start(offline)
    assert watch(bundled, offline, online).code == 10


def test_a_key_means_its_running_sync_else_its_latest(
    bundled: Sandbox, keys: dict[str, list[str]]
) -> None:
    assert bundled.clock is not None
    done_key, busy_key = keys["online"][:2]
    first = start(done_key)
    earlier = start(busy_key)
    bundled.clock.advance(600)  # both end; the next request settles them
    running = start(busy_key)
    assert running["id"] != earlier["id"]
    # A key and a sync id may be mixed; the ended one is reported as it ended.
    result = watch(bundled, done_key, running["id"])
    assert result.code == 0, result
    by_key = {line["connection_key"]: line for line in result.jsonl()}
    assert by_key[done_key]["sync"]["id"] == first["id"]
    assert by_key[busy_key]["sync"]["id"] == running["id"]
    assert all(line["outcome"] == "succeeded" for line in by_key.values())

    # The key of a connection with a sync running follows that one.
    again = start(busy_key)
    followed = watch(bundled, busy_key)
    assert followed.code == 0, followed
    assert followed.json()["sync"]["id"] == again["id"]  # one sync: one object
    assert followed.json()["outcome"] == "succeeded"

    # The same sync named by its id and by its key is followed once.
    both = watch(bundled, again["id"], busy_key)
    assert both.code == 0 and both.json()["sync"]["id"] == again["id"], both


def test_an_ended_sync_reports_how_long_it_ran_on_the_server(
    bundled: Sandbox, keys: dict[str, list[str]]
) -> None:
    assert bundled.clock is not None
    key = keys["online"][0]
    sync_id = start(key, "--full")["id"]
    bundled.clock.advance(3600)  # it ended long before the watch begins
    result = watch(bundled, sync_id, "-o", "table")  # piped: a plain line per result
    assert result.code == 0, result
    ended = run("sync", "get", sync_id).json()
    took = format_duration(seconds(ended))
    assert seconds(ended) >= 60  # a full sync: nothing near 0 s
    assert result.stdout.strip() == f"{key} {sync_id}: succeeded in {took}, " + (
        f"{ended['progress']['records_processed']:,} records"
    )
    assert f"records ({took})" in result.stderr  # the progress line
    assert result.stderr.strip().splitlines()[-1] == f"1 sync finished in {took}"

    # On a terminal: the results table's TIME, and the bars' clock (H:MM:SS).
    table = watch(bundled, key, tty=True)
    assert table.code == 0, table
    row = next(line for line in table.stdout.splitlines() if line.startswith(key))
    assert took in row.split(), table.stdout
    whole = int(seconds(ended))
    assert f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}" in table.stderr


def test_unknown_ids_and_keys_and_keys_without_a_sync_are_exit_1(
    bundled: Sandbox, keys: dict[str, list[str]]
) -> None:
    online = keys["online"][0]
    unknown_id = watch(bundled, "sync_0000000000000000")
    assert unknown_id.code == 1 and "NOT_FOUND" in unknown_id.stderr, unknown_id
    unknown_key = watch(bundled, "10000000000000", online)
    assert unknown_key.code == 1 and "NOT_FOUND" in unknown_key.stderr, unknown_key
    never = watch(bundled, online)  # the seed's connections have no sync yet
    assert never.code == 1, never
    assert f"connection {online} has had no sync to watch" in never.stderr
    assert f"makini sync run {online}" in never.stderr and "NO_SYNC" in never.stderr
    assert never.stdout == ""


def test_with_no_argument_it_needs_a_terminal(bundled: Sandbox) -> None:
    piped = watch(bundled)
    assert piped.code == 2, piped
    assert "ids (sync_…) or connection keys" in piped.stderr
    assert "makini sync list --status running" in piped.stderr
    no_input = watch(bundled, "--no-input", tty=True)
    assert no_input.code == 2, no_input


def test_on_a_terminal_it_offers_the_running_syncs(
    bundled: Sandbox, keys: dict[str, list[str]]
) -> None:
    assert bundled.clock is not None
    a, b, c = keys["online"][:3]
    start(c)
    bundled.clock.advance(600)  # c's sync ended: not offered
    ids = {a: start(a)["id"], b: start(b)["id"]}
    names = {r["key"]: r["name"] for r in run("connections", "list").jsonl()}

    picked = watch(bundled, tty=True, answer="9\n2\n")  # not a choice: asked again
    assert picked.code == 0, picked
    offered = [line for line in picked.stderr.splitlines() if re.match(r"  \d+\. ", line)]
    assert len(offered) >= 2 and not any(c in line for line in offered), picked.stderr
    assert "not a choice: 9" in picked.stderr
    second = offered[1]
    key = a if ids[a] in second else b
    assert second.startswith(f"  2. {names[key]} ({key})  {ids[key]}  queued")
    rows = [line for line in picked.stdout.splitlines() if line.startswith((a, b))]
    assert len(rows) == 1 and rows[0].startswith(key) and "succeeded" in rows[0], picked

    bundled.clock.advance(600)  # the sync not picked ends too, however far the watch ran
    ids = {a: start(a)["id"], b: start(b)["id"]}
    every = watch(bundled, "-o", "jsonl", tty=True, answer="all\n")
    assert every.code == 0, every
    assert {line["sync"]["id"] for line in every.jsonl()} == set(ids.values())

    start(a)
    unanswered = watch(bundled, tty=True)  # nothing typed
    assert unanswered.code == 6 and "no sync picked" in unanswered.stderr, unanswered

    bundled.clock.advance(600)
    idle = watch(bundled, tty=True)
    assert idle.code == 0 and "no sync is running" in idle.stderr, idle


def a_sync(status: str, **times: str | None) -> Sync:
    return Sync.model_validate(
        {"id": "sync_1", "status": status, "created_at": "2025-01-06T09:00:00Z", **times}
    )


def test_times_are_the_servers_and_a_clock_that_disagrees_is_not_believed() -> None:
    start_at = datetime(2025, 1, 6, 9, 0, 1, tzinfo=UTC).timestamp()
    mono, wall = [0.0], [start_at + 3600.0]  # this machine: an hour after it started
    buf = io.StringIO()
    view = PlainProgress(buf, every=0.0, monotonic=lambda: mono[0], wall=lambda: wall[0])
    # Seen for the first time long after it ended: its length, not 0 s.
    ended = {"started_at": "2025-01-06T09:00:01Z", "finished_at": "2025-01-06T09:02:07Z"}
    view.update("done", a_sync("succeeded", **ended))
    # Running for an hour by both clocks, seen running at once: an hour.
    view.update("long", a_sync("running", started_at="2025-01-06T09:00:01Z"))
    # Seen queued a second ago, yet started an hour ago by this clock: the clocks disagree
    # (a sandbox on a test clock), so it counts from when it was seen running.
    view.update("test", a_sync("queued"))
    mono[0] = 1.0
    view.update("test", a_sync("running", started_at="2025-01-06T09:00:01Z"))
    mono[0], wall[0] = 3.0, wall[0] + 2.0
    view.update("test", a_sync("running", started_at="2025-01-06T09:00:01Z"))
    # A start ahead of this clock: not a negative time.
    view.update("ahead", a_sync("running", started_at="2025-01-06T11:00:00Z"))
    assert buf.getvalue().splitlines() == [
        "done sync_1: succeeded (2m06s)",
        "long sync_1: running (1h00m)",
        "test sync_1: queued (0.0s)",
        "test sync_1: running (0.0s)",
        "test sync_1: running (2.0s)",
        "ahead sync_1: running (0.0s)",
    ]
    assert view.seconds("done") == 126.0 and view.seconds("nobody") is None
    view.update("test", a_sync("succeeded", **ended))
    assert view.seconds("test") == 126.0  # its end, by the server's times, sets it right
    assert view.totals().startswith("2 of 4 syncs finished in ")
