"""`makini sync` end to end against a served sandbox on a fast clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run


@pytest.fixture
def fast(sandbox_factory: Callable[..., Served]) -> Served:
    served = sandbox_factory("--clock-speed", "60")
    served.quiet_schedules()
    return served


def test_run_waits_and_exits_0_with_the_final_sync(fast: Served) -> None:
    key = fast.keys_by_health()["online"][0]
    name = next(
        r["name"] for r in run("connections", "list", env=fast.env).jsonl() if r["key"] == key
    )  # a list also tells later runs the names
    result = run("sync", "run", key, env=fast.env)
    assert result.code == 0, result
    outcome = result.json()
    assert outcome["connection_key"] == key and outcome["outcome"] == "succeeded"
    assert outcome["error"] is None
    sync = outcome["sync"]
    assert sync["connection_key"] == key and sync["status"] == "succeeded"
    assert sync["progress"]["records_processed"] == sync["progress"]["records_total"]
    # plain progress lines off a TTY: the connection's name, its key and the sync id
    assert f"{name} ({key}) {sync['id']}: " in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("1 sync finished in ")
    assert "\x1b" not in result.stderr
    jsonl = run("sync", "run", key, "--scope", "sites", "-o", "jsonl", env=fast.env)
    assert jsonl.code == 0, jsonl
    [line] = jsonl.jsonl()
    assert set(line) == {"connection_key", "outcome", "sync", "error"}  # one shape for one or many
    assert line["sync"]["scopes"] == ["sites"] and line["sync"]["type"] == "incremental"
    table = run("sync", "run", key, "-o", "table", env=fast.env)
    assert table.code == 0 and f"{key} sync_" in table.stdout and "succeeded in" in table.stdout


def test_scopes_are_sent_as_makini_names_them(fast: Served) -> None:
    online = set(fast.keys_by_health()["online"])
    key = next(
        r["key"]
        for r in run("connections", "list", env=fast.env).jsonl()
        if r["key"] in online and "work_orders" in r["scopes"].split(",")
    )
    result = run(
        "sync", "run", key, "--scope", "work-orders", "--scope", "work_orders", env=fast.env
    )
    assert result.code == 0, result
    assert result.json()["sync"]["scopes"] == ["work_orders"]


def test_no_wait_prints_the_queued_sync_and_already_running_is_exit_7(fast: Served) -> None:
    key = fast.keys_by_health()["online"][0]
    queued = run("sync", "run", key, "--no-wait", "--full", env=fast.env)
    assert queued.code == 0, queued
    assert queued.json()["outcome"] == "started"
    sync = queued.json()["sync"]
    assert sync["status"] in ("queued", "running") and sync["type"] == "full"
    again = run("sync", "run", key, env=fast.env)
    assert again.code == 7, again
    assert "SYNC_ALREADY_RUNNING" in again.stderr
    # Not started: no Sync is invented, the outcome and the error say what happened.
    assert again.json() == {
        "connection_key": key,
        "outcome": "conflict",
        "sync": None,
        "error": again.json()["error"],
    }
    assert again.json()["error"]["code"] == "SYNC_ALREADY_RUNNING"
    skipped = run("sync", "run", key, "--if-running", "skip", env=fast.env)
    assert skipped.code == 0, skipped
    assert skipped.json()["outcome"] == "skipped" and skipped.json()["sync"]["id"] == sync["id"]
    # Followed to its end (a full sync takes 1 to 5 min, 1 to 5 s on this clock). Not hurried
    # by advancing the clock: the sync would then race to its end with this command's start.
    waited = run("sync", "run", key, "--if-running", "wait", env=fast.env)
    assert waited.code == 0, waited
    assert waited.json()["sync"]["id"] == sync["id"]
    assert waited.json()["sync"]["status"] == "succeeded"
    assert run("sync", "run", key, "--if-running", "later", env=fast.env).code == 2


def test_idempotent_rerun_starts_nothing_new(fast: Served) -> None:
    key = fast.keys_by_health()["online"][1]
    first = run("sync", "run", key, "--idempotency-key", "deploy-77", env=fast.env)
    assert first.code == 0, first
    again = run("sync", "run", key, "--idempotency-key", "deploy-77", env=fast.env)
    assert again.code == 0, again
    first_id = first.json()["sync"]["id"]
    assert again.json()["sync"]["id"] == first_id
    history = run("sync", "list", key, "--limit", "5", env=fast.env).jsonl()
    assert [h["id"] for h in history].count(first_id) == 1
    assert sum(1 for h in history if h["trigger"] == "manual") == 1


def test_timeout_is_exit_8_and_the_sync_goes_on(sandbox: Served) -> None:
    sandbox.quiet_schedules()
    key = sandbox.keys_by_health()["online"][0]
    result = run("sync", "run", key, "--full", "--timeout", "1s", env=sandbox.env)
    assert result.code == 8, result
    assert result.json()["outcome"] == "timeout"
    sync = result.json()["sync"]
    assert "makini sync watch " + sync["id"] in result.stderr
    still = run("sync", "get", sync["id"], env=sandbox.env).json()
    assert still["status"] in ("queued", "running")
    watched = run("sync", "watch", sync["id"], "--timeout", "1s", env=sandbox.env)
    assert watched.code == 8, watched


def test_failed_sync_is_exit_10_and_reauth_is_not_retried(fast: Served) -> None:
    key = fast.keys_by_health()["online"][0]
    assert run("sandbox", "break-credentials", key, env=fast.env).code == 0
    status = run("connections", "status", key, env=fast.env).jsonl()[0]
    assert status["health"] == "reauth_required"
    result = run("sync", "run", key, env=fast.env)
    assert result.code == 10, result
    [error] = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert "REAUTHORIZATION_REQUIRED" in error and error.endswith(")") and "(request req_" in error
    assert result.stderr.strip().splitlines()[-1].endswith(": 1 failed")
    assert result.json()["error"]["code"] == "REAUTHORIZATION_REQUIRED"
    time.sleep(0.5)  # 30 sandbox seconds: no automatic retry may appear
    history = run("sync", "list", key, env=fast.env).jsonl()
    assert not [h for h in history if h["trigger"] == "retry"]
    assert run("sandbox", "fix-credentials", key, env=fast.env).code == 0
    assert run("sync", "run", key, env=fast.env).code == 0


def test_all_with_mixed_outcomes_and_the_actions_summary(fast: Served, tmp_path: Path) -> None:
    health = fast.keys_by_health()
    broken = health["online"][0]
    assert run("sandbox", "break-credentials", broken, env=fast.env).code == 0
    summary = tmp_path / "summary.md"
    env = {**fast.env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run("sync", "run", "--all", "-o", "jsonl", env=env)
    assert result.code == 10, result
    lines = result.jsonl()
    by_key = {line["connection_key"]: line for line in lines}
    assert len(by_key) == len(lines) >= 6
    assert by_key[broken]["outcome"] == "failed" and by_key[broken]["sync"]["status"] == "failed"
    assert by_key[broken]["error"]["code"] == "REAUTHORIZATION_REQUIRED"
    offline = health["offline"][0]
    assert by_key[offline]["error"]["code"] == "SYSTEM_UNREACHABLE"
    assert sum(1 for line in lines if line["outcome"] == "succeeded") >= 3
    assert "skipping 2 connection(s) that cannot sync now: 1 inactive, 1 pending" in result.stderr
    failures = 1 + len(health.get("offline", [])) + len(health.get("reauth_required", []))
    annotations = [ln for ln in result.stderr.splitlines() if ln.startswith("::error ")]
    assert len(annotations) == failures and any(broken in a for a in annotations)
    table = summary.read_text()
    assert "| Connection | Sync | Result |" in table
    assert table.count("| succeeded |") >= 3 and table.count("| failed |") == failures


def test_outage_backs_off_then_recovers_by_itself(fast: Served) -> None:
    key = fast.keys_by_health()["online"][0]
    assert run("sync", "run", key, env=fast.env).code == 0
    assert run("sync", "schedule", "set", key, "--every", "15m", env=fast.env).code == 0
    schedule = run("sync", "schedule", "get", key, env=fast.env).json()
    assert schedule["enabled"] is True and schedule["interval_minutes"] == 15
    assert run("sandbox", "outage", key, "--for", "40m", env=fast.env).code == 0
    assert run("connections", "status", key, env=fast.env).jsonl()[0]["health"] == "offline"
    fast.control("POST", "clock", {"advance_seconds": 3 * 3600})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        history = run("sync", "list", key, "-o", "json", env=fast.env).json()
        recovered = [h for h in history if h["trigger"] == "retry" and h["status"] == "succeeded"]
        if recovered:
            break
        time.sleep(0.5)
    assert recovered, history
    failed = sorted((h for h in history if h["status"] == "failed"), key=lambda h: h["created_at"])
    assert failed and all(h["error"]["code"] == "SYSTEM_UNREACHABLE" for h in failed)
    assert failed[0]["trigger"] == "scheduled"
    starts = [datetime.fromisoformat(h["created_at"].replace("Z", "+00:00")) for h in failed]
    gaps = [(b - a).total_seconds() for a, b in pairwise(starts)]
    assert len(gaps) >= 3
    assert all(later > earlier for earlier, later in pairwise(gaps))
    assert all(h["next_retry_at"] for h in failed)
    status = run("connections", "status", key, env=fast.env).jsonl()[0]
    assert status["health"] == "online"


def test_documented_calls_only_give_the_same_exit_codes(
    sandbox_factory: Callable[..., Served],
) -> None:
    served = sandbox_factory("--no-extensions", "--clock-speed", "60")
    key = next(
        r["key"]
        for r in run("connections", "list", env=served.env).jsonl()
        if r["status"] == "active" and r["key"] != "10000593048226" and r["key"] != "10000826371559"
    )
    ok = run("sync", "run", key, env=served.env)
    assert ok.code == 0, ok
    assert ok.json()["outcome"] == "succeeded" and ok.json()["sync"]["status"] == "succeeded"
    failing = run("sync", "run", "10000826371559", env=served.env)  # seeded reauth_required
    assert failing.code == 10, failing
    assert "REAUTHORIZATION_REQUIRED" in failing.stderr
    listed = run("sync", "list", key, env=served.env)
    assert listed.code == 1 and "capability 'syncs'" in listed.stderr


def test_on_a_terminal_results_are_a_table_that_fits(fast: Served) -> None:
    health = fast.keys_by_health()
    keys = [health["online"][0], health["offline"][0]]
    for columns in (60, 120):
        result = run("sync", "run", *keys, env=fast.env, tty=True, columns=columns)
        assert result.code == 10, result
        lines = result.stdout.splitlines()
        assert lines[0].split()[0] == "CONNECTION"
        assert all(len(line) <= columns for line in lines), result.stdout
        assert {key for key in keys if any(line.startswith(key) for line in lines)} == set(keys)
        assert "SYSTEM_UNREACHABLE" in result.stdout  # codes are never cut
        if columns == 120:
            assert "SYNC" in lines[0] and "sync_" in result.stdout


def test_a_fan_out_follows_the_event_log_not_each_sync(fast: Served) -> None:
    """One log read per interval learns every ending; no sync is polled on its own."""
    result = run("--debug", "sync", "run", "--all", "-o", "jsonl", env=fast.env)
    assert result.code == 10, result  # the seed's offline and reauth connections fail
    outcomes = result.jsonl()
    assert len(outcomes) >= 6
    # Each outcome holds the ended Sync, as the log's sync.completed/failed carried it.
    assert all(line["sync"]["finished_at"] for line in outcomes)
    requests = [ln for ln in result.stderr.splitlines() if ln.startswith("debug: GET ")]
    assert any("/api/system/events" in ln for ln in requests), requests
    polls = [ln for ln in requests if "/api/system/syncs/sync_" in ln]
    assert polls == [], polls
