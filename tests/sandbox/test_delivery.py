"""The webhook sender (delivery.py) against real receivers on 127.0.0.1: what it sends,
when it tries again on the sandbox clock, when it gives up, and how it resumes.

The sandboxes run on a ManualClock that only the test moves, so every attempt's time
is exact. A test waits for the sender to act by polling the delivery, with a generous
deadline; what it asserts are the recorded times, never how long anything took.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox import delivery, events, idempotency
from makini_cli.sandbox import webhooks as repo
from makini_cli.sandbox.clock import ManualClock, iso
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.server import EmbeddedSandbox
from makini_cli.sandbox.settings import SandboxSettings
from makini_cli.sandbox.store import Store
from makini_cli.webhooks import verify_signature

from .conftest import bearer, token_pair

ACTIVE_KEY = "10000482937115"
START = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
T0 = START.timestamp()
#: Filters no event of these tests matches: credentials that nothing here breaks.
QUIET: dict[str, Any] = {"events": ["connection.auth_required"], "connection_keys": [ACTIVE_KEY]}


# ---------------------------------------------------------------------- a receiver


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # names in lower case
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that went away mid-request (the tests kill and stop them)


class Receiver:
    """An HTTP receiver on 127.0.0.1 (an ephemeral port unless given) that records each
    POST and answers it with the next of `statuses` (204 once they run out).

    `hang()`: from now on a request is held unanswered until `answer()` or `stop()`;
    `got_request` is set when one arrives."""

    def __init__(self, statuses: Sequence[int] = (), *, port: int = 0) -> None:
        self.received: list[Received] = []
        self.statuses = list(statuses)
        self.got_request = threading.Event()
        self._hanging = False
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.received.append(Received(headers, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                    hanging = receiver._hanging
                receiver.got_request.set()
                if hanging:
                    receiver._release.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def hang(self) -> None:
        with self._lock:
            self._hanging = True

    def answer(self) -> None:
        with self._lock:
            self._hanging = False
        self._release.set()

    def ids(self) -> list[str]:
        with self._lock:
            return [r.headers["x-webhook-id"] for r in self.received]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 60.0,
    state: Callable[[], object] | None = None,
) -> None:
    """Poll `condition` until it holds; a deadline only so a broken sender fails the test
    (with `state()` in the message, to tell why)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            shown = f": {state()}" if state is not None else ""
            raise AssertionError(f"timed out waiting until {what}{shown}")
        time.sleep(0.02)


def outbox_state(data_dir: Path) -> dict[str, Any]:
    """The outbox's rows as they are: for a failure's message."""
    store = Store.open(data_dir)
    try:
        with store.connection() as conn:
            return {
                table: [dict(row) for row in conn.execute(f"SELECT * FROM {table}")]  # noqa: S608
                for table in ("deliveries", "delivery_attempts")
            }
    finally:
        store.close()


# ---------------------------------------------------------------------- fixtures


@dataclass
class Hosted:
    """A sandbox on a ManualClock, with an admin token and its data dir."""

    client: httpx.Client
    admin: dict[str, str]
    clock: ManualClock
    data_dir: Path

    def now(self) -> float:
        return self.clock.now().timestamp()

    def create_webhook(self, url: str, **fields: Any) -> dict[str, Any]:
        """A webhook for `url`, by default deaf to what the sandbox does by itself as the
        clock moves (`QUIET`): a test's pings go to the webhook tested whatever its
        filters say."""
        fields = {**QUIET, **fields}
        answer = self.client.post(
            "/api/system/webhooks", json={"url": url, **fields}, headers=self.admin
        )
        assert answer.status_code == 201, answer.text
        webhook: dict[str, Any] = answer.json()["data"]
        return webhook

    def ping(self, webhook_id: str, event: str | None = None) -> dict[str, Any]:
        body = {"event": event} if event else {}
        answer = self.client.post(
            f"/api/system/webhooks/{webhook_id}/test", json=body, headers=self.admin
        )
        assert answer.status_code == 202, answer.text
        found: dict[str, Any] = answer.json()["data"]
        return found

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        answer = self.client.get(f"/api/system/deliveries/{delivery_id}", headers=self.admin)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["data"]
        return found

    def settled(self, delivery_id: str, attempts: int) -> dict[str, Any]:
        """The delivery once `attempts` attempts are recorded, the last with its outcome."""
        seen: dict[str, Any] = {}

        def done() -> bool:
            seen.update(self.delivery(delivery_id))
            tries = seen["attempts"]
            return len(tries) >= attempts and tries[-1]["duration_ms"] is not None

        wait_until(
            done,
            f"{delivery_id} has {attempts} settled attempt(s) at {iso(self.now())}",
            state=lambda: outbox_state(self.data_dir),
        )
        assert len(seen["attempts"]) == attempts, seen
        return seen

    def advance_to(self, instant: str) -> None:
        target = datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp()
        self.clock.advance(target - self.now())


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Hosted]:
    clock = ManualClock(START)
    settings = SandboxSettings(data_dir=tmp_path / "sandbox", rate_limit_per_minute=100_000)
    with (
        EmbeddedSandbox(settings, clock=clock, embedded=False) as sandbox,
        httpx.Client(base_url=sandbox.base_url, timeout=10) as client,
    ):
        admin = bearer(token_pair(client)["access_token"])
        yield Hosted(client, admin, clock, settings.data_dir)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def record_event(data_dir: Path, now: float, event: str, key: str | None, body: Any) -> str:
    """Write an event as a state change would (another process on the data dir)."""
    store = Store.open(data_dir)
    try:
        with store.transaction() as conn:
            return str(events.record(conn, now, event, key, body)["id"])
    finally:
        store.close()


# ---------------------------------------------------------------------- what is sent


def test_a_delivery_is_compact_json_signed_over_its_raw_bytes(
    host: Hosted, receiver: Receiver
) -> None:
    webhook = host.create_webhook(receiver.url, events=["system.error"], connection_keys=[])
    body = {"code": "INTERNAL_ERROR", "message": "Überlauf — “quoted” ✓", "request_id": None}
    event_id = record_event(host.data_dir, host.now(), "system.error", None, body)
    wait_until(lambda: len(receiver.received) == 1, "the event arrives")

    got = receiver.received[0]
    expected = base64.b64encode(
        hmac.new(webhook["secret"].encode(), got.body, hashlib.sha256).digest()
    ).decode()
    assert got.headers["x-webhook-signature"] == expected
    assert verify_signature(webhook["secret"], got.body, got.headers["x-webhook-signature"])
    payload = json.loads(got.body)
    assert payload == {
        "id": event_id,
        "event": "system.error",
        "created_at": iso(T0),
        "connection_key": None,
        "body": body,
    }
    # What JSON.stringify gives: no spaces between tokens, non-ASCII as it is (UTF-8).
    assert got.body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert "Überlauf".encode() in got.body
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-webhook-id"] == event_id
    assert got.headers["x-webhook-timestamp"] == str(int(T0))
    assert got.headers["user-agent"].startswith("makini-sandbox/")

    (sent,) = host.client.get(
        f"/api/system/webhooks/{webhook['id']}/deliveries", headers=host.admin
    ).json()["data"]
    done = host.settled(sent["id"], 1)
    assert done["status"] == "succeeded" and done["next_attempt_at"] is None
    (attempt,) = done["attempts"]
    assert attempt["at"] == iso(T0) and attempt["status_code"] == 204
    assert attempt["error"] is None and attempt["duration_ms"] >= 0


def test_a_rotated_secret_signs_the_next_attempt(host: Hosted, receiver: Receiver) -> None:
    receiver.statuses = [500]
    webhook = host.create_webhook(receiver.url)
    sent = host.ping(webhook["id"])
    host.settled(sent["id"], 1)
    rotated = host.client.post(
        f"/api/system/webhooks/{webhook['id']}/rotate-secret", headers=host.admin
    ).json()["data"]
    host.clock.advance(30)
    host.settled(sent["id"], 2)
    first, second = receiver.received
    assert verify_signature(webhook["secret"], first.body, first.headers["x-webhook-signature"])
    assert verify_signature(rotated["secret"], second.body, second.headers["x-webhook-signature"])
    assert not verify_signature(
        webhook["secret"], second.body, second.headers["x-webhook-signature"]
    )


# ---------------------------------------------------------------------- retries


def test_failures_are_retried_after_30_then_60_sandbox_seconds(
    host: Hosted, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    webhook = host.create_webhook(receiver.url)
    sent = host.ping(webhook["id"])
    assert sent["status"] == "pending" and sent["next_attempt_at"] == iso(T0)

    first = host.settled(sent["id"], 1)
    assert first["status"] == "pending"
    assert first["attempts"][0]["status_code"] == 500
    assert first["next_attempt_at"] == iso(T0 + 30)
    # Not due a second earlier: nothing to claim.
    store = Store.open(host.data_dir)
    try:
        with store.connection() as conn:
            assert delivery.next_due(conn) == T0 + 30
    finally:
        store.close()

    host.clock.advance(30)
    second = host.settled(sent["id"], 2)
    assert second["attempts"][1]["at"] == iso(T0 + 30)
    assert second["attempts"][1]["status_code"] == 503
    assert second["next_attempt_at"] == iso(T0 + 30 + 60)

    host.clock.advance(60)
    third = host.settled(sent["id"], 3)
    assert third["status"] == "succeeded"
    assert [a["at"] for a in third["attempts"]] == [iso(T0), iso(T0 + 30), iso(T0 + 90)]
    assert [a["status_code"] for a in third["attempts"]] == [500, 503, 204]
    # Every attempt carries the same id, and the timestamp of its own attempt.
    assert receiver.ids() == [sent["event_id"]] * 3
    stamps = [r.headers["x-webhook-timestamp"] for r in receiver.received]
    assert stamps == [str(int(T0)), str(int(T0 + 30)), str(int(T0 + 90))]


def test_a_refused_connection_is_a_failed_attempt_with_its_error(host: Hosted) -> None:
    with Receiver() as gone:
        url = gone.url
    webhook = host.create_webhook(url)
    sent = host.ping(webhook["id"])
    failed = host.settled(sent["id"], 1)
    (attempt,) = failed["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("connection failed")
    assert failed["status"] == "pending" and failed["next_attempt_at"] == iso(T0 + 30)


def test_after_24_hours_of_failures_it_fails_and_a_retry_starts_a_new_window(
    host: Hosted, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 100
    webhook = host.create_webhook(receiver.url)
    sent = host.ping(webhook["id"])
    current = host.settled(sent["id"], 1)
    while current["status"] == "pending":
        host.advance_to(current["next_attempt_at"])
        current = host.settled(sent["id"], len(current["attempts"]) + 1)

    assert current["status"] == "failed" and current["next_attempt_at"] is None
    times = [
        datetime.fromisoformat(a["at"].replace("Z", "+00:00")).timestamp() - T0
        for a in current["attempts"]
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 30 s doubling, until the last try at the end of the window, 24 h after the first.
    assert gaps[:-1] == [30.0 * 2**n for n in range(len(gaps) - 1)]
    assert 0 < gaps[-1] <= 30.0 * 2 ** (len(gaps) - 1)
    assert times[-1] == 86_400.0
    assert len(receiver.received) == len(times)

    # By hand: pending again, due now, with a fresh window (a failure waits 30 s again),
    # even at the very instant of the last attempt (this clock stands still).
    receiver.statuses = [500]
    retried = host.client.post(f"/api/system/deliveries/{sent['id']}/retry", headers=host.admin)
    assert retried.status_code == 202, retried.text
    assert retried.json()["data"]["status"] == "pending"
    assert retried.json()["data"]["next_attempt_at"] == iso(host.now())
    again = host.settled(sent["id"], len(times) + 1)
    assert again["status"] == "pending"
    assert again["next_attempt_at"] == iso(host.now() + 30)
    host.clock.advance(30)
    done = host.settled(sent["id"], len(times) + 2)
    assert done["status"] == "succeeded"
    assert receiver.ids() == [sent["event_id"]] * (len(times) + 2)


def test_a_succeeded_delivery_can_be_sent_again_by_hand(host: Hosted, receiver: Receiver) -> None:
    webhook = host.create_webhook(receiver.url)
    sent = host.ping(webhook["id"])
    assert host.settled(sent["id"], 1)["status"] == "succeeded"
    retried = host.client.post(f"/api/system/deliveries/{sent['id']}/retry", headers=host.admin)
    assert retried.status_code == 202 and retried.json()["data"]["status"] == "pending"
    assert host.settled(sent["id"], 2)["status"] == "succeeded"
    first, second = receiver.received
    assert first.body == second.body and receiver.ids() == [sent["event_id"]] * 2


# ---------------------------------------------------------------------- the webhook changes


def test_the_url_is_read_at_each_attempt(host: Hosted, receiver: Receiver) -> None:
    with Receiver([500]) as old:
        webhook = host.create_webhook(old.url)
        sent = host.ping(webhook["id"])
        host.settled(sent["id"], 1)
    moved = host.client.patch(
        f"/api/system/webhooks/{webhook['id']}", json={"url": receiver.url}, headers=host.admin
    )
    assert moved.status_code == 200, moved.text
    host.clock.advance(30)
    assert host.settled(sent["id"], 2)["status"] == "succeeded"
    assert receiver.ids() == [sent["event_id"]]


def test_a_disabled_webhook_waits_and_a_deleted_one_fails_its_deliveries(
    host: Hosted, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500]
    webhook = host.create_webhook(receiver.url)
    path = f"/api/system/webhooks/{webhook['id']}"
    sent = host.ping(webhook["id"])
    host.settled(sent["id"], 1)
    off = host.client.patch(path, json={"enabled": False}, headers=host.admin)
    assert off.status_code == 200 and off.json()["data"]["enabled"] is False
    host.clock.advance(30)
    store = Store.open(host.data_dir)
    try:
        with store.connection() as conn:
            assert delivery.next_due(conn) is None  # paused: nothing is due
    finally:
        store.close()
    paused = host.delivery(sent["id"])
    assert paused["status"] == "pending" and len(paused["attempts"]) == 1

    assert host.client.patch(path, json={"enabled": True}, headers=host.admin).status_code == 200
    second = host.settled(sent["id"], 2)
    assert second["attempts"][1]["at"] == iso(T0 + 30)
    assert second["status"] == "pending"

    assert host.client.delete(path, headers=host.admin).json()["data"] == {
        "id": webhook["id"],
        "deleted": True,
    }
    gone = host.delivery(sent["id"])
    assert gone["status"] == "failed" and gone["next_attempt_at"] is None
    assert len(gone["attempts"]) == 2
    retried = host.client.post(f"/api/system/deliveries/{sent['id']}/retry", headers=host.admin)
    assert retried.status_code == 404 and retried.json()["error"]["code"] == "NOT_FOUND"


# ---------------------------------------------------------------------- stops and crashes


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_an_attempt_whose_sender_died_is_resent_at_once_with_the_same_id(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = ManualClock(START)
    settings = SandboxSettings(data_dir=tmp_path / "sandbox")
    # Before any sender runs: a webhook, a ping, and an attempt claimed by a process
    # that then died (as after a kill -9 mid-send).
    runtime = Runtime.open(settings, clock)
    me = idempotency.Owner.current()
    dead = idempotency.Owner(me.host, _dead_pid(), None, "dead-sender")
    try:
        with runtime.store.transaction() as conn:
            webhook = repo.create(conn, T0, url=receiver.url, **QUIET)
            sent = repo.send_test(conn, T0, webhook["id"])
            (cut,) = delivery.claim_due(conn, T0, dead, time.time())
    finally:
        runtime.store.close()
    assert cut.event_id == sent["event_id"]

    with (
        EmbeddedSandbox(settings, clock=clock, embedded=False) as sandbox,
        httpx.Client(base_url=sandbox.base_url, timeout=10) as client,
    ):
        admin = bearer(token_pair(client)["access_token"])
        host = Hosted(client, admin, clock, settings.data_dir)
        done = host.settled(sent["id"], 2)
    assert done["status"] == "succeeded"
    interrupted, resent = done["attempts"]
    assert interrupted["error"] == delivery.INTERRUPTED and interrupted["status_code"] is None
    # At once, not after a backoff: the first attempt may never have arrived.
    assert interrupted["at"] == resent["at"] == iso(T0)
    assert resent["status_code"] == 204
    assert receiver.ids() == [sent["event_id"]]
    assert receiver.received[0].body == cut.body


def test_a_live_senders_claim_is_left_alone(tmp_path: Path) -> None:
    settings = SandboxSettings(data_dir=tmp_path / "sandbox")
    runtime = Runtime.open(settings, ManualClock(START))
    other = idempotency.Owner.current()  # this very process, another sender: alive
    try:
        with runtime.store.transaction() as conn:
            webhook = repo.create(conn, T0, url="http://127.0.0.1:9/hooks")
            repo.send_test(conn, T0, webhook["id"])
            assert len(delivery.claim_due(conn, T0, other, time.time())) == 1
            delivery._RUNNING.add(other.instance)
            try:
                assert delivery.claim_due(conn, T0, runtime.owner, time.time()) == []
                # Once its lease has run out, anyone may take it over.
                late = time.time() + delivery.LEASE_SECONDS + 1
                assert len(delivery.claim_due(conn, T0, runtime.owner, late)) == 1
            finally:
                delivery._RUNNING.discard(other.instance)
    finally:
        runtime.store.close()


def test_a_stopped_sandbox_settles_its_attempt_in_flight_and_the_next_one_resends(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = ManualClock(START)
    settings = SandboxSettings(data_dir=tmp_path / "sandbox")
    receiver.hang()
    with (
        EmbeddedSandbox(settings, clock=clock, embedded=False) as sandbox,
        httpx.Client(base_url=sandbox.base_url, timeout=10) as client,
    ):
        admin = bearer(token_pair(client)["access_token"])
        host = Hosted(client, admin, clock, settings.data_dir)
        webhook = host.create_webhook(receiver.url)
        sent = host.ping(webhook["id"])
        assert receiver.got_request.wait(30)
    # Stopped mid-send (the end of a CLI run): the attempt is settled as interrupted.
    receiver.answer()
    with (
        EmbeddedSandbox(settings, clock=clock, embedded=False) as sandbox,
        httpx.Client(base_url=sandbox.base_url, timeout=10) as client,
    ):
        host = Hosted(client, admin, clock, settings.data_dir)
        cut = host.delivery(sent["id"])
        (attempt,) = cut["attempts"]
        assert attempt["error"] == delivery.INTERRUPTED and attempt["duration_ms"] is not None
        assert cut["status"] == "pending" and cut["next_attempt_at"] == iso(T0 + 30)
        clock.advance(30)
        assert host.settled(sent["id"], 2)["status"] == "succeeded"
    assert receiver.ids() == [sent["event_id"]] * 2


def test_two_sandboxes_on_one_data_dir_send_each_attempt_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = ManualClock(START)
    settings = SandboxSettings(data_dir=tmp_path / "sandbox", rate_limit_per_minute=100_000)
    with (
        EmbeddedSandbox(settings, clock=clock, embedded=False) as first,
        EmbeddedSandbox(settings, clock=clock, embedded=False) as second,
        httpx.Client(base_url=first.base_url, timeout=10) as one,
        httpx.Client(base_url=second.base_url, timeout=10) as two,
    ):
        admin = bearer(token_pair(one)["access_token"])
        hosts = [
            Hosted(one, admin, clock, settings.data_dir),
            Hosted(two, admin, clock, settings.data_dir),
        ]
        webhook = hosts[0].create_webhook(receiver.url)
        sent = [hosts[n % 2].ping(webhook["id"]) for n in range(30)]
        for item in sent:
            assert hosts[0].settled(item["id"], 1)["status"] == "succeeded"
    assert sorted(receiver.ids()) == sorted(item["event_id"] for item in sent)


# ---------------------------------------------------------------------- end to end


def test_a_finished_sync_is_delivered_as_sync_completed(host: Hosted, receiver: Receiver) -> None:
    webhook = host.create_webhook(
        receiver.url, events=["sync.completed"], connection_keys=[ACTIVE_KEY]
    )
    # No scheduled sync may run in the jump below: ours is the one to hear of.
    schedule = {"enabled": False, "interval_minutes": 60}
    put = host.client.put(
        f"/api/system/connections/{ACTIVE_KEY}/schedule", json=schedule, headers=host.admin
    )
    assert put.status_code == 200, put.text
    started = host.client.post(
        f"/api/system/connections/{ACTIVE_KEY}/syncs", json={}, headers=host.admin
    )
    assert started.status_code == 202, started.text
    sync_id = started.json()["data"]["id"]
    host.clock.advance(86_400)
    wait_until(lambda: len(receiver.received) >= 1, "sync.completed arrives")
    payload = json.loads(receiver.received[0].body)
    assert payload["event"] == "sync.completed"
    assert payload["connection_key"] == ACTIVE_KEY
    assert payload["body"]["sync_id"] == sync_id
    assert receiver.received[0].headers["x-webhook-id"] == payload["id"]
    (sent,) = host.client.get(
        f"/api/system/webhooks/{webhook['id']}/deliveries", headers=host.admin
    ).json()["data"]
    assert sent["event"] == "sync.completed" and sent["event_id"] == payload["id"]
