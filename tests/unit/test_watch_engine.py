"""The status watch engine (api/watch.py) at the edges a served sandbox does not reach on
demand: how many requests each round costs, an event that names no status change, a
server that answers 503 or 401 mid-watch, one without an event log or without the
status fields in its list or without `health_since`, and the alert clock.

A small in-memory server on httpx.MockTransport, with a fake clock: no sleeping, no
sockets. tests/cli/test_status_watch.py drives the same engine against the sandbox.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from makini_cli.api.capabilities import Capabilities
from makini_cli.api.errors import APIStatusError
from makini_cli.api.facade import Makini
from makini_cli.api.watch import (
    STATUS_FIELDS,
    StatusWatch,
    Update,
    changed_fields,
    holds,
    hopeless,
    iso,
    parse_condition,
    status_object,
)
from tests.unit.test_client import FakeClock, make_client

EXT = ["status", "events", "syncs"]


def conn(key: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "key": key,
        "name": f"Plant {key}",
        "email": "ops@example.com",
        "platform": "upkeep",
        "status": "active",
        "health": "online",
        "health_since": "2023-11-14T00:00:00Z",
        "sync_status": "done",
        "last_sync_at": None,
        "last_successful_sync_at": None,
        "next_sync_at": None,
        "error": None,
    }
    base.update(fields)
    return base


class Server:
    """Connections, an event log and the calls a watch makes; every request is kept."""

    def __init__(self, extensions: list[str] | None = None, *, listed_fields: bool = True):
        self.extensions = EXT if extensions is None else extensions
        self.connections: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[str] = []
        #: path prefix → status to answer there, once per entry
        self.faults: list[tuple[str, int]] = []
        #: whether the list carries the status call's fields (an older server's does not)
        self.listed_fields = listed_fields
        self.syncs: dict[str, dict[str, Any]] = {}

    def add(self, **fields: Any) -> None:
        self.connections[fields["key"]] = fields

    def event(self, name: str, key: str | None, body: Any = None) -> None:
        self.events.append(
            {
                "id": f"evt_{len(self.events) + 1:04d}",
                "event": name,
                "connection_key": key,
                "created_at": "2023-11-14T00:00:00Z",
                "body": body or {},
            }
        )

    def reads(self, pattern: str) -> int:
        return sum(1 for r in self.requests if re.search(pattern, r))

    def __call__(self, req: httpx.Request) -> httpx.Response:
        path = req.url.path
        if path == "/api/system/capabilities":
            if not self.extensions:
                return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "x"}})
            return httpx.Response(200, json={"data": {"extensions": self.extensions}})
        self.requests.append(f"{req.method} {path}?{req.url.query.decode()}")
        for i, (prefix, status) in enumerate(self.faults):
            if path.startswith(prefix):
                del self.faults[i]
                return httpx.Response(status, json={"error": {"code": "E", "message": "no"}})
        params = dict(req.url.params)
        if path == "/api/system/connections":
            rows = [self._listed(c) for c in self.connections.values()]
            return httpx.Response(
                200, json={"data": rows, "meta": {"current_page": 1, "last_page": 1}}
            )
        if match := re.fullmatch(r"/api/system/connections/([^/]+)/status", path):
            found = self.connections.get(match.group(1))
            if found is None:
                return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "gone"}})
            return httpx.Response(200, json={"data": {**found, "checked_at": "now"}})
        if path == "/api/system/events":
            return self._events(params)
        if match := re.fullmatch(r"/api/system/syncs/([^/]+)", path):
            return httpx.Response(200, json={"data": self.syncs[match.group(1)]})
        if match := re.fullmatch(r"/api/system/connections/([^/]+)/syncs", path):
            mine = [s for s in self.syncs.values() if s["connection_key"] == match.group(1)]
            return httpx.Response(
                200, json={"data": mine[::-1], "meta": {"current_page": 1, "last_page": 1}}
            )
        return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": path}})

    def _listed(self, row: dict[str, Any]) -> dict[str, Any]:
        if not self.extensions:
            return {k: row[k] for k in ("key", "name", "email", "status")}
        if self.listed_fields:
            return row
        return {k: v for k, v in row.items() if k not in ("sync_status", "error", "health_since")}

    def _events(self, params: dict[str, str]) -> httpx.Response:
        items = self.events
        if "after" in params:
            ids = [e["id"] for e in items]
            items = items[ids.index(params["after"]) + 1 :]
        size = int(params.get("per_page", 100))
        number = int(params.get("page", 1))
        last = max(1, -(-len(items) // size))
        chunk = items[(number - 1) * size : number * size]
        return httpx.Response(
            200, json={"data": chunk, "meta": {"current_page": number, "last_page": last}}
        )


def watch(
    server: Server,
    keys: list[str] | None = None,
    *,
    clock: FakeClock | None = None,
    alert_after: float = 1e7,  # no alerts, but in the tests of alerts
    progress: bool = False,
    **options: Any,
) -> tuple[StatusWatch, FakeClock]:
    client, clock, _ = make_client(server, clock=clock, retries=0)
    api = Makini(client, Capabilities(client, "test", None), lambda _key: None)  # type: ignore[arg-type,return-value]
    engine = StatusWatch(
        api,
        keys,
        status=options.pop("status", None),
        health=options.pop("health", None),
        interval=options.pop("interval", 5.0),
        alert_after=alert_after,
        progress=progress,
        wall=clock.wall,
        monotonic=clock.monotonic,
        **options,
    )
    return engine, clock


def seeded(**options: Any) -> Server:
    server = Server(**options)
    for key in ("k1", "k2", "k3"):
        server.add(**conn(key))
    server.event("ping", None)  # the log's end, where the watch starts reading
    return server


def step_after(engine: StatusWatch, clock: FakeClock) -> list[Update]:
    """Wait out `next_wait()` on the fake clock, then step: as the command's loop does."""
    clock.sleep(engine.next_wait())
    return engine.step()


# ---------------------------------------------------------------------- reading


def test_start_is_one_list_read_and_a_step_one_log_read_plus_one_read_per_named_connection() -> (
    None
):
    server = seeded()
    engine, clock = watch(server)
    snapshots = engine.start()
    assert [(u.type, u.key, u.changed) for u in snapshots] == [
        ("snapshot", "k1", ()),
        ("snapshot", "k2", ()),
        ("snapshot", "k3", ()),
    ]
    assert set(snapshots[0].object) == set(STATUS_FIELDS)
    assert server.reads(r"^GET /api/system/connections\?") == 1
    assert "per_page=500" in next(r for r in server.requests if "connections?" in r)
    before = len(server.requests)

    server.connections["k2"].update(
        health="offline", status="offline", health_since="2023-11-14T01:00:00Z"
    )
    server.event("connection.status_changed", "k2", {"from": "online", "to": "offline"})
    server.event("work_orders.updated", "k3", ["WO-1"])  # records: no status field
    server.event("connection.status_changed", "k2", {})  # twice: read once
    updates = step_after(engine, clock)
    assert [(u.type, u.key, u.changed) for u in updates] == [
        ("changed", "k2", ("status", "health", "health_since"))
    ]
    assert updates[0].object["health"] == "offline"
    assert updates[0].record()["changed"] == ["status", "health", "health_since"]
    spent = server.requests[before:]
    assert len(spent) == 2 and "/events?" in spent[0] and "after=evt_0001" in spent[0]
    assert spent[1].startswith("GET /api/system/connections/k2/status")

    # Quiet: one log read, nothing else, no update; an event that changes nothing is none.
    server.event("sync.completed", "k1", {"sync": None})
    assert step_after(engine, clock) == []
    assert step_after(engine, clock) == []
    assert len(server.requests) == before + 2 + 2 + 1
    assert engine.last_error is None and engine.last_ok == clock.monotonic()


def test_a_deleted_connection_is_told_once_and_a_new_one_joins_unless_keys_were_given() -> None:
    server = seeded()
    engine, clock = watch(server)
    engine.start()
    del server.connections["k1"]
    server.event("connection.status_changed", "k1", {"to": None})
    server.add(**conn("k9", health="offline", status="offline"))
    server.event("connection.status_changed", "k9", {"from": None, "to": "offline"})
    updates = step_after(engine, clock)
    assert [(u.type, u.key, u.changed) for u in updates] == [
        ("deleted", "k1", ()),
        ("snapshot", "k9", ()),
    ]
    assert updates[0].object["key"] == "k1" and list(engine.deleted) == ["k1"]
    assert list(engine.objects) == ["k2", "k3", "k9"]
    server.event("connection.status_changed", "k1", {})
    before = len(server.requests)
    assert step_after(engine, clock) == []
    assert len(server.requests) == before + 1  # the log only: k1 is not read again


def test_with_keys_other_connections_events_cost_nothing() -> None:
    server = seeded()
    engine, clock = watch(server, ["k2", "k1"])
    assert [u.key for u in engine.start()] == ["k2", "k1"]  # the order given
    server.add(**conn("k9"))
    server.event("connection.status_changed", "k9", {})
    server.event("sync.started", "k3", {"sync_id": "sync_1"})
    before = len(server.requests)
    assert step_after(engine, clock) == []
    assert len(server.requests) == before + 1


def test_an_unknown_key_is_not_found() -> None:
    engine, _ = watch(seeded(), ["k1", "nope"])
    with pytest.raises(APIStatusError) as caught:
        engine.start()
    assert caught.value.status == 404 and caught.value.code == "NOT_FOUND"


def test_filters_choose_at_the_start_and_the_choice_stays() -> None:
    server = seeded()
    server.connections["k3"].update(health="offline")
    engine, clock = watch(server, health=["offline"])
    assert [u.key for u in engine.start()] == ["k3"]
    server.connections["k3"].update(health="online")
    server.event("connection.status_changed", "k3", {})
    server.connections["k1"].update(health="offline")
    server.event("connection.status_changed", "k1", {})  # not watched: not read
    before = len(server.requests)
    updates = step_after(engine, clock)
    assert [(u.key, u.object["health"]) for u in updates] == [("k3", "online")]
    assert len(server.requests) == before + 2


def test_a_transient_failure_is_noted_not_raised_and_what_was_named_is_read_later() -> None:
    server = seeded()
    engine, clock = watch(server)
    engine.start()
    ok_at = engine.last_ok
    server.connections["k1"].update(sync_status="inprogress")
    server.event("sync.started", "k1", {"sync_id": "sync_1"})
    server.faults.append(("/api/system/connections/k1/status", 503))
    assert step_after(engine, clock) == []
    assert engine.last_error == "no [E]" and engine.last_ok == ok_at
    assert engine.last_exception is not None and engine.last_exception.status == 503
    server.faults.append(("/api/system/events", 502))
    assert step_after(engine, clock) == []
    assert engine.last_error is not None
    updates = step_after(engine, clock)  # the event was read before: k1 is still owed
    assert [(u.key, u.changed) for u in updates] == [("k1", ("sync_status",))]
    assert engine.last_error is None and engine.last_ok == clock.monotonic()


def test_a_permanent_failure_raises() -> None:
    server = seeded()
    engine, clock = watch(server)
    engine.start()
    server.faults.append(("/api/system/events", 401))
    with pytest.raises(APIStatusError) as caught:
        step_after(engine, clock)
    assert caught.value.status == 401


def test_the_safety_net_reads_the_whole_list_when_an_event_never_came() -> None:
    server = seeded()
    engine, clock = watch(server, interval=5.0, safety_net=60.0)
    engine.start()
    server.connections["k2"]["next_sync_at"] = "2023-11-14T05:00:00Z"  # and no event
    lists = server.reads(r"connections\?")
    started = clock.monotonic()
    quiet = 0
    while clock.monotonic() - started + engine.next_wait() < 60.0:
        assert step_after(engine, clock) == []
        quiet += 1
    assert quiet >= 11 and server.reads(r"connections\?") == lists  # the log only
    updates = step_after(engine, clock)  # the first read 60 s or more after the start
    assert [(u.key, u.changed) for u in updates] == [("k2", ("next_sync_at",))]
    assert server.reads(r"connections\?") == lists + 1


def test_without_an_event_log_every_step_reads_the_list() -> None:
    server = seeded(extensions=["status"])
    engine, clock = watch(server)
    engine.start()
    assert engine.polling and server.reads("/events") == 0
    server.connections["k3"]["health"] = "reauth_required"
    updates = step_after(engine, clock)
    assert [(u.key, u.changed) for u in updates] == [("k3", ("health",))]
    assert step_after(engine, clock) == []
    assert server.reads(r"connections\?") == 3 and server.reads("/status") == 0


def test_a_documented_only_server_gives_the_documented_fields() -> None:
    server = seeded(extensions=[])
    engine, clock = watch(server)
    first = engine.start()
    assert first[0].object == {"key": "k1", "name": "Plant k1", "status": "active"}
    server.connections["k1"]["status"] = "offline"
    updates = step_after(engine, clock)
    assert [(u.key, u.changed, u.object["status"]) for u in updates] == [
        ("k1", ("status",), "offline")
    ]


def test_a_list_without_the_status_fields_is_completed_by_the_status_call() -> None:
    server = seeded(listed_fields=False)
    engine, _ = watch(server)
    snapshots = engine.start()
    assert snapshots[0].object["sync_status"] == "done"
    assert snapshots[0].object["health_since"] == "2023-11-14T00:00:00Z"
    assert server.reads("/status") == 3


def sync(sync_id: str, key: str, status: str, done: int) -> dict[str, Any]:
    return {
        "id": sync_id,
        "connection_key": key,
        "status": status,
        "progress": {"scope": "assets", "records_processed": done, "records_total": 100},
    }


def test_progress_of_running_syncs_fills_sync_and_is_no_change() -> None:
    server = seeded()
    server.connections["k1"]["sync_status"] = "inprogress"
    server.syncs["sync_a"] = sync("sync_a", "k1", "running", 10)  # running before the start
    engine, clock = watch(server, progress=True)
    first = engine.start()
    assert first[0].object["sync"] is None  # the snapshot is the state before progress
    assert engine.objects["k1"]["sync"] == {
        "id": "sync_a",
        "status": "running",
        "progress": {"scope": "assets", "records_processed": 10, "records_total": 100},
    }
    assert engine.objects["k2"]["sync"] is None
    server.syncs["sync_a"]["progress"]["records_processed"] = 50
    assert step_after(engine, clock) == []  # progress alone is no change
    assert engine.objects["k1"]["sync"]["progress"]["records_processed"] == 50

    # A sync started meanwhile is followed by the id its event gives.
    server.connections["k2"]["sync_status"] = "inprogress"
    server.syncs["sync_b"] = sync("sync_b", "k2", "queued", 0)
    server.event("sync.started", "k2", {"sync_id": "sync_b"})
    updates = step_after(engine, clock)
    assert [(u.key, u.changed) for u in updates] == [("k2", ("sync_status",))]
    running: Any = engine.objects["k2"]["sync"]
    assert running["id"] == "sync_b"
    assert server.reads("/connections/k2/syncs") == 0
    server.syncs["sync_a"]["status"] = "succeeded"
    server.connections["k1"]["sync_status"] = "done"
    server.event("sync.completed", "k1", {})
    step_after(engine, clock)
    assert engine.objects["k1"]["sync"] is None


# ---------------------------------------------------------------------- changes


def test_status_objects_and_changed_fields() -> None:
    data = conn("k1", error={"code": "X", "message": "m", "extra": 1}, unknown="kept out")
    obj = status_object(data, STATUS_FIELDS)
    assert list(obj) == list(STATUS_FIELDS) and obj["error"] == {"code": "X", "message": "m"}
    # A status answer that does not name the connection keeps the name seen before.
    later = status_object({"key": "k1", "health": "offline"}, STATUS_FIELDS, obj)
    assert later["name"] == "Plant k1" and later["health"] == "offline"
    assert changed_fields(obj, later, STATUS_FIELDS) == ("health",)
    assert changed_fields(obj, dict(obj), STATUS_FIELDS) == ()


# ---------------------------------------------------------------------- alerts


def test_an_alert_once_per_outage_after_alert_after() -> None:
    server = seeded()
    clock = FakeClock()
    began = iso(clock.wall() - 10)
    server.connections["k2"].update(health="offline", health_since=began)
    engine, clock = watch(server, clock=clock, alert_after=62.0, interval=5.0)
    engine.start()
    due = clock.wall() + 52  # 62 s after it began
    assert engine.next_wait() == pytest.approx(5.0, abs=0.05)
    alerts: list[Update] = []
    while clock.wall() < due:
        alerts += [u for u in step_after(engine, clock) if u.type == "alert"]
    # The step that gives it comes when it falls due, not at the next read after.
    assert [(u.key, u.since, u.at) for u in alerts] == [("k2", began, iso(due))]
    for _ in range(20):
        alerts += [u for u in step_after(engine, clock) if u.type == "alert"]
    assert len(alerts) == 1  # once per outage
    record = alerts[0].record()
    assert record["alert"] == "offline_too_long" and record["since"] == began
    assert list(record) == ["type", "at", "alert", "since", "object"]

    # Back online, then down again: a new outage, a new alert.
    server.connections["k2"].update(health="online", health_since=iso(clock.wall()))
    server.event("connection.status_changed", "k2", {})
    step_after(engine, clock)
    again = iso(clock.wall())
    server.connections["k2"].update(health="offline", health_since=again)
    server.event("connection.status_changed", "k2", {})
    seen = []
    for _ in range(20):
        seen += [u for u in step_after(engine, clock) if u.type == "alert"]
    assert [(u.key, u.since) for u in seen] == [("k2", again)]


def test_without_health_since_the_outage_counts_from_when_the_watch_saw_it() -> None:
    server = seeded()
    server.connections["k1"].update(health="offline", health_since=None)
    engine, clock = watch(server, alert_after=30.0, interval=5.0)
    engine.start()
    seen_at = iso(clock.wall())
    alerts: list[Update] = []
    for _ in range(10):
        alerts += [u for u in step_after(engine, clock) if u.type == "alert"]
    assert [(u.key, u.since) for u in alerts] == [("k1", seen_at)]


def test_next_wait_is_never_more_than_the_interval_nor_negative() -> None:
    server = seeded()
    server.connections["k1"].update(health="offline", health_since="2000-01-01T00:00:00Z")
    engine, _ = watch(server, interval=2.0)
    engine.start()
    assert engine.next_wait() == 0.0  # its alert is due at once
    assert [u.type for u in engine.step()] == ["alert"]
    assert 0.0 < engine.next_wait() <= 2.0


# ---------------------------------------------------------------------- --until


def test_until_conditions() -> None:
    online = parse_condition("health=online")
    no_error = parse_condition("error.code=null")
    objects = {"k1": conn("k1"), "k2": conn("k2", health="offline")}
    assert not holds([online], objects)
    objects["k2"]["health"] = "online"
    assert holds([online, no_error], objects)
    assert holds([online], {})  # nothing selected: nothing to wait for
    objects["k1"]["error"] = {"code": "SYSTEM_UNREACHABLE", "message": "m"}
    assert not holds([no_error], objects)
    assert parse_condition("error.code=SYSTEM_UNREACHABLE").holds(objects["k1"])
    assert parse_condition("next_sync_at=null").holds(objects["k1"])
    for text, message in [
        ("health", "is not FIELD=VALUE"),
        ("=online", "is not FIELD=VALUE"),
        ("heath=online", "'heath' is no field"),
        ("health.code=x", "has no field 'code'"),
        ("error.kind=x", "fields inside it: error.code, error.message"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_condition(text)


def test_a_wait_that_cannot_end_well_says_why() -> None:
    online = [parse_condition("health=online")]
    assert hopeless(online, conn("k", health="offline")) is None  # outages end
    assert hopeless(online, conn("k", health="reauth_required")) == "reauth_required"
    assert (
        hopeless([parse_condition("health=reauth_required")], conn("k", health="reauth_required"))
        is None
    )
    assert (
        hopeless(
            [parse_condition("sync_status=done")],
            conn("k", health="reauth_required", sync_status="fail"),
        )
        is None
    )
