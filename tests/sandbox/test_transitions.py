"""The one write path (transitions.py): every change of state writes its row and its event
together, and nothing else writes the state."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import makini_cli.sandbox
from makini_cli.sandbox import (
    connections,
    events,
    health,
    records,
    scheduler,
    schedules,
    syncs,
    transitions,
    unified,
)
from makini_cli.sandbox.clock import ManualClock, iso
from makini_cli.sandbox.platforms import get_platform
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.settings import SandboxSettings

from .conftest import ACTIVE_KEY, OFFLINE_KEY

HOUR = 3_600.0
SANDBOX_SOURCES = Path(makini_cli.sandbox.__file__).parent
# A write of the state tables: what only transitions.py may do.
STATE_WRITE = re.compile(
    r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM|REPLACE\s+INTO)\s+"
    r"(connections|syncs|outages|custom_fields|record_changes)\b",
    re.IGNORECASE,
)
#: Who else may, and why: the migrations, and the seed, which builds the world before any
#: event (a reset empties the log with it) through `connections.insert_connection`.
ALLOWED_WRITES: dict[str, int] = {
    "store.py": 3,  # migration 7 renames scopes; 10 learns when each health began
    "seed.py": 2,  # the seeded outages and rejected credentials
    "connections.py": 1,  # insert_connection: the seed's raw writer (see below)
}
SYNC_BODY_FIELDS = {"sync_id", "type", "trigger", "scopes", "records_processed", "error", "sync"}


@pytest.fixture
def runtime(settings: SandboxSettings, manual_clock: ManualClock) -> Iterator[Runtime]:
    opened = Runtime.open(settings, manual_clock)
    yield opened
    opened.store.close()


def _events(runtime: Runtime, key: str | None = None) -> list[dict[str, Any]]:
    with runtime.store.connection() as conn:
        rows = conn.execute(
            "SELECT * FROM events WHERE ? IS NULL OR connection_key = ? ORDER BY seq", (key, key)
        ).fetchall()
    return [events.payload_of(row) for row in rows]


def _names(runtime: Runtime, key: str | None = None) -> list[str]:
    return [event["event"] for event in _events(runtime, key)]


def _sync_row(runtime: Runtime, sync_id: str) -> dict[str, Any]:
    with runtime.store.connection() as conn:
        return dict(conn.execute("SELECT * FROM syncs WHERE id = ?", (sync_id,)).fetchone())


def _advance(runtime: Runtime, manual_clock: ManualClock, seconds: float) -> None:
    manual_clock.advance(seconds)
    scheduler.advance(runtime.store, runtime.now())


def test_only_transitions_write_the_state_tables() -> None:
    found: dict[str, int] = {}
    for path in sorted(SANDBOX_SOURCES.rglob("*.py")):
        name = str(path.relative_to(SANDBOX_SOURCES))
        if name == "transitions.py":
            continue
        count = len(STATE_WRITE.findall(path.read_text()))
        if count:
            found[name] = count
    assert found == ALLOWED_WRITES, "write the state through transitions.py, with its event"
    # The one raw writer outside it has no caller but the seed and transitions.py.
    callers = sorted(
        str(path.relative_to(SANDBOX_SOURCES))
        for path in SANDBOX_SOURCES.rglob("*.py")
        if "insert_connection(" in path.read_text()
    )
    assert callers == ["connections.py", "seed.py", "transitions.py"]


def test_the_grep_sees_the_writes_it_guards() -> None:
    # The guard above would pass vacuously if its pattern missed the statements' form.
    text = (SANDBOX_SOURCES / "transitions.py").read_text()
    writes = {match.group(2).lower() for match in STATE_WRITE.finditer(text)}
    assert writes == {"connections", "syncs", "outages", "custom_fields", "record_changes"}
    assert STATE_WRITE.search('conn.execute("UPDATE  syncs SET status = ?")')


def test_a_fresh_sandbox_has_an_empty_log(runtime: Runtime) -> None:
    assert _events(runtime) == []


def _entity_of(platform_key: str, scope: str) -> unified.Entity:
    platform = get_platform(platform_key)
    return next(s.entity for s in unified.sources(platform).values() if s.entity.scope == scope)


def test_a_successful_sync_announces_its_records_then_completes(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    with runtime.store.transaction() as conn:
        key, _, _ = transitions.create_connection(
            conn,
            runtime.now(),
            name="New",
            email="ops@example.com",
            platform=get_platform("inextia"),
            plan="free",
        )
        first = syncs.start_sync(conn, runtime.now(), key, trigger="initial")
    created = _events(runtime, key)
    assert [(e["event"], e["body"]) for e in created] == [
        ("connection.status_changed", {"from": None, "to": "online", "status": "active"}),
        (
            "sync.started",
            {k: first[k] for k in ("type", "trigger", "scopes")}
            | {"sync_id": first["id"], "sync": first},
        ),
    ]
    _advance(runtime, manual_clock, 400)
    row = _sync_row(runtime, first["id"])
    logged = _events(runtime, key)[2:]
    completed = logged[-1]
    assert completed["event"] == "sync.completed"
    assert set(completed["body"]) == SYNC_BODY_FIELDS
    ended = completed["body"].pop("sync")
    assert (ended["id"], ended["status"], ended["finished_at"]) == (
        first["id"],
        "succeeded",
        iso(row["finished_at"]),
    )
    assert completed["body"] == {
        "sync_id": first["id"],
        "type": "full",
        "trigger": "initial",
        "scopes": first["scopes"],
        "records_processed": row["records_total"],
        "error": None,
    }
    assert completed["created_at"] == iso(row["finished_at"])
    # The records' events come first, at the same time: the first sync imports what is
    # there, so it names the connection's first records as inserted and changes none.
    entity_scopes = [s for s in first["scopes"] if s in events.ENTITY_EVENT_ENTITIES]
    assert entity_scopes == ["sites", "assets", "work_orders"]
    assert [e["event"] for e in logged[:-1]] == [f"{s}.inserted" for s in entity_scopes]
    for event, scope in zip(logged[:-1], entity_scopes, strict=True):
        assert event["created_at"] == completed["created_at"]
        entity = _entity_of("inextia", scope)
        keys = event["body"]
        assert keys == [
            unified.record_key(key, entity, n) for n in range(1, transitions.MAX_KEYS_PER_EVENT + 1)
        ]
    with runtime.store.connection() as conn:
        changed = conn.execute(
            "SELECT COUNT(*) FROM record_changes WHERE connection_key = ?", (key,)
        ).fetchone()[0]
    assert changed == 0


def _later_sync(runtime: Runtime, manual_clock: ManualClock) -> dict[str, Any]:
    with runtime.store.transaction() as conn:
        sync = syncs.start_sync(conn, runtime.now(), ACTIVE_KEY)
    _advance(runtime, manual_clock, 400)
    row = _sync_row(runtime, sync["id"])
    assert (row["type"], row["status"]) == ("incremental", "succeeded")
    return row


def test_a_later_sync_changes_real_records_and_its_events_name_them(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    row = _later_sync(runtime, manual_clock)
    told = [
        e for e in _events(runtime, ACTIVE_KEY) if e["event"].endswith((".inserted", ".updated"))
    ]
    # An ERP system: of the entities Makini announces, it has sites and purchase orders.
    assert {e["event"].split(".")[0] for e in told} == {"sites", "purchase_orders"}
    updated = sum(len(e["body"]) for e in told if e["event"].endswith(".updated"))
    inserted = sum(len(e["body"]) for e in told if e["event"].endswith(".inserted"))
    assert updated > inserted > 0
    platform = get_platform("sap-s4hana")
    scopes = json.loads(row["scopes"])
    with runtime.store.connection() as conn:
        for event in told:
            assert event["created_at"] == iso(row["finished_at"])
            scope, action = event["event"].split(".")
            entity = _entity_of("sap-s4hana", scope)
            view = records.Records(
                conn, platform, ACTIVE_KEY, unified.sources(platform)[entity.path]
            )
            assert event["body"] == sorted(set(event["body"]))
            for key in event["body"]:
                record = view.get(key)
                assert record is not None, key
                assert record["updatedAt"] == iso(row["finished_at"])
                number = view.number_of(key)
                assert number is not None
                assert (number > view.size) == (action == "inserted")
        changed = dict(
            conn.execute(
                "SELECT entity, COUNT(*) FROM record_changes WHERE connection_key = ?"
                " GROUP BY entity",
                (ACTIVE_KEY,),
            ).fetchall()
        )
    # Scopes Makini announces nothing of change too; each sync's writes are bounded.
    assert {"products", "sales-orders", "vendors", "customers"} <= set(changed)
    assert all(0 < n <= transitions.MAX_KEYS_PER_EVENT for n in changed.values())
    assert len(changed) <= len(scopes)


def test_a_sync_changes_the_same_records_whenever_it_runs(runtime: Runtime) -> None:
    platform = get_platform("sap-s4hana")

    def changes(sync_id: str) -> list[tuple[str, list[str]]]:
        row: Any = {
            "id": sync_id,
            "connection_key": ACTIVE_KEY,
            "scopes": json.dumps(["sites", "purchase_orders", "products"]),
            "records_total": 3 * 40,
        }
        with runtime.store.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                return transitions.sync_record_changes(conn, row, 1.0e9, platform, first=False)
            finally:
                conn.execute("ROLLBACK")

    once = changes("sync_0123456789abcdef")
    assert once == changes("sync_0123456789abcdef")
    # Products change too, but Makini announces no event for them.
    assert {name.split(".")[0] for name, _ in once} == {"sites", "purchase_orders"}
    assert changes("sync_fedcba9876543210") != once


def test_health_changes_tell_both_ways_and_rejected_credentials_ask_for_reauth(
    runtime: Runtime,
) -> None:
    now = runtime.now()
    with runtime.store.transaction() as conn:
        health.break_credentials(conn, now, ACTIVE_KEY)
        health.break_credentials(conn, now, ACTIVE_KEY)  # no change, no event
        health.fix_credentials(conn, now, ACTIVE_KEY)
        health.start_outage(conn, now, ACTIVE_KEY, 30)
        health.start_outage(conn, now, ACTIVE_KEY, 60)  # a longer outage: still offline
        health.end_outage(conn, now, ACTIVE_KEY)
    logged = _events(runtime, ACTIVE_KEY)
    assert [(e["event"], e["body"]) for e in logged] == [
        (
            "connection.status_changed",
            {"from": "online", "to": "reauth_required", "status": "reauth_required"},
        ),
        (
            "connection.auth_required",
            {
                "error": {
                    "code": "REAUTHORIZATION_REQUIRED",
                    "message": transitions.FAILURES["REAUTHORIZATION_REQUIRED"],
                }
            },
        ),
        (
            "connection.status_changed",
            {"from": "reauth_required", "to": "online", "status": "active"},
        ),
        ("connection.status_changed", {"from": "online", "to": "offline", "status": "offline"}),
        ("connection.status_changed", {"from": "offline", "to": "online", "status": "active"}),
    ]
    assert {e["created_at"] for e in logged} == {iso(now)}


def test_credentials_rejected_during_an_outage_are_told_when_the_system_answers(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    now = runtime.now()
    with runtime.store.transaction() as conn:
        health.start_outage(conn, now, ACTIVE_KEY, 90)
        health.break_credentials(conn, now, ACTIVE_KEY)  # nothing to learn from a silent system
    # Only that no sync is due while the credentials are rejected.
    down, nothing_due = _events(runtime, ACTIVE_KEY)
    assert down["event"] == "connection.status_changed"
    assert (nothing_due["event"], nothing_due["body"]) == (
        "connection.updated",
        {"changed": ["next_sync_at"], "next_sync_at": None},
    )
    _advance(runtime, manual_clock, 200)
    back = _events(runtime, ACTIVE_KEY)[2:]
    assert [(e["event"], e["created_at"]) for e in back] == [
        ("connection.status_changed", iso(syncs.next_probe(now + 90))),
        ("connection.auth_required", iso(syncs.next_probe(now + 90))),
    ]
    assert back[0]["body"] == {
        "from": "offline",
        "to": "reauth_required",
        "status": "reauth_required",
    }


def test_failed_and_cancelled_syncs_say_why_and_how_far_they_got(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    now = runtime.now()
    with runtime.store.transaction() as conn:
        sync = syncs.start_sync(conn, now, ACTIVE_KEY)
    row = _sync_row(runtime, sync["id"])
    manual_clock.advance(row["started_at"] - now + row["expected_duration"] / 2)
    midway = runtime.now()
    with runtime.store.transaction() as conn:
        health.start_outage(conn, midway, ACTIVE_KEY, 60)
        failed = syncs.get_sync(conn, midway, sync["id"])
    (event,) = [e for e in _events(runtime, ACTIVE_KEY) if e["event"] == "sync.failed"]
    assert event["body"]["error"] == {
        "code": "SYSTEM_UNREACHABLE",
        "message": transitions.FAILURES["SYSTEM_UNREACHABLE"],
    }
    processed = event["body"]["records_processed"]
    assert 0 < processed < row["records_total"]
    assert processed == failed["progress"]["records_processed"]
    assert event["created_at"] == failed["finished_at"] == iso(midway)

    with runtime.store.transaction() as conn:
        health.end_outage(conn, midway, ACTIVE_KEY)
        again = syncs.start_sync(conn, midway, ACTIVE_KEY)
        syncs.cancel_sync(conn, midway, again["id"])
    cancelled = _events(runtime, ACTIVE_KEY)[-1]
    assert cancelled["event"] == "sync.failed"
    assert cancelled["body"]["sync_id"] == again["id"]
    assert cancelled["body"]["error"] == transitions.CANCELLED_ERROR
    assert cancelled["body"]["records_processed"] == 0  # it had not started


def test_deleting_a_connection_cancels_its_sync_at_once_then_says_it_is_gone(
    runtime: Runtime,
) -> None:
    now = runtime.now()
    with runtime.store.transaction() as conn:
        sync = syncs.start_sync(conn, now, ACTIVE_KEY)
        transitions.delete_connection(conn, now, ACTIVE_KEY)
    assert _sync_row(runtime, sync["id"])["status"] == "cancelled"
    started, cancelled, gone = _events(runtime, ACTIVE_KEY)
    assert (started["event"], started["body"]["sync_id"]) == ("sync.started", sync["id"])
    assert (cancelled["event"], cancelled["body"]["sync_id"]) == ("sync.failed", sync["id"])
    assert (gone["event"], gone["body"]) == (
        "connection.status_changed",
        {"from": "online", "to": None, "status": None},
    )


def test_metadata_changes_rows_without_events(runtime: Runtime) -> None:
    now = runtime.now()
    with runtime.store.transaction() as conn:
        transitions.set_metadata(conn, now, ACTIVE_KEY, [("region", "eu")])
        assert transitions.remove_metadata(conn, now, ACTIVE_KEY, "region")
        assert not transitions.remove_metadata(conn, now, ACTIVE_KEY, "region")
    assert _events(runtime) == []


def test_a_queued_sync_tells_it_started_with_the_sync_as_the_api_shows_it(
    runtime: Runtime,
) -> None:
    now = runtime.now()
    with runtime.store.transaction() as conn:
        sync = syncs.start_sync(conn, now, ACTIVE_KEY, scopes=["vendors", "sites"])
        shown = syncs.get_sync(conn, now, sync["id"])
        status = connections.connection_status(conn, now, ACTIVE_KEY)
    (event,) = _events(runtime)
    assert (event["event"], event["connection_key"], event["created_at"]) == (
        "sync.started",
        ACTIVE_KEY,
        iso(now),
    )
    assert event["body"] == {
        "sync_id": sync["id"],
        "type": "incremental",
        "trigger": "manual",
        "scopes": ["vendors", "sites"],
        "sync": shown,
    }
    assert shown["status"] == "queued" and status["sync_status"] == "inprogress"


def test_next_sync_at_changes_with_no_other_event_tell_it(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    now = runtime.now()
    with runtime.store.transaction() as conn:
        schedules.put_schedule(conn, now, ACTIVE_KEY, enabled=True, interval_minutes=15)
        schedules.put_schedule(conn, now, ACTIVE_KEY, enabled=True, interval_minutes=15)  # same
        schedules.put_schedule(conn, now, ACTIVE_KEY, enabled=False, interval_minutes=15)
    assert [(e["event"], e["body"]) for e in _events(runtime, ACTIVE_KEY)] == [
        (
            "connection.updated",
            {"changed": ["next_sync_at"], "next_sync_at": iso(now + 15 * 60)},
        ),
        ("connection.updated", {"changed": ["next_sync_at"], "next_sync_at": None}),
    ]
    # A slot that finds a sync running is skipped: the next one is an interval on.
    with runtime.store.transaction() as conn:
        schedules.put_schedule(conn, now, ACTIVE_KEY, enabled=True, interval_minutes=15)
    manual_clock.advance(15 * 60 - 1)
    with runtime.store.transaction() as conn:
        syncs.start_sync(conn, runtime.now(), ACTIVE_KEY, full=True)  # minutes long
    seen = len(_events(runtime, ACTIVE_KEY))
    _advance(runtime, manual_clock, 1)
    skipped = _events(runtime, ACTIVE_KEY)[seen:]
    assert [(e["event"], e["body"], e["created_at"]) for e in skipped] == [
        (
            "connection.updated",
            {"changed": ["next_sync_at"], "next_sync_at": iso(now + 30 * 60)},
            iso(now + 15 * 60),
        )
    ]


def test_a_jump_writes_the_log_as_it_would_have_been_written_live(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    start = runtime.now()
    with runtime.store.transaction() as conn:
        schedules.put_schedule(conn, start, ACTIVE_KEY, enabled=True, interval_minutes=15)
        health.start_outage(conn, start, ACTIVE_KEY, 2 * HOUR + 20)
    _advance(runtime, manual_clock, 6 * HOUR)
    logged = _events(runtime)
    times = [e["created_at"] for e in logged]
    assert times == sorted(times)
    # Each sync's end has its one event, dated when the sync ended.
    with runtime.store.connection() as conn:
        ended = {
            row["id"]: row
            for row in conn.execute("SELECT * FROM syncs WHERE finished_at IS NOT NULL")
        }
    told = [e for e in logged if e["event"] in ("sync.completed", "sync.failed")]
    assert sorted(e["body"]["sync_id"] for e in told) == sorted(ended)
    for event in told:
        row = ended[event["body"]["sync_id"]]
        assert event["created_at"] == iso(row["finished_at"])
        assert event["connection_key"] == row["connection_key"]
        expected = "sync.completed" if row["status"] == "succeeded" else "sync.failed"
        assert event["event"] == expected
    # The outage: down at the start, back at the probe after its end, between the failures.
    changes = [
        (e["body"]["to"], e["created_at"])
        for e in logged
        if e["event"] == "connection.status_changed" and e["connection_key"] == ACTIVE_KEY
    ]
    assert changes == [
        ("offline", iso(start)),
        ("online", iso(syncs.next_probe(start + 2 * HOUR + 20))),
    ]
    # The seeded offline system never came back, so it never said anything.
    assert "connection.status_changed" not in _names(runtime, OFFLINE_KEY)
    for earlier, later in pairwise(logged):
        assert earlier["created_at"] <= later["created_at"]
