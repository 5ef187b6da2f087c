"""`makini events tail` against a served sandbox: the log, its filters, and a follow that
picks up new events and rides out a failing server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from makini_cli.api.resources.events import EventsAPI
from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run


def the_log(sandbox: Served) -> list[dict[str, Any]]:
    """Every event, read straight from the API (the truth the CLI is checked against)."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        query = "?per_page=500" + (f"&after={after}" if after else "")
        page = sandbox.api("GET", f"/api/system/events{query}").json()["data"]
        if not page:
            return found
        found += page
        after = page[-1]["id"]


def new_webhook(sandbox: Served) -> str:
    answer = sandbox.api("POST", "/api/system/webhooks", {"url": "http://127.0.0.1:9/hooks"})
    return str(answer.json()["data"]["id"])


def send(sandbox: Served, hook: str, *events: str) -> None:
    """Each test event is written to the log (and queued to the webhook alone)."""
    for name in events:
        sandbox.api("POST", f"/api/system/webhooks/{hook}/test", {"event": name})


@pytest.fixture
def busy(sandbox: Served) -> Served:
    sandbox.quiet_schedules()  # no scheduled sync adds events while a test reads the log
    send(sandbox, new_webhook(sandbox), "ping", "sync.failed", "work_orders.updated", "ping")
    return sandbox


def test_tail_prints_the_log_oldest_first_with_its_filters(busy: Served) -> None:
    env = busy.env
    log = the_log(busy)
    assert len(log) >= 4
    everything = run("events", "tail", env=env)
    assert everything.code == 0, everything
    assert everything.jsonl() == log  # complete objects, as the API has them
    assert run("events", "tail", "-o", "json", env=env).json() == log

    pings = run("events", "tail", "--event", "ping", env=env).jsonl()
    assert pings == [e for e in log if e["event"] == "ping"] and len(pings) >= 2
    two = run("event", "tail", "--event", "ping", "--event", "sync.failed", env=env).jsonl()
    assert two == [e for e in log if e["event"] in ("ping", "sync.failed")]
    assert run("events", "tail", "--limit", "2", env=env).jsonl() == log[-2:]
    assert run("events", "tail", "--limit", "1", "--event", "sync.failed", env=env).jsonl() == [
        [e for e in log if e["event"] == "sync.failed"][-1]
    ]

    key = next((e["connection_key"] for e in log if e["connection_key"]), "10000715260448")
    mine = run("events", "tail", "--connection", key, env=env).jsonl()
    assert mine == [e for e in log if e["connection_key"] == key]

    # The served sandbox keeps real time: what was just sent is in the last hour.
    recent = run("events", "tail", "--since", "1h", env=env).jsonl()
    cutoff = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    assert recent and recent[-4:] == log[-4:]
    assert all(datetime.fromisoformat(e["created_at"]) >= cutoff for e in recent)

    as_csv = run("events", "tail", "-o", "csv", env=env)
    assert as_csv.stdout.splitlines()[0] == "created_at,event,connection_key,body,id"
    table = run("events", "tail", env=env, tty=True, columns=120)
    assert table.stdout.splitlines()[0].split() == ["TIME", "EVENT", "CONNECTION", "SUMMARY", "ID"]
    assert "ping from makini sandbox" in table.stdout and "just now" in table.stdout
    assert all(len(line) <= 120 for line in table.stdout.splitlines())


def test_a_follow_prints_each_new_event_once_and_rides_out_a_503(busy: Served) -> None:
    env = busy.env
    backlog = the_log(busy)
    hook = new_webhook(busy)
    # The backlog read goes through; the first poll after it meets a 503 (no retries).
    busy.control(
        "POST",
        "faults",
        {"path_prefix": "/api/system/events", "status": 503, "count": 1, "skip": 1},
    )
    stop = threading.Event()

    def produce() -> None:  # new events while the follow runs, however long it takes
        for _ in range(2000):
            if stop.wait(0.05):
                return
            send(busy, hook, "ping")

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        result = run(
            "events",
            "tail",
            "--follow",
            "--interval",
            "100ms",
            "--max-retries",
            "0",
            "--max-events",
            str(len(backlog) + 3),
            env=env,
        )
    finally:
        stop.set()
        producer.join()
    assert result.code == 0, result
    printed = result.jsonl()
    ids = [e["id"] for e in printed]
    assert len(ids) == len(backlog) + 3 and len(set(ids)) == len(ids)
    assert printed[: len(backlog)] == backlog
    # The pings, and the sandbox's own record of the 503 it answered.
    new = printed[len(backlog) :]
    assert {e["event"] for e in new} <= {"ping", "system.error"}, new
    assert all(e["body"]["code"] == "SERVICE_UNAVAILABLE" for e in new if e["event"] != "ping")
    # In the log's own order, nothing skipped between them.
    log_ids = [e["id"] for e in the_log(busy)]
    assert log_ids[: len(ids)] == ids
    assert "could not read the event log" in result.stderr
    assert "[SERVICE_UNAVAILABLE]" in result.stderr
    assert "reading the event log again" in result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stdout + result.stderr


def test_a_follow_on_a_terminal_is_one_line_per_event(busy: Served) -> None:
    env = busy.env
    kinds = ("--event", "ping", "--event", "sync.failed", "--event", "work_orders.updated")
    args = ("events", "tail", *kinds, "--follow", "--limit", "3", "--max-events", "3")
    plain = run(*args, env=env, tty=True, columns=80)
    assert plain.code == 0, plain
    lines = plain.stdout.splitlines()
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines)
    assert lines[0].split()[:3] == ["just", "now", "sync.failed"]
    assert "ping from makini sandbox" in lines[-1] and "\x1b" not in plain.stdout
    painted = run(*args, "--color", "always", env=env, tty=True, columns=80)
    assert "\x1b[31msync.failed" in painted.stdout and "\x1b[35mping" in painted.stdout
    piped = run(*args, env=env)
    assert [e["event"] for e in piped.jsonl()] == ["sync.failed", "work_orders.updated", "ping"]
    as_table = run(*args, "-o", "table", env=env)  # piped: plain lines, absolute times
    assert as_table.stdout.splitlines()[0].startswith("20") and "\x1b" not in as_table.stdout


def test_ctrl_c_ends_a_follow_with_130(busy: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: EventsAPI, *args: Any, **kwargs: Any) -> Iterator[Any]:
        raise KeyboardInterrupt
        yield  # a generator, as the real one is

    monkeypatch.setattr(EventsAPI, "follow", interrupted)
    result = run("events", "tail", "--follow", env=busy.env)
    assert result.code == 130, result
    assert result.jsonl() == the_log(busy)  # what came before is whole
    assert result.stderr.strip().splitlines()[-1] == "interrupted"


@pytest.mark.parametrize(
    "argv",
    [
        ("events", "tail", "--follow", "-o", "json"),
        ("events", "tail", "--interval", "5s"),
        ("events", "tail", "--since", "yesterday"),
        ("events", "tail", "--since", "0s"),
        ("events", "tail", "--limit", "0"),
        ("events", "tail", "--connection"),
    ],
)
def test_usage_errors_are_exit_2(argv: tuple[str, ...]) -> None:
    result = run(*argv, env={"MAKINI_BASE_URL": "http://127.0.0.1:9"})
    assert result.code == 2, result
    assert result.stdout == ""


def test_the_events_webhooks_carry_are_those_of_the_log(busy: Served) -> None:
    """`events tail` prints the payloads a delivery's body holds: same fields, same ids."""
    log = {e["id"]: e for e in the_log(busy)}
    hook = busy.api("GET", "/api/system/webhooks").json()["data"][0]["id"]
    deliveries = run("webhooks", "deliveries", hook, env=busy.env).jsonl()
    assert deliveries and all(d["event_id"] in log for d in deliveries)
    assert all(log[d["event_id"]]["event"] == d["event"] for d in deliveries)
