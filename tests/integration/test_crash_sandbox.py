"""`kill -9` of `makini sandbox serve`: after a restart on the same data dir nothing stays
stuck. A request that was in flight can be retried with its Idempotency-Key, and a sync
that was running finishes by the clock."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Served, start_sandbox, stop_sandbox

ACTIVE_KEY = "10000482937115"
FINAL = ("succeeded", "failed", "cancelled")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        stop_sandbox(served)


def kill_9(served: Served) -> None:
    served.process.kill()  # SIGKILL: no shutdown, no cleanup, no settle
    served.process.wait(timeout=30)


def call(served: Served, method: str, path: str, token: str, **options: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **options.pop("headers", {})}
    return httpx.request(method, served.url + path, headers=headers, timeout=30, **options)


def pending_claims(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'sandbox.db'}?mode=ro", uri=True) as conn:
        return int(
            conn.execute("SELECT count(*) FROM idempotency WHERE state = 'pending'").fetchone()[0]
        )


def test_a_request_in_flight_at_a_kill_can_be_retried_with_its_key(
    tmp_path: Path, servers: list[Served]
) -> None:
    data = tmp_path / "data"
    # Every connection call is held for a minute: long enough to kill the server under it.
    slow = start_sandbox(
        data, "--faults", "rate=1,modes=latency,latency=60s,path=/api/system/connections/"
    )
    servers.append(slow)
    token = slow.admin_token()
    path = f"/api/system/connections/{ACTIVE_KEY}/metadata"
    body = [{"key": "written_before_the_crash", "value": "maybe"}]
    keyed = {"Idempotency-Key": "mk-crash-test-1"}
    outcome: list[BaseException | httpx.Response] = []

    def in_flight() -> None:
        try:
            outcome.append(call(slow, "POST", path, token, json=body, headers=keyed))
        except httpx.TransportError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=in_flight)
    thread.start()
    wait_until(lambda: pending_claims(data) == 1, "the request holds its key")
    # The symptom: a retry hears "still being processed"...
    busy = call(slow, "POST", path, token, json=body, headers=keyed)
    assert busy.status_code == 409 and busy.json()["error"]["details"]["reason"] == "in_progress"
    kill_9(slow)
    thread.join(timeout=30)
    assert outcome and isinstance(outcome[0], httpx.TransportError)

    # ...which, after a restart, must not last: the dead server's claim is released.
    servers.append(restarted := start_sandbox(data))
    retried = call(restarted, "POST", path, token, json=body, headers=keyed)
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    again = call(restarted, "POST", path, token, json=body, headers=keyed)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert pending_claims(data) == 0


def test_a_sync_running_at_a_kill_finishes_by_the_clock_after_a_restart(
    tmp_path: Path, servers: list[Served]
) -> None:
    data = tmp_path / "data"
    servers.append(first := start_sandbox(data))
    token = first.admin_token()
    syncs = f"/api/system/connections/{ACTIVE_KEY}/syncs"
    # No scheduled sync may start in the jump below and stand in the way of ours.
    schedule = {"enabled": False, "interval_minutes": 60}
    put = call(first, "PUT", f"/api/system/connections/{ACTIVE_KEY}/schedule", token, json=schedule)
    assert put.status_code == 200, put.text
    started = call(first, "POST", syncs, token, json={"full": True})
    assert started.status_code == 202, started.text
    sync_id = started.json()["data"]["id"]
    assert call(first, "POST", syncs, token, json={}).json()["error"]["code"] == (
        "SYNC_ALREADY_RUNNING"
    )
    kill_9(first)

    servers.append(second := start_sandbox(data))
    # It survived the kill, still running (a full sync takes minutes of sandbox time)...
    running = call(second, "GET", f"/api/system/syncs/{sync_id}", token).json()["data"]
    assert running["status"] not in FINAL
    # ...and ends when its time is up, with nobody having to clean up after the kill.
    jumped = call(second, "POST", "/sandbox/clock", token, json={"advance_seconds": 86_400})
    assert jumped.status_code == 200, jumped.text

    def finished() -> bool:
        sync = call(second, "GET", f"/api/system/syncs/{sync_id}", token).json()["data"]
        return sync["status"] in FINAL

    wait_until(finished, "the sync ended by the clock")
    again = call(second, "POST", syncs, token, json={})
    assert again.status_code == 202, again.text
