"""Syncs (contract §5): derived progress, the scheduler step, and the HTTP surface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from makini_cli.sandbox import health, scheduler, schedules, syncs
from makini_cli.sandbox.clock import ManualClock, iso
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.settings import SandboxSettings

from .conftest import (
    ACTIVE_KEY,
    OFFLINE_KEY,
    assert_backed_off_until,
    assert_error,
    bearer,
    connection_token,
    token_pair,
)

PENDING_KEY = "10000937482660"
INACTIVE_KEY = "10001159604882"
NEW_CONNECTION = {
    "name": "Inextia",
    "email": "hey@makini.io",
    "provider": "inextia",
    "credentials": {"api": "https://sample.inextia.dk", "login": "login", "password": "pw"},
}


@pytest.fixture
def runtime(settings: SandboxSettings, manual_clock: ManualClock) -> Iterator[Runtime]:
    opened = Runtime.open(settings, manual_clock)
    yield opened
    opened.store.close()


def _start(runtime: Runtime, key: str = ACTIVE_KEY, **options: Any) -> dict[str, Any]:
    with runtime.store.transaction() as conn:
        return syncs.start_sync(conn, runtime.now(), key, **options)


def _get(runtime: Runtime, sync_id: str) -> dict[str, Any]:
    with runtime.store.connection() as conn:
        return syncs.get_sync(conn, runtime.now(), sync_id)


def _row(runtime: Runtime, sync_id: str) -> dict[str, Any]:
    with runtime.store.connection() as conn:
        return dict(conn.execute("SELECT * FROM syncs WHERE id = ?", (sync_id,)).fetchone())


def _connection(runtime: Runtime, key: str = ACTIVE_KEY) -> dict[str, Any]:
    with runtime.store.connection() as conn:
        return dict(conn.execute("SELECT * FROM connections WHERE key = ?", (key,)).fetchone())


def test_a_sync_is_queued_then_running_with_derived_progress(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    sync = _start(runtime)
    assert sync["id"].startswith("sync_")
    assert sync["status"] == "queued" and sync["started_at"] is None
    assert sync["type"] == "incremental" and sync["trigger"] == "manual"
    assert sync["attempt"] == 1 and sync["error"] is None and sync["next_retry_at"] is None
    row = _row(runtime, sync["id"])
    assert 1.0 <= row["started_at"] - row["created_at"] <= 2.0
    assert 5.0 <= row["expected_duration"] <= 30.0
    assert _connection(runtime)["sync_status"] == "inprogress"
    manual_clock.advance(2)
    running = _get(runtime, sync["id"])
    assert running["status"] == "running" and running["started_at"] is not None
    manual_clock.advance(row["expected_duration"] / 2 - 1)
    half = _get(runtime, sync["id"])["progress"]
    total = row["records_total"]
    assert half["records_total"] == total
    assert 0 < half["records_processed"] < total
    assert half["scope"] in sync["scopes"]


def test_advance_finishes_syncs_at_the_time_they_were_due(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    sync = _start(runtime)
    row = _row(runtime, sync["id"])
    end = row["started_at"] + row["expected_duration"]
    assert scheduler.advance(runtime.store, end - 0.5).done["finish_syncs"] == 0
    assert _row(runtime, sync["id"])["status"] == "queued"
    manual_clock.advance(3_600)  # the process slept through the end: done late, dated right
    report = scheduler.advance(runtime.store, runtime.now())
    assert report.done["finish_syncs"] >= 1  # (the seed's hourly schedules ran too)
    done = _get(runtime, sync["id"])
    assert done["status"] == "succeeded"
    assert done["finished_at"] == iso(end)
    assert done["progress"]["records_processed"] == row["records_total"]
    connection = _connection(runtime)
    assert connection["last_successful_sync_at"] >= end
    assert set(scheduler.advance(runtime.store, runtime.now()).done.values()) == {0}


def test_durations_are_deterministic_and_full_ones_take_minutes() -> None:
    scopes = ["assets", "work_orders"]
    assert syncs.plan(ACTIVE_KEY, "sap-s4hana", "full", scopes) == syncs.plan(
        ACTIVE_KEY, "sap-s4hana", "full", list(reversed(scopes))
    )
    for platform in ("upkeep", "fiix", "sap-s4hana", "sap-ecc"):
        for key in (ACTIVE_KEY, "10000715260448", "12345678901234"):
            incremental, small = syncs.plan(key, platform, "incremental", scopes)
            full, big = syncs.plan(key, platform, "full", scopes)
            assert 5 <= incremental <= 30 and 60 <= full <= 300
            assert big > small
    # Bigger systems (higher tier) hold more records for the same scopes.
    assert (
        syncs.plan(ACTIVE_KEY, "upkeep", "full", scopes)[1]
        < syncs.plan(ACTIVE_KEY, "sap-s4hana", "full", scopes)[1]
    )


def test_first_sync_is_full_and_full_can_be_forced(runtime: Runtime) -> None:
    with runtime.store.transaction() as conn:
        conn.execute(
            "UPDATE connections SET last_successful_sync_at = NULL WHERE key = ?", (ACTIVE_KEY,)
        )
    first = _start(runtime)
    assert first["type"] == "full"
    with runtime.store.transaction() as conn:
        syncs.cancel_sync(conn, runtime.now(), first["id"])
    forced = _start(runtime, "10000715260448", full=True, scopes=["assets", "assets"])
    assert forced["type"] == "full" and forced["scopes"] == ["assets"]


def test_sync_routes_over_http(make_sandbox: Any, manual_clock: ManualClock) -> None:
    client = make_sandbox("syncs", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    base = f"/api/system/connections/{ACTIVE_KEY}/syncs"
    started = client.post(base, headers=admin, json={"scopes": ["vendors"]})
    assert started.status_code == 202, started.text
    sync = started.json()["data"]
    assert set(sync) == set(syncs.SYNC_FIELDS)
    assert sync["connection_key"] == ACTIVE_KEY and sync["scopes"] == ["vendors"]
    again = client.post(base, headers=admin)
    assert assert_error(again, 409, "SYNC_ALREADY_RUNNING")["details"] == {"sync_id": sync["id"]}
    manual_clock.advance(400)
    got = client.get(f"/api/system/syncs/{sync['id']}", headers=admin).json()["data"]
    assert got["status"] == "succeeded"
    status = client.get(f"/api/system/connections/{ACTIVE_KEY}/status", headers=admin)
    assert status.json()["data"]["sync_status"] == "done"
    assert status.json()["data"]["last_successful_sync_at"] == got["finished_at"]
    assert_error(
        client.post(f"/api/system/syncs/{sync['id']}/cancel", headers=admin),
        409,
        "SYNC_NOT_CANCELLABLE",
    )
    second = client.post(base, headers=admin, json={}).json()["data"]
    cancelled = client.post(f"/api/system/syncs/{second['id']}/cancel", headers=admin)
    assert cancelled.status_code == 200 and cancelled.json()["data"]["status"] == "cancelled"
    history = client.get(base, headers=admin).json()
    assert [s["id"] for s in history["data"]] == [second["id"], sync["id"]]
    assert history["meta"]["total"] == 2
    only = client.get(base + "?filter[status]=cancelled", headers=admin).json()["data"]
    assert [s["id"] for s in only] == [second["id"]]


def test_sync_start_errors(client: httpx.Client, admin: dict[str, str]) -> None:
    assert_error(
        client.post("/api/system/connections/99999999999999/syncs", headers=admin), 404, "NOT_FOUND"
    )
    # Codes of the contract's table only: a pending connection has nothing to sync
    # from, an inactive one lacks credits.
    assert_error(
        client.post(f"/api/system/connections/{PENDING_KEY}/syncs", headers=admin),
        400,
        "INVALID_REQUEST",
    )
    assert_error(
        client.post(f"/api/system/connections/{INACTIVE_KEY}/syncs", headers=admin),
        402,
        "INSUFFICIENT_CREDITS",
    )
    assert_error(client.get("/api/system/syncs/sync_nope", headers=admin), 404, "NOT_FOUND")
    error = assert_error(
        client.post(
            f"/api/system/connections/{ACTIVE_KEY}/syncs",
            headers=admin,
            json={"scopes": ["vendors", "spaceships"]},
        ),
        422,
        "VALIDATION_FAILED",
    )
    assert "spaceships" in error["details"]["fields"]["scopes"][0]
    assert_error(
        client.post(f"/api/system/connections/{ACTIVE_KEY}/syncs", headers=admin, json={"full": 3}),
        422,
        "VALIDATION_FAILED",
    )


def test_sync_start_honours_idempotency_key(client: httpx.Client, admin: dict[str, str]) -> None:
    headers = {**admin, "Idempotency-Key": "sync-once"}
    url = f"/api/system/connections/{ACTIVE_KEY}/syncs"
    first = client.post(url, headers=headers, json={})
    replay = client.post(url, headers=headers, json={})
    assert first.status_code == replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["data"]["id"] == first.json()["data"]["id"]


def test_new_connection_starts_a_full_initial_sync_and_reset_clears_syncs(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    created = client.post("/api/system/connections", headers=admin, json=NEW_CONNECTION)
    key = created.json()["data"]["key"]
    history = client.get(f"/api/system/connections/{key}/syncs", headers=admin).json()["data"]
    assert [(s["type"], s["trigger"]) for s in history] == [("full", "initial")]
    client.post(f"/api/system/connections/{ACTIVE_KEY}/syncs", headers=admin)
    assert client.post("/sandbox/reset", headers=admin).status_code == 200
    after = client.get(f"/api/system/connections/{ACTIVE_KEY}/syncs", headers=admin).json()
    assert after["data"] == []
    assert_error(
        client.get(f"/api/system/syncs/{history[0]['id']}", headers=admin), 404, "NOT_FOUND"
    )


def test_broken_credentials_fail_running_and_new_syncs_until_fixed(
    make_sandbox: Any, manual_clock: ManualClock
) -> None:
    client = make_sandbox("reauth", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    base = f"/api/system/connections/{ACTIVE_KEY}/syncs"
    running = client.post(base, headers=admin).json()["data"]
    manual_clock.advance(3)
    broken = client.post(f"/sandbox/connections/{ACTIVE_KEY}/break-credentials", headers=admin)
    assert broken.status_code == 200, broken.text
    assert broken.json()["data"]["health"] == "reauth_required"
    assert broken.json()["data"]["error"]["code"] == "REAUTHORIZATION_REQUIRED"
    failed = client.get(f"/api/system/syncs/{running['id']}", headers=admin).json()["data"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "REAUTHORIZATION_REQUIRED"
    assert failed["next_retry_at"] is None
    assert 0 < failed["progress"]["records_processed"] < failed["progress"]["records_total"]
    new = client.post(base, headers=admin)
    assert new.status_code == 202
    manual_clock.advance(3)
    again = client.get(f"/api/system/syncs/{new.json()['data']['id']}", headers=admin).json()
    assert again["data"]["status"] == "failed"
    assert again["data"]["error"]["code"] == "REAUTHORIZATION_REQUIRED"
    status = client.get(f"/api/system/connections/{ACTIVE_KEY}/status", headers=admin).json()
    assert status["data"]["sync_status"] == "fail"
    manual_clock.advance(3_600)  # no automatic retry
    assert len(client.get(base, headers=admin).json()["data"]) == 2
    fixed = client.post(f"/sandbox/connections/{ACTIVE_KEY}/fix-credentials", headers=admin)
    assert fixed.json()["data"]["health"] == "online"
    assert fixed.json()["data"]["error"] is None
    ok = client.post(base, headers=admin).json()["data"]
    manual_clock.advance(60)
    assert client.get(f"/api/system/syncs/{ok['id']}", headers=admin).json()["data"]["status"] == (
        "succeeded"
    )
    assert_error(
        client.post("/sandbox/connections/99999999999999/break-credentials", headers=admin),
        404,
        "NOT_FOUND",
    )


def test_outage_fails_syncs_keeps_credits_and_ends_at_the_next_probe(
    make_sandbox: Any, manual_clock: ManualClock
) -> None:
    client = make_sandbox("outage", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    base = f"/api/system/connections/{ACTIVE_KEY}/syncs"
    status_url = f"/api/system/connections/{ACTIVE_KEY}/status"
    credits = client.get("/api/system/account", headers=admin).json()["data"]["credits_used"]
    running = client.post(base, headers=admin).json()["data"]
    manual_clock.advance(3)
    down = client.post(
        f"/sandbox/connections/{ACTIVE_KEY}/outage", headers=admin, json={"seconds": 90}
    )
    assert down.status_code == 200, down.text
    assert down.json()["data"]["health"] == "offline"
    assert down.json()["data"]["outage"]["ends_at"] is not None
    failed = client.get(f"/api/system/syncs/{running['id']}", headers=admin).json()["data"]
    assert (failed["status"], failed["error"]["code"]) == ("failed", "SYSTEM_UNREACHABLE")
    new = client.post(base, headers=admin).json()["data"]
    manual_clock.advance(3)
    again = client.get(f"/api/system/syncs/{new['id']}", headers=admin).json()["data"]
    assert again["error"]["code"] == "SYSTEM_UNREACHABLE"
    status = client.get(status_url, headers=admin).json()["data"]
    assert (status["health"], status["sync_status"]) == ("offline", "error")
    assert status["error"]["code"] == "SYSTEM_UNREACHABLE"
    assert (
        client.get("/api/system/account", headers=admin).json()["data"]["credits_used"] == credits
    )
    # The outage ends 90 s after it began; health follows at the next whole minute.
    now = datetime.fromisoformat(client.get("/sandbox/clock", headers=admin).json()["data"]["now"])
    ends = now.timestamp() + 84
    manual_clock.advance(84)
    assert client.get(status_url, headers=admin).json()["data"]["health"] == "offline"
    manual_clock.advance(syncs.next_probe(ends) - ends)
    back = client.get(status_url, headers=admin).json()["data"]
    assert back["health"] == "online" and back["error"] is None


def test_outage_end_and_probe_via_advance(runtime: Runtime, manual_clock: ManualClock) -> None:
    with runtime.store.transaction() as conn:
        health.start_outage(conn, runtime.now(), ACTIVE_KEY, 30)
    queued = _start(runtime)  # starts during the outage: fails
    manual_clock.advance(600)  # the process slept through the outage and the probe
    report = scheduler.advance(runtime.store, runtime.now())
    assert report.done["probe_health"] == 1
    failed = _get(runtime, queued["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "SYSTEM_UNREACHABLE"
    assert _connection(runtime)["health"] == "online"
    # A sync queued just before the probe time but starting after it succeeds.
    with runtime.store.transaction() as conn:
        health.start_outage(conn, runtime.now(), ACTIVE_KEY, 10)
        view = health.end_outage(conn, runtime.now(), ACTIVE_KEY)
    assert view["health"] == "online" and view["outage"] is None
    ok = _start(runtime)
    manual_clock.advance(60)
    scheduler.advance(runtime.store, runtime.now())
    assert _get(runtime, ok["id"])["status"] == "succeeded"


def test_seeded_offline_connection_stays_down_until_its_outage_is_ended(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    client.post("/sandbox/clock", headers=admin, json={"advance_seconds": 3_600})
    url = f"/api/system/connections/{OFFLINE_KEY}/status"
    assert client.get(url, headers=admin).json()["data"]["health"] == "offline"
    ended = client.post(
        f"/sandbox/connections/{OFFLINE_KEY}/outage", headers=admin, json={"end": True}
    )
    assert ended.json()["data"]["health"] == "online"
    for body in ({}, {"seconds": 5, "end": True}, {"seconds": 0}):
        assert_error(
            client.post(f"/sandbox/connections/{OFFLINE_KEY}/outage", headers=admin, json=body),
            422,
            "VALIDATION_FAILED",
        )
    assert_error(
        client.post(
            f"/sandbox/connections/{PENDING_KEY}/outage", headers=admin, json={"end": True}
        ),
        400,
        "INVALID_REQUEST",
    )


def test_outage_hides_broken_credentials_until_it_ends(runtime: Runtime) -> None:
    with runtime.store.transaction() as conn:
        health.break_credentials(conn, runtime.now(), ACTIVE_KEY)
        assert health.start_outage(conn, runtime.now(), ACTIVE_KEY, 60)["health"] == "offline"
        assert health.end_outage(conn, runtime.now(), ACTIVE_KEY)["health"] == "reauth_required"
        assert health.fix_credentials(conn, runtime.now(), ACTIVE_KEY)["health"] == "online"


def _rows(runtime: Runtime, key: str = ACTIVE_KEY) -> list[dict[str, Any]]:
    with runtime.store.connection() as conn:
        return [
            dict(row)
            for row in conn.execute(
                "SELECT * FROM syncs WHERE connection_key = ? ORDER BY seq", (key,)
            )
        ]


def test_schedule_get_put_and_scheduled_runs(make_sandbox: Any, manual_clock: ManualClock) -> None:
    client = make_sandbox("schedule", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    url = f"/api/system/connections/{ACTIVE_KEY}/schedule"
    current = client.get(url, headers=admin).json()["data"]
    assert current["enabled"] is True and current["interval_minutes"] == 60
    for minutes in (14, 1441):
        body = {"enabled": True, "interval_minutes": minutes}
        assert_error(client.put(url, headers=admin, json=body), 422, "VALIDATION_FAILED")
    put = client.put(url, headers=admin, json={"enabled": True, "interval_minutes": 15})
    assert put.status_code == 200, put.text
    schedule = put.json()["data"]
    assert schedule["interval_minutes"] == 15
    assert schedule["next_run_at"] == iso(manual_clock.now().timestamp() + 900)
    status = client.get(f"/api/system/connections/{ACTIVE_KEY}/status", headers=admin).json()
    assert status["data"]["next_sync_at"] == schedule["next_run_at"]
    manual_clock.advance(900 + 60)
    history = client.get(f"/api/system/connections/{ACTIVE_KEY}/syncs", headers=admin).json()
    assert [(s["trigger"], s["status"]) for s in history["data"]] == [("scheduled", "succeeded")]
    assert history["data"][0]["created_at"] == schedule["next_run_at"]
    off = client.put(url, headers=admin, json={"enabled": False, "interval_minutes": 15})
    assert off.json()["data"] == {
        "connection_key": ACTIVE_KEY,
        "enabled": False,
        "interval_minutes": 15,
        "next_run_at": None,
    }
    manual_clock.advance(3 * 3600)
    assert (
        len(client.get(f"/api/system/connections/{ACTIVE_KEY}/syncs", headers=admin).json()["data"])
        == 1
    )
    assert_error(
        client.get("/api/system/connections/99999999999999/schedule", headers=admin),
        404,
        "NOT_FOUND",
    )


def test_scheduled_runs_back_off_during_an_outage_and_resume_after(
    runtime: Runtime, manual_clock: ManualClock
) -> None:
    with runtime.store.transaction() as conn:
        schedules.put_schedule(conn, runtime.now(), ACTIVE_KEY, enabled=True, interval_minutes=15)
        health.start_outage(conn, runtime.now(), ACTIVE_KEY, 4 * 3600)
    recovery = runtime.now() + 4 * 3600  # 13:00:00, a whole minute: the probe sees it then
    manual_clock.advance(5 * 3600)  # one late step does it all, each at its own time
    scheduler.advance(runtime.store, runtime.now())
    rows = _rows(runtime)
    first = rows[0]
    assert (first["trigger"], first["attempt"], first["status"]) == ("scheduled", 1, "failed")
    assert first["error_code"] == "SYSTEM_UNREACHABLE"
    # The probe saw the system back at 13:00: the pending retry ran at once, and worked.
    retry, failed = assert_backed_off_until(rows, recovery)
    after = rows[len(failed) + 1 :]
    assert all(r["trigger"] == "retry" for r in failed[1:])
    assert retry["next_retry_at"] is None
    # Then regular runs resume, an interval after the success.
    assert after and after[0]["trigger"] == "scheduled"
    assert after[0]["created_at"] == retry["finished_at"] + 900
    assert _schedule_row(runtime)["retry_at"] is None


def _schedule_row(runtime: Runtime) -> dict[str, Any]:
    with runtime.store.connection() as conn:
        row = conn.execute("SELECT * FROM schedules WHERE connection_key = ?", (ACTIVE_KEY,))
        return dict(row.fetchone())


def test_broken_credentials_are_not_retried(runtime: Runtime, manual_clock: ManualClock) -> None:
    with runtime.store.transaction() as conn:
        schedules.put_schedule(conn, runtime.now(), ACTIVE_KEY, enabled=True, interval_minutes=15)
        health.break_credentials(conn, runtime.now(), ACTIVE_KEY)
    assert _connection(runtime)["next_sync_at"] is None
    manual_clock.advance(3 * 3600)
    scheduler.advance(runtime.store, runtime.now())
    assert _rows(runtime) == []
    with runtime.store.transaction() as conn:
        health.fix_credentials(conn, runtime.now(), ACTIVE_KEY)
    assert _connection(runtime)["next_sync_at"] is not None


@pytest.mark.parametrize("extensions", [True, False])
def test_documented_sync_calls_with_a_connection_token(
    make_sandbox: Any, manual_clock: ManualClock, extensions: bool
) -> None:
    client = make_sandbox(f"documented-{extensions}", clock=manual_clock, extensions=extensions)
    admin = bearer(token_pair(client)["access_token"])
    token = connection_token(client, admin, ACTIVE_KEY)
    # As Makini's 2023 reference and its sample app read them: bare, status on top.
    assert client.get("/api/integrations/sync/status", headers=token).json() == {"status": "done"}
    started = client.post(
        "/api/integrations/sync", headers=token, json={"type": "full", "action": "resync"}
    )
    assert started.status_code == 200, started.text
    answer = started.json()
    assert (answer["status"], answer["type"]) == ("inprogress", "full")
    assert "purchase_orders" in answer["scopes"]
    assert ("id" in answer) is extensions
    if extensions:
        sync = client.get(f"/api/system/syncs/{answer['id']}", headers=admin).json()["data"]
        assert (sync["type"], sync["trigger"], sync["connection_key"]) == (
            "full",
            "manual",
            ACTIVE_KEY,
        )
    again = client.post("/api/integrations/sync", headers=token, json={"type": "incremental"})
    assert_error(again, 409, "SYNC_ALREADY_RUNNING")
    status = client.get("/api/integrations/sync/status", headers=token).json()
    assert status == {"status": "inprogress"}
    manual_clock.advance(400)
    token = connection_token(client, admin, ACTIVE_KEY)  # it lives 300 s
    status = client.get("/api/integrations/sync/status", headers=token).json()
    assert status == {"status": "fulldone"}
    # `type` is a free string (anything but "full" is incremental); `scopes: []`, the
    # spec's own example, means every scope; scope names are Makini's.
    partial = client.post(
        "/api/integrations/sync", headers=token, json={"type": "partial", "scopes": []}
    )
    assert partial.status_code == 200, partial.text
    assert partial.json()["type"] == "partial"
    manual_clock.advance(400)
    token = connection_token(client, admin, ACTIVE_KEY)  # it lives 300 s
    scoped = client.post(
        "/api/integrations/sync",
        headers=token,
        json={"type": "incremental", "scopes": ["purchase_orders"]},
    )
    assert scoped.json()["scopes"] == ["purchase_orders"]
    manual_clock.advance(400)
    token = connection_token(client, admin, ACTIVE_KEY)  # it lives 300 s
    error = assert_error(
        client.post(
            "/api/integrations/sync",
            headers=token,
            json={"type": "incremental", "scopes": ["purchase-orders"]},
        ),
        422,
        "VALIDATION_FAILED",
    )
    assert "purchase_orders" in error["message"]
    assert_error(
        client.post("/api/integrations/sync", headers=token, json={}), 422, "VALIDATION_FAILED"
    )
    assert_error(
        client.get("/api/integrations/sync/status", headers=admin), 403, "PERMISSION_DENIED"
    )
    offline = connection_token(client, admin, OFFLINE_KEY)
    assert client.get("/api/integrations/sync/status", headers=offline).json() == {
        "status": "error"
    }
    openapi = client.get("/openapi.json")
    if extensions:
        assert "/api/system/syncs/{sync_id}" in openapi.json()["paths"]
    else:
        assert openapi.status_code == 404


def test_data_calls_answer_by_health(client: httpx.Client, admin: dict[str, str]) -> None:
    """Contract §5: offline → 503 SYSTEM_UNREACHABLE, reauth → 409, else the records (here a
    path of another category: 404)."""
    key = ACTIVE_KEY
    conn_headers = connection_token(client, admin, key)
    path = "/api/eam/work-orders"
    assert_error(client.get(path, headers=conn_headers), 404, "NOT_FOUND")
    assert_error(client.get(path, headers=admin), 403, "PERMISSION_DENIED")
    client.post(f"/sandbox/connections/{key}/outage", json={"seconds": 600}, headers=admin)
    assert_error(client.get(path, headers=conn_headers), 503, "SYSTEM_UNREACHABLE")
    assert_error(client.get("/api/raw/tables", headers=conn_headers), 503, "SYSTEM_UNREACHABLE")
    client.post(f"/sandbox/connections/{key}/outage", json={"end": True}, headers=admin)
    client.post(f"/sandbox/connections/{key}/break-credentials", headers=admin)
    assert_error(client.get(path, headers=conn_headers), 409, "REAUTHORIZATION_REQUIRED")
    # The documented system routes are not shadowed by the data patterns.
    assert client.get("/api/system/connections", headers=admin).status_code == 200
