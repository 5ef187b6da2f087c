"""The event log (contract §8): every change seen through the API has its event, in order,
with one timestamp; the log route's cursor and filters; `system.error`; and one `now`
per request."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox import events
from makini_cli.sandbox.app import create_app
from makini_cli.sandbox.chaos import ChaosPlan
from makini_cli.sandbox.clock import ManualClock, iso
from makini_cli.sandbox.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxSettings
from makini_cli.sandbox.store import DB_FILENAME

from .conftest import ACTIVE_KEY, all_pages, assert_error, bearer, connection_token, token_pair

NEW_CONNECTION = {
    "name": "Event Works",
    "email": "ops@example.com",
    "provider": "inextia",
    "credentials": {"api": "https://sample.inextia.dk", "login": "login", "password": "pw"},
}
FINAL = frozenset({"succeeded", "failed", "cancelled"})
SYNC_EVENTS = frozenset({"sync.completed", "sync.failed"})
#: The status call's fields a client tailing connections follows (issue 11).
STATUS_FIELDS = (
    "status",
    "health",
    "sync_status",
    "last_sync_at",
    "last_successful_sync_at",
    "next_sync_at",
    "error",
)
ENTITY_EVENTS = frozenset(
    f"{entity}.{action}"
    for entity in events.ENTITY_EVENT_ENTITIES
    for action in events.ENTITY_ACTIONS
)


@dataclass(frozen=True)
class View:
    """What the API shows: each connection's status and health, every sync, every custom
    field, the records a test watches by their `updatedAt`, and each connection's
    `STATUS_FIELDS`."""

    connections: dict[str, dict[str, Any]]
    syncs: dict[str, dict[str, Any]]
    fields: dict[str, dict[str, Any]]
    records: dict[str, str]
    states: dict[str, dict[str, Any]]


#: A record to watch: (connection key, "eam/work-orders", record key).
Watched = tuple[str, str, str]


class Log:
    """Reads the event log as a client tails it: what is new since the last read."""

    def __init__(self, client: httpx.Client, admin: dict[str, str]) -> None:
        self.client, self.admin = client, admin
        self.last: str | None = None
        self.seen: list[dict[str, Any]] = []

    def new(self) -> list[dict[str, Any]]:
        path = "/api/system/events?per_page=500"
        if self.last is not None:
            path += f"&after={self.last}"
        fresh = all_pages(self.client, path, self.admin)
        if fresh:
            self.last = fresh[-1]["id"]
        self.seen += fresh
        return fresh


def _observe(client: httpx.Client, admin: dict[str, str], watched: Sequence[Watched] = ()) -> View:
    listed = all_pages(client, "/api/system/connections?per_page=500", admin)
    connections = {c["key"]: {"status": c["status"], "health": c["health"]} for c in listed}
    syncs: dict[str, dict[str, Any]] = {}
    fields: dict[str, dict[str, Any]] = {}
    for key in connections:
        for sync in all_pages(client, f"/api/system/connections/{key}/syncs?per_page=500", admin):
            syncs[sync["id"]] = sync
        for field in all_pages(client, f"/api/system/connections/{key}/custom-fields", admin):
            fields[field["key"]] = field | {"connection_key": key}
    records: dict[str, str] = {}
    for key, path, record_key in watched:
        if key in connections:
            token = connection_token(client, admin, key)
            answer = client.get(f"/api/{path}/{record_key}", headers=token)
            if answer.status_code == 200:
                records[record_key] = answer.json()["data"]["updatedAt"]
    states = {c["key"]: {f: c[f] for f in STATUS_FIELDS} for c in listed}
    return View(connections, syncs, fields, records, states)


def _explain(before: View, after: View, fresh: list[dict[str, Any]]) -> None:
    """Each change between `before` and `after` has its event in `fresh`, and each event
    in `fresh` tells of a change seen."""
    explained: set[str] = set()
    problems: list[str] = []
    for key in before.connections.keys() | after.connections.keys():
        was, now = before.connections.get(key), after.connections.get(key)
        was_health = None if was is None else was["health"]
        now_health = None if now is None else now["health"]
        told = [
            e
            for e in fresh
            if e["event"] == "connection.status_changed" and e["connection_key"] == key
        ]
        if was_health == now_health and (was is None) == (now is None):
            if told:
                problems.append(f"{key}: no health change seen, yet {told}")
            if was and now and was["status"] != now["status"]:
                # The one status that changes without an event of its own: the first
                # sync ended, and that sync's end has its event (checked below).
                first = [
                    s
                    for s in after.syncs.values()
                    if s["connection_key"] == key and s["trigger"] == "initial"
                ]
                if was["status"] != "synchronizing" or first[0]["status"] not in FINAL:
                    problems.append(f"{key}: {was['status']}→{now['status']} unexplained")
            continue
        if not told:
            problems.append(f"{key}: {was_health}→{now_health} has no event")
            continue
        chain = [(e["body"]["from"], e["body"]["to"]) for e in told]
        linked = all(b == c for (_, b), (c, _) in pairwise(chain))
        if not linked or chain[0][0] != was_health or chain[-1][1] != now_health:
            problems.append(f"{key}: {was_health}→{now_health} told as {chain}")
        status = told[-1]["body"]["status"]
        shown = None if now is None else now["status"]
        # A new connection's first sync starts with it: the API shows `synchronizing`.
        if status != shown and not (shown == "synchronizing" and status in ("active", "overage")):
            problems.append(f"{key}: status {shown!r} told as {status!r}")
        explained.update(e["id"] for e in told)
        for change in told:
            if change["body"]["to"] == "reauth_required":
                asked = [
                    e
                    for e in fresh
                    if e["event"] == "connection.auth_required"
                    and e["connection_key"] == key
                    and e["created_at"] == change["created_at"]
                ]
                if len(asked) != 1:
                    problems.append(f"{key}: rejected credentials without auth_required")
                explained.update(e["id"] for e in asked)
    ends = {e["body"]["sync_id"]: e for e in fresh if e["event"] in SYNC_EVENTS}
    for sync_id, sync in after.syncs.items():
        old = before.syncs.get(sync_id)
        if sync["status"] not in FINAL or (old is not None and old["status"] in FINAL):
            continue
        end = ends.get(sync_id)
        if end is None:
            problems.append(f"sync {sync_id} became {sync['status']} with no event")
            continue
        explained.add(end["id"])
        error = sync["error"]
        if sync["status"] == "cancelled":
            error = {"code": "SYNC_CANCELLED", "message": end["body"]["error"]["message"]}
        expected = {
            "sync_id": sync_id,
            "type": sync["type"],
            "trigger": sync["trigger"],
            "scopes": sync["scopes"],
            "records_processed": sync["progress"]["records_processed"],
            "error": error,
            # The ended Sync itself, exactly as GET /api/system/syncs/{id} shows it.
            "sync": sync,
        }
        name = "sync.completed" if sync["status"] == "succeeded" else "sync.failed"
        if (end["event"], end["body"], end["created_at"], end["connection_key"]) != (
            name,
            expected,
            sync["finished_at"],
            sync["connection_key"],
        ):
            problems.append(f"sync {sync_id} ({sync['status']}) told as {end}")
        if name == "sync.completed":
            # Its records' events come just before it, at the same time.
            place = fresh.index(end)
            for event in reversed(fresh[:place]):
                if event["event"] not in ENTITY_EVENTS or event["created_at"] != end["created_at"]:
                    break
                if event["connection_key"] == end["connection_key"]:
                    explained.add(event["id"])
    for sync_id, old in before.syncs.items():
        if sync_id not in after.syncs and old["status"] not in FINAL:
            # Its connection was deleted: the sync was cancelled with it.
            end = ends.get(sync_id)
            if end is None or end["body"]["error"]["code"] != "SYNC_CANCELLED":
                problems.append(f"sync {sync_id} vanished open, told as {end}")
            else:
                explained.add(end["id"])
    for field_key in before.fields.keys() | after.fields.keys():
        was_field, now_field = before.fields.get(field_key), after.fields.get(field_key)
        if was_field == now_field:
            continue
        told = [e for e in fresh if e["event"].startswith("custom_field.")]
        told = [e for e in told if e["body"]["key"] == field_key]
        name = (
            "custom_field.created"
            if was_field is None
            else "custom_field.deleted"
            if now_field is None
            else "custom_field.updated"
        )
        shown = now_field or was_field
        assert shown is not None
        body: Any = (
            {k: v for k, v in shown.items() if k != "connection_key"}
            if now_field is not None
            else {"key": field_key, "entity": shown["entity"], "name": shown["name"]}
        )
        if [(e["event"], e["body"], e["connection_key"]) for e in told] != [
            (name, body, shown["connection_key"])
        ]:
            problems.append(f"custom field {field_key}: {was_field}→{now_field} told as {told}")
        explained.update(e["id"] for e in told)
    for record_key in before.records.keys() | after.records.keys():
        was_time, now_time = before.records.get(record_key), after.records.get(record_key)
        if was_time == now_time or now_time is None:
            continue
        action = "inserted" if was_time is None else "updated"
        told = [e for e in fresh if e["event"] in ENTITY_EVENTS and record_key in e["body"]]
        if [(e["event"].split(".")[1], e["created_at"]) for e in told] != [(action, now_time)]:
            problems.append(f"record {record_key}: {was_time}→{now_time} told as {told}")
        explained.update(e["id"] for e in told)
    for sync_id, sync in after.syncs.items():
        if sync_id in before.syncs:
            continue
        started = [
            e for e in fresh if e["event"] == "sync.started" and e["body"]["sync_id"] == sync_id
        ]
        if [
            (e["created_at"], e["connection_key"], e["body"]["sync"]["id"], e["body"]["type"])
            for e in started
        ] != [(sync["created_at"], sync["connection_key"], sync_id, sync["type"])]:
            problems.append(f"sync {sync_id} appeared, told as {started}")
        explained.update(e["id"] for e in started)
    for event in fresh:
        if event["event"] != "connection.updated":
            continue
        key = event["connection_key"]
        now_state = after.states.get(key)
        changed = event["body"]["changed"]
        # Over a long step a field may change more than once: the last event says how
        # it ended.
        last = [e for e in fresh if e["connection_key"] == key][-1] is event
        if now_state is None or (
            last and {f: event["body"][f] for f in changed} != {f: now_state[f] for f in changed}
        ):
            problems.append(f"{key}: {before.states.get(key)}→{now_state} told as {event}")
        explained.add(event["id"])
    # Whatever changed of a connection's status fields, an event of it says so: a client
    # tailing the log re-reads exactly the connections concerned.
    for key in before.states.keys() | after.states.keys():
        if before.states.get(key) != after.states.get(key) and not any(
            e["connection_key"] == key for e in fresh
        ):
            problems.append(f"{key}: {before.states.get(key)}→{after.states.get(key)} untold")
    unexplained = [e for e in fresh if e["id"] not in explained]
    assert not problems and not unexplained, (problems, unexplained)


def test_every_change_seen_through_the_api_has_its_event(
    make_sandbox: Callable[..., httpx.Client], manual_clock: ManualClock
) -> None:
    client = make_sandbox("events", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    log = Log(client, admin)
    assert log.new() == []  # the seed is the world before any event
    watched: list[Watched] = []
    view = _observe(client, admin)

    def step(action: Callable[[], object], *, requested: bool) -> list[dict[str, Any]]:
        nonlocal view
        action()
        after = _observe(client, admin, watched)
        fresh = log.new()
        _explain(view, after, fresh)
        if requested:  # done by one request, at one time: the clock did not move
            assert {e["created_at"] for e in fresh} <= {iso(manual_clock.now().timestamp())}
        view = after
        return fresh

    def post(path: str, body: object = None, status: int = 200) -> dict[str, Any]:
        answer = client.post(path, json=body, headers=admin)
        assert answer.status_code == status, answer.text
        result: dict[str, Any] = answer.json()["data"]
        return result

    def start_sync(key: str) -> dict[str, Any]:
        """Queued: (ext) `sync.started`, the contract names no event for it."""
        started: dict[str, Any] = {}
        queued = step(
            lambda: started.update(post(f"/api/system/connections/{key}/syncs", {}, 202)),
            requested=True,
        )
        assert [(e["event"], e["body"]["sync"]) for e in queued] == [("sync.started", started)]
        return started

    created = step(lambda: post("/api/system/connections", NEW_CONNECTION), requested=True)
    event, first_started = created
    assert first_started["event"] == "sync.started"
    key = event["connection_key"]
    assert view.connections[key]["status"] == "synchronizing"
    first_sync = step(lambda: manual_clock.advance(600), requested=False)
    assert any(e["event"] == "sync.completed" and e["connection_key"] == key for e in first_sync)
    assert view.connections[key]["status"] == "active"

    # An outage fails the running sync; the probe sees the system back after it.
    running = start_sync(key)

    def outage() -> None:
        manual_clock.advance(3)  # the sync runs by now
        post(f"/sandbox/connections/{key}/outage", {"seconds": 90})

    down = step(outage, requested=True)
    assert {e["event"] for e in down} == {"connection.status_changed", "sync.failed"}
    assert view.syncs[running["id"]]["error"]["code"] == "SYSTEM_UNREACHABLE"
    back = step(lambda: manual_clock.advance(150), requested=False)
    assert [(e["event"], e["body"]["to"]) for e in back if e["connection_key"] == key] == [
        ("connection.status_changed", "online")
    ]

    # Rejected credentials: a sync started meanwhile fails as it starts; fixed, all is well.
    rejected = step(lambda: post(f"/sandbox/connections/{key}/break-credentials"), requested=True)
    assert [e["event"] for e in rejected] == [
        "connection.status_changed",
        "connection.auth_required",
    ]
    doomed = start_sync(key)
    step(lambda: manual_clock.advance(5), requested=False)
    assert view.syncs[doomed["id"]]["error"]["code"] == "REAUTHORIZATION_REQUIRED"
    step(lambda: post(f"/sandbox/connections/{key}/fix-credentials"), requested=True)
    assert view.connections[key] == {"status": "active", "health": "online"}

    # A custom field defined, changed and removed; a record written and changed.
    fields = f"/api/system/connections/{key}/custom-fields"
    field = step(
        lambda: post(
            fields,
            {
                "entity": "work-orders",
                "name": "inspector",
                "source": "custom_inspections.inspector",
                "type": "string",
            },
            201,
        ),
        requested=True,
    )
    assert [e["event"] for e in field] == ["custom_field.created"]
    field_key = field[0]["body"]["key"]
    step(
        lambda: client.patch(f"{fields}/{field_key}", json={"type": "number"}, headers=admin),
        requested=True,
    )
    same = step(
        lambda: client.patch(f"{fields}/{field_key}", json={"type": "number"}, headers=admin),
        requested=True,
    )
    assert same == []  # no change, no event
    step(lambda: client.delete(f"{fields}/{field_key}", headers=admin), requested=True)
    token = connection_token(client, admin, key)
    asset = client.get("/api/eam/assets?per_page=1", headers=token).json()["data"][0]["key"]
    order = {
        "title": "Inspect pump",
        "assetKey": asset,
        "severity": "high",
        "scheduledAt": "2025-02-01",
    }
    made: dict[str, Any] = {}

    def write() -> None:
        answer = client.post("/api/eam/work-orders", json=order, headers=token)
        assert answer.status_code == 201, answer.text
        made.update(answer.json()["data"])
        watched.append((key, "eam/work-orders", made["key"]))

    wrote = step(write, requested=True)
    assert [(e["event"], e["body"]) for e in wrote] == [("work_orders.inserted", [made["key"]])]
    manual_clock.advance(1)
    changed = step(
        lambda: client.put(
            f"/api/eam/work-orders/{made['key']}/status", json={"statusKey": "done"}, headers=token
        ),
        requested=True,
    )
    assert [e["event"] for e in changed] == ["work_orders.updated"]

    # Cancelled by hand, and with its connection.
    queued = start_sync(key)
    step(lambda: post(f"/api/system/syncs/{queued['id']}/cancel"), requested=True)
    start_sync(key)
    gone = step(
        lambda: client.delete(f"/api/system/connections/{key}", headers=admin), requested=True
    )
    assert [e["event"] for e in gone] == ["sync.failed", "connection.status_changed"]
    assert key not in view.connections

    # A day later, on the seed's schedules: many syncs, each with its end told.
    busy = step(lambda: manual_clock.advance(86_400), requested=False)
    assert len([e for e in busy if e["event"] in SYNC_EVENTS]) > 20

    # The whole log: in the order things happened, one timestamp each.
    times = [e["created_at"] for e in log.seen]
    assert all(isinstance(t, str) and datetime.fromisoformat(t).tzinfo == UTC for t in times)
    assert times == sorted(times)
    assert len({e["id"] for e in log.seen}) == len(log.seen)


def test_the_log_route_tails_filters_and_refuses_unknown_cursors(
    make_sandbox: Callable[..., httpx.Client], manual_clock: ManualClock
) -> None:
    client = make_sandbox("log", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    for verb in ("break", "fix", "break"):
        answer = client.post(f"/sandbox/connections/{ACTIVE_KEY}/{verb}-credentials", headers=admin)
        assert answer.status_code == 200
    manual_clock.advance(60)
    client.post("/sandbox/connections/10000715260448/outage", json={"seconds": 30}, headers=admin)
    everything = client.get("/api/system/events", headers=admin).json()
    assert set(everything) == {"data", "links", "meta"}
    logged = everything["data"]
    assert [(e["event"], e["connection_key"]) for e in logged] == [
        ("connection.status_changed", ACTIVE_KEY),
        ("connection.auth_required", ACTIVE_KEY),
        ("connection.status_changed", ACTIVE_KEY),
        ("connection.status_changed", ACTIVE_KEY),
        ("connection.auth_required", ACTIVE_KEY),
        ("connection.status_changed", "10000715260448"),
    ]
    for event in logged:
        assert set(event) == {"id", "event", "created_at", "connection_key", "body"}
        assert event["id"].startswith("evt_") and len(event["id"]) == 28

    def ids(query: str) -> list[str]:
        answer = client.get(f"/api/system/events?{query}", headers=admin)
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()["data"]]

    every = [e["id"] for e in logged]
    assert ids(f"after={every[1]}") == every[2:]
    assert ids(f"after={every[-1]}") == []
    assert ids("filter[event]=connection.auth_required") == [every[1], every[4]]
    assert ids(f"after={every[1]}&filter[event]=connection.auth_required") == [every[4]]
    assert ids("filter[connection_key]=10000715260448") == [every[5]]
    assert ids("filter[connection_key]=10000715260448&filterMatch=any") == [every[5]]
    either = "filter[connection_key]=10000715260448&filter[event]=connection.auth_required"
    assert ids(either + "&filterMatch=any") == [every[1], every[4], every[5]]
    assert ids(either) == []
    assert ids(f"filter[created_at:gt]={logged[0]['created_at']}") == [every[5]]
    # The cursor applies before paging: a page of what follows it.
    page = client.get(f"/api/system/events?after={every[0]}&per_page=2&page=2", headers=admin)
    assert [e["id"] for e in page.json()["data"]] == every[3:5]
    assert page.json()["meta"]["total"] == 5

    unknown = assert_error(
        client.get("/api/system/events?after=evt_000000000000000000000000", headers=admin),
        422,
        "VALIDATION_FAILED",
    )
    assert "after" in unknown["details"]["fields"]
    assert_error(
        client.get("/api/system/events?per_page=501", headers=admin), 422, "VALIDATION_FAILED"
    )
    assert_error(
        client.get("/api/system/events?filter[body]=x", headers=admin), 400, "INVALID_REQUEST"
    )
    connection = connection_token(client, admin, "10000604159337")
    assert_error(client.get("/api/system/events", headers=connection), 403, "PERMISSION_DENIED")
    # A reset starts a new world, and a new log.
    assert client.post("/sandbox/reset", headers=admin).status_code == 200
    assert client.get("/api/system/events", headers=admin).json()["data"] == []


def test_a_documented_only_sandbox_has_no_event_log(
    make_sandbox: Callable[..., httpx.Client],
) -> None:
    client = make_sandbox("plain", extensions=False)
    admin = bearer(token_pair(client)["access_token"])
    assert_error(client.get("/api/system/events", headers=admin), 404, "NOT_FOUND")


def _system_errors(client: httpx.Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    answer = client.get("/api/system/events?filter[event]=system.error", headers=admin)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def _arm(client: httpx.Client, admin: dict[str, str], **fault: Any) -> None:
    armed = client.post(
        "/sandbox/faults", json={"path_prefix": "/api/system/client", **fault}, headers=admin
    )
    assert armed.status_code == 201, armed.text


def test_an_injected_5xx_is_a_system_error(client: httpx.Client, admin: dict[str, str]) -> None:
    _arm(client, admin, status=503, retry_after=2)
    failed = client.get("/api/system/client", headers=admin)
    assert failed.status_code == 503
    _arm(client, admin, status=429)  # a refusal, not an error of the system
    assert client.get("/api/system/client", headers=admin).status_code == 429
    _arm(client, admin, status=502, body="html")
    gateway = client.get("/api/system/client", headers=admin)
    (unavailable, bad_gateway) = _system_errors(client, admin)
    assert unavailable["connection_key"] is None
    assert unavailable["body"] == {
        "code": "SERVICE_UNAVAILABLE",
        "message": failed.json()["error"]["message"],
        "request_id": failed.headers["X-Request-Id"],
    }
    assert bad_gateway["body"]["request_id"] == gateway.headers["X-Request-Id"]
    assert bad_gateway["body"]["code"] == "INTERNAL_ERROR"


def test_a_chaos_5xx_is_a_system_error(make_sandbox: Callable[..., httpx.Client]) -> None:
    plan = ChaosPlan(rate=1, modes=("500",), paths=("/api/system/client",))
    client = make_sandbox("chaos", chaos=plan)
    admin = bearer(token_pair(client)["access_token"])
    failed = client.get("/api/system/client", headers=admin)
    assert failed.status_code == 500
    (error,) = _system_errors(client, admin)
    assert error["body"] == {
        "code": "INTERNAL_ERROR",
        "message": failed.json()["error"]["message"],
        "request_id": failed.headers["X-Request-Id"],
    }


def _corrupt(data_dir: Path, statement: str, *params: object) -> None:
    """Change the data dir behind the sandbox's back (as a bug or a bad disk would)."""
    db = sqlite3.connect(data_dir / DB_FILENAME)
    try:
        with db:
            db.execute(statement, params)
    finally:
        db.close()


def test_an_unexpected_error_is_a_system_error(
    make_sandbox: Callable[..., httpx.Client], tmp_path: Path
) -> None:
    client = make_sandbox("broken")
    admin = bearer(token_pair(client)["access_token"])
    _corrupt(
        tmp_path / "broken", "UPDATE connections SET platform = 'gone' WHERE key = ?", ACTIVE_KEY
    )
    failed = client.get("/api/system/connections", headers=admin)
    assert_error(failed, 500, "INTERNAL_ERROR")
    (error,) = _system_errors(client, admin)
    assert error["body"] == {
        "code": "INTERNAL_ERROR",
        "message": failed.json()["error"]["message"],
        "request_id": failed.headers["X-Request-Id"],
    }


def test_an_error_that_cannot_be_recorded_still_gets_its_answer(
    make_sandbox: Callable[..., httpx.Client], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_sandbox("no-log")
    admin = bearer(token_pair(client)["access_token"])
    _arm(client, admin, status=500)
    _corrupt(tmp_path / "no-log", "ALTER TABLE events RENAME TO events_lost")
    with caplog.at_level(logging.ERROR, logger="makini_cli.sandbox"):
        failed = client.get("/api/system/client", headers=admin)
    assert_error(failed, 500, "INTERNAL_ERROR")
    assert failed.json()["error"]["details"] == {"injected": True}
    assert any("could not record the system.error" in r.getMessage() for r in caplog.records)


class CountingClock(ManualClock):
    """A manual clock that moves a second at every read, and counts the reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> datetime:
        self.reads += 1
        self.advance(1)
        return super().now()


def test_a_request_reads_the_clock_once(tmp_path: Path) -> None:
    """Everything one request does, the embedded scheduler step included, carries one
    time: the clock is read once, and that is the time the request answers with."""
    clock = CountingClock()
    app = create_app(SandboxSettings(data_dir=tmp_path / "once"), clock=clock, embedded=True)

    async def run() -> list[tuple[int, float, dict[str, Any]]]:
        transport = httpx.ASGITransport(app=app)
        seen: list[tuple[int, float, dict[str, Any]]] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            token = await http.post(
                "/link/token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": DEMO_CLIENT_ID,
                    "client_secret": DEMO_CLIENT_SECRET,
                },
            )
            admin = bearer(token.json()["access_token"])
            calls: list[tuple[str, str, dict[str, Any] | None]] = [
                ("GET", "/sandbox/clock", None),
                ("POST", f"/sandbox/connections/{ACTIVE_KEY}/break-credentials", None),
                ("POST", f"/api/system/connections/{ACTIVE_KEY}/syncs", {}),
                ("GET", "/api/system/events", None),
            ]
            for method, path, body in calls:
                reads = clock.reads
                answer = await http.request(method, path, json=body, headers=admin)
                assert answer.status_code < 300, answer.text
                seen.append((clock.reads - reads, clock.now().timestamp() - 1, answer.json()))
        return seen

    try:
        (read_clock, broke, started, logged) = asyncio.run(run())
    finally:
        app.state.runtime.store.close()
    assert [reads for reads, _, _ in (read_clock, broke, started, logged)] == [1, 1, 1, 1]
    assert read_clock[2]["data"]["unix"] == read_clock[1]
    # The status answered, and both events, carry the time the one read gave.
    assert broke[2]["data"]["checked_at"] == iso(broke[1])
    told = [e for e in logged[2]["data"] if e["event"].startswith("connection.")]
    assert [e["created_at"] for e in told] == [iso(broke[1])] * 2
    assert started[2]["data"]["created_at"] == iso(started[1])


def test_each_change_of_a_connections_status_comes_with_an_event_of_it(
    make_sandbox: Callable[..., httpx.Client], manual_clock: ManualClock
) -> None:
    """Issue 11: a client tailing the log re-reads exactly the connections whose status
    (`GET …/status`) changed."""
    client = make_sandbox("status", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    log = Log(client, admin)
    keys = [c["key"] for c in all_pages(client, "/api/system/connections", admin)]

    def statuses() -> dict[str, dict[str, Any]]:
        found = {}
        for key in keys:
            answer = client.get(f"/api/system/connections/{key}/status", headers=admin)
            found[key] = {k: v for k, v in answer.json()["data"].items() if k != "checked_at"}
        return found

    def step(action: Callable[[], object]) -> tuple[set[str], list[str]]:
        """Do `action`: answers which status fields of ACTIVE_KEY changed, and its events."""
        before = statuses()
        action()
        after = statuses()
        fresh = log.new()
        changed = {key for key in keys if before[key] != after[key]}
        told = {e["connection_key"] for e in fresh}
        assert changed == told, (before, after, fresh)
        fields = {f for f in after[ACTIVE_KEY] if before[ACTIVE_KEY][f] != after[ACTIVE_KEY][f]}
        return fields, [e["event"] for e in fresh if e["connection_key"] == ACTIVE_KEY]

    def post(path: str, body: object = None) -> None:
        answer = client.request("POST", path, json=body, headers=admin)
        assert answer.is_success, answer.text

    def schedule(enabled: bool) -> None:
        answer = client.put(
            f"/api/system/connections/{ACTIVE_KEY}/schedule",
            json={"enabled": enabled, "interval_minutes": 15},
            headers=admin,
        )
        assert answer.status_code == 200, answer.text

    control = f"/sandbox/connections/{ACTIVE_KEY}"

    def later(path: str) -> Callable[[], None]:
        """POST `path` a second later: health_since is to the second."""

        def action() -> None:
            manual_clock.advance(1)
            post(path)

        return action

    assert step(lambda: schedule(True)) == ({"next_sync_at"}, ["connection.updated"])
    assert step(lambda: post(f"/api/system/connections/{ACTIVE_KEY}/syncs", {})) == (
        {"sync_status"},
        ["sync.started"],
    )
    ended, told = step(lambda: manual_clock.advance(60))
    assert ended == {"sync_status", "last_sync_at", "last_successful_sync_at"}
    assert told[-1] == "sync.completed"
    down = {"status", "health", "health_since", "error"}
    assert step(lambda: post(f"{control}/outage", {"seconds": 90})) == (
        down,
        ["connection.status_changed"],
    )
    assert step(lambda: manual_clock.advance(150)) == (down, ["connection.status_changed"])
    assert step(later(f"{control}/break-credentials")) == (
        down | {"next_sync_at"},
        ["connection.status_changed", "connection.auth_required"],
    )
    assert step(later(f"{control}/fix-credentials")) == (
        down | {"next_sync_at"},
        ["connection.status_changed"],
    )
    # While the system is down, rejected credentials change no health: only that no sync
    # is due until someone fixes them.
    step(lambda: post(f"{control}/outage", {"seconds": 90}))
    assert step(later(f"{control}/break-credentials")) == (
        {"next_sync_at"},
        ["connection.updated"],
    )
    assert step(later(f"{control}/fix-credentials")) == (
        {"next_sync_at"},
        ["connection.updated"],
    )
    assert step(lambda: manual_clock.advance(150)) == (down, ["connection.status_changed"])
    assert step(lambda: schedule(False)) == ({"next_sync_at"}, ["connection.updated"])
    assert step(lambda: schedule(False)) == (set(), [])  # no change, no event
