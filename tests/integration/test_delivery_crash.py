"""`kill -9` of `makini sandbox serve` with a webhook delivery in the outbox: after a
restart on the same data dir it still arrives, with the same X-Webhook-Id (the event
id), whether it was waiting for its next attempt or being sent at the kill."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox.delivery import INTERRUPTED
from tests.integration.conftest import Served, start_sandbox, stop_sandbox
from tests.sandbox.test_delivery import QUIET, Receiver, wait_until


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        stop_sandbox(served)


def kill_9(served: Served) -> None:
    served.process.kill()  # SIGKILL: no shutdown, nothing settled
    served.process.wait(timeout=30)


def call(served: Served, method: str, path: str, **options: Any) -> Any:
    headers = {"Authorization": f"Bearer {served.admin_token()}"}
    answer = httpx.request(method, served.url + path, headers=headers, timeout=30, **options)
    assert answer.is_success, answer.text
    return answer.json()["data"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_pending_delivery_arrives_after_a_kill_and_a_restart(
    tmp_path: Path, servers: list[Served]
) -> None:
    data = tmp_path / "data"
    port = free_port()  # nobody listens there yet: the receiver is down
    servers.append(first := start_sandbox(data))
    url = f"http://127.0.0.1:{port}/hooks"
    webhook = call(first, "POST", "/api/system/webhooks", json={"url": url, **QUIET})
    sent = call(first, "POST", f"/api/system/webhooks/{webhook['id']}/test")

    def failed_once() -> bool:
        attempts = call(first, "GET", f"/api/system/deliveries/{sent['id']}")["attempts"]
        return len(attempts) == 1 and attempts[0]["duration_ms"] is not None

    wait_until(failed_once, "the first attempt fails")
    kill_9(first)

    with Receiver(port=port) as receiver:
        servers.append(second := start_sandbox(data))
        waiting = call(second, "GET", f"/api/system/deliveries/{sent['id']}")
        assert waiting["status"] == "pending"
        assert waiting["attempts"][0]["error"].startswith("connection failed")
        # Its next attempt is due 30 sandbox seconds after the first.
        call(second, "POST", "/sandbox/clock", json={"advance_seconds": 30})
        wait_until(lambda: len(receiver.received) == 1, "the delivery arrives")
        wait_until(
            lambda: (
                call(second, "GET", f"/api/system/deliveries/{sent['id']}")["status"] == "succeeded"
            ),
            "the delivery is recorded as succeeded",
        )
    (got,) = receiver.received
    assert got.headers["x-webhook-id"] == sent["event_id"]
    assert json.loads(got.body)["id"] == sent["event_id"]


def test_an_attempt_cut_by_a_kill_is_resent_with_the_same_id(
    tmp_path: Path, servers: list[Served]
) -> None:
    data = tmp_path / "data"
    with Receiver() as receiver:
        receiver.hang()  # the first request gets no answer: the kill lands mid-send
        servers.append(first := start_sandbox(data))
        body = {"url": receiver.url, **QUIET}
        webhook = call(first, "POST", "/api/system/webhooks", json=body)
        sent = call(first, "POST", f"/api/system/webhooks/{webhook['id']}/test")
        assert receiver.got_request.wait(30), "the first attempt never came"
        kill_9(first)
        receiver.answer()

        servers.append(second := start_sandbox(data))
        # No clock jump: the cut attempt's sender is gone, so it is sent again at once.
        wait_until(lambda: len(receiver.received) == 2, "the delivery is sent again")

        def succeeded() -> bool:
            found = call(second, "GET", f"/api/system/deliveries/{sent['id']}")
            return bool(found["status"] == "succeeded")

        wait_until(succeeded, "the delivery is recorded as succeeded")
        done = call(second, "GET", f"/api/system/deliveries/{sent['id']}")
    cut, resent = done["attempts"]
    assert cut["error"] == INTERRUPTED and cut["status_code"] is None
    assert resent["status_code"] == 204
    first_try, second_try = receiver.received
    assert first_try.headers["x-webhook-id"] == second_try.headers["x-webhook-id"]
    assert second_try.headers["x-webhook-id"] == sent["event_id"]
    assert first_try.body == second_try.body
