"""Webhooks (contract §7, ext): create, read, change, delete, rotate the secret, test;
which events reach which webhook; and the deliveries routes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox.events import EVENT_NAMES
from makini_cli.sandbox.server import EmbeddedSandbox

from .conftest import ACTIVE_KEY, OFFLINE_KEY, assert_error, bearer, token_pair
from .test_delivery import QUIET, Receiver, record_event, wait_until

WEBHOOKS = "/api/system/webhooks"
SECRET = re.compile(r"^whsec_[A-Za-z0-9_-]{43}$")
FIELDS = {"id", "url", "events", "connection_keys", "enabled", "created_at", "updated_at"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def create(client: httpx.Client, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = client.post(WEBHOOKS, json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    webhook: dict[str, Any] = answer.json()["data"]
    return webhook


def data(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()["data"]


def test_the_secret_is_shown_on_create_and_rotate_only(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    created = create(client, admin, url="https://example.com/hooks")
    assert set(created) == FIELDS | {"secret"}
    assert SECRET.match(created["secret"])
    assert created["id"].startswith("wh_") and len(created["id"]) == 3 + 16
    assert (created["events"], created["connection_keys"], created["enabled"]) == ([], [], True)
    path = f"{WEBHOOKS}/{created['id']}"
    shown = data(client.get(path, headers=admin))
    assert set(shown) == FIELDS
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    listed = data(client.get(WEBHOOKS, headers=admin))
    assert [set(item) for item in listed] == [FIELDS]

    rotated = data(client.post(f"{path}/rotate-secret", headers=admin))
    assert SECRET.match(rotated["secret"]) and rotated["secret"] != created["secret"]
    assert set(data(client.get(path, headers=admin))) == FIELDS


def test_a_webhook_can_be_changed_and_deleted(client: httpx.Client, admin: dict[str, str]) -> None:
    created = create(client, admin, url="http://127.0.0.1:9000/a", events=["ping"])
    path = f"{WEBHOOKS}/{created['id']}"
    changed = data(
        client.patch(
            path,
            json={
                "url": "http://10.1.2.3:8080/b",
                "events": ["sync.completed", "sync.failed", "sync.completed"],
                "connection_keys": [ACTIVE_KEY],
                "enabled": False,
            },
            headers=admin,
        )
    )
    assert changed["url"] == "http://10.1.2.3:8080/b"
    assert changed["events"] == ["sync.completed", "sync.failed"]  # repeats dropped
    assert changed["connection_keys"] == [ACTIVE_KEY]
    assert changed["enabled"] is False
    # What is not given stays; [] means every event again.
    again = data(client.patch(path, json={"events": []}, headers=admin))
    assert again["events"] == [] and again["url"] == changed["url"]
    assert again["connection_keys"] == [ACTIVE_KEY] and again["enabled"] is False

    assert data(client.delete(path, headers=admin)) == {"id": created["id"], "deleted": True}
    for method in ("GET", "PATCH", "DELETE"):
        answer = client.request(method, path, headers=admin, json={} if method == "PATCH" else None)
        assert_error(answer, 404, "NOT_FOUND")
    for tail in ("rotate-secret", "test"):
        assert_error(client.post(f"{path}/{tail}", headers=admin), 404, "NOT_FOUND")
    assert_error(client.get(f"{path}/deliveries", headers=admin), 404, "NOT_FOUND")
    assert data(client.get(WEBHOOKS, headers=admin)) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hooks"}, "url"),
        ({"url": "example.com/hooks"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": ""}, "url"),
        ({"url": "http://exa mple.com/"}, "url"),
        ({"url": "http://example.com:99999/"}, "url"),
        ({"url": "https://user:pw@example.com/"}, "url"),
        ({"url": "https://example.com/", "events": ["sync.done"]}, "events"),
        ({"url": "https://example.com/", "events": ["Sync.Completed"]}, "events"),
        ({"url": "https://example.com/", "connection_keys": ["99999999999999"]}, "connection_keys"),
        ({"url": "https://example.com/", "events": "ping"}, "events"),
        ({"events": ["ping"]}, "url"),
    ],
)
def test_bad_fields_are_refused(
    client: httpx.Client, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    error = assert_error(client.post(WEBHOOKS, json=body, headers=admin), 422, "VALIDATION_FAILED")
    assert field in error["details"]["fields"]
    assert data(client.get(WEBHOOKS, headers=admin)) == []
    if "url" in body:
        # The same checks guard a change.
        webhook = create(client, admin, url="https://example.com/ok")
        patched = client.patch(f"{WEBHOOKS}/{webhook['id']}", json=body, headers=admin)
        assert field in assert_error(patched, 422, "VALIDATION_FAILED")["details"]["fields"]
        unchanged = data(client.get(f"{WEBHOOKS}/{webhook['id']}", headers=admin))
        assert unchanged["url"] == "https://example.com/ok"


def test_every_event_name_and_seeded_key_is_accepted(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    webhook = create(
        client,
        admin,
        url="https://example.com/all",
        events=list(EVENT_NAMES),
        connection_keys=[ACTIVE_KEY, OFFLINE_KEY],
    )
    assert webhook["events"] == list(EVENT_NAMES)


def test_webhooks_can_be_filtered_by_event_and_connection(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    syncs = create(client, admin, url="https://example.com/1", events=["sync.completed"])
    active = create(client, admin, url="https://example.com/2", connection_keys=[ACTIVE_KEY])
    both = create(
        client,
        admin,
        url="https://example.com/3",
        events=["sync.completed", "sync.failed"],
        connection_keys=[ACTIVE_KEY, OFFLINE_KEY],
    )

    def ids(query: str) -> list[str]:
        return [w["id"] for w in data(client.get(f"{WEBHOOKS}?{query}", headers=admin))]

    assert ids("filter[events]=sync.completed") == [syncs["id"], both["id"]]
    assert ids("filter[events]=sync.failed") == [both["id"]]
    assert ids(f"filter[connection_keys]={ACTIVE_KEY}") == [active["id"], both["id"]]
    assert ids(f"filter[connection_keys]={OFFLINE_KEY}") == [both["id"]]
    assert ids("filter[enabled]=true&per_page=2") == [syncs["id"], active["id"]]


# ---------------------------------------------------------------------- which events go where


def test_an_event_is_queued_for_each_webhook_it_concerns(
    sandbox: EmbeddedSandbox, client: httpx.Client, admin: dict[str, str], receiver: Receiver
) -> None:
    url = receiver.url
    by_event = create(client, admin, url=url, events=["sync.completed"])
    by_key = create(client, admin, url=url, connection_keys=[OFFLINE_KEY])
    every = create(client, admin, url=url)
    disabled = create(client, admin, url=url, enabled=False)
    other_event = create(client, admin, url=url, events=["sync.failed"])
    body = {"sync_id": "sync_x", "type": "incremental", "trigger": "manual", "scopes": []}
    clock = data(client.get("/sandbox/clock", headers=admin))
    event_id = record_event(
        sandbox.settings.data_dir, clock["unix"], "sync.completed", ACTIVE_KEY, body
    )

    def queued(webhook: dict[str, Any]) -> list[str]:
        path = f"{WEBHOOKS}/{webhook['id']}/deliveries"
        return [d["event_id"] for d in data(client.get(path, headers=admin))]

    assert queued(by_event) == [event_id]
    assert queued(every) == [event_id]
    assert queued(by_key) == []
    assert queued(disabled) == []
    assert queued(other_event) == []
    wait_until(lambda: len(receiver.received) == 2, "both deliveries arrive")
    assert receiver.ids() == [event_id, event_id]


def test_a_test_goes_to_the_tested_webhook_alone(
    client: httpx.Client, admin: dict[str, str], receiver: Receiver
) -> None:
    tested = create(client, admin, url=receiver.url, **QUIET)
    bystander = create(client, admin, url=receiver.url)  # every event
    ping = data(client.post(f"{WEBHOOKS}/{tested['id']}/test", headers=admin), 202)
    assert ping["event"] == "ping" and ping["webhook_id"] == tested["id"]
    assert ping["id"].startswith("dlv_") and ping["event_id"].startswith("evt_")
    assert ping["status"] == "pending" and ping["attempts"] == []
    other = data(
        client.post(
            f"{WEBHOOKS}/{tested['id']}/test", json={"event": "sync.completed"}, headers=admin
        ),
        202,
    )
    assert other["event"] == "sync.completed"
    entity = data(
        client.post(
            f"{WEBHOOKS}/{tested['id']}/test", json={"event": "assets.updated"}, headers=admin
        ),
        202,
    )
    listed = data(client.get(f"{WEBHOOKS}/{tested['id']}/deliveries", headers=admin))
    assert [d["id"] for d in listed] == [entity["id"], other["id"], ping["id"]]  # newest first
    path = f"{WEBHOOKS}/{bystander['id']}/deliveries"
    assert data(client.get(path, headers=admin)) == []

    wait_until(lambda: len(receiver.received) == 3, "the three tests arrive")
    bodies = {r.headers["x-webhook-id"]: r for r in receiver.received}
    pinged = json.loads(bodies[ping["event_id"]].body)
    assert pinged["event"] == "ping" and pinged["connection_key"] is None
    assert pinged["body"] == {"message": "ping from makini sandbox", "webhook_id": tested["id"]}
    assert json.loads(bodies[other["event_id"]].body)["body"]["test"] is True
    assert json.loads(bodies[entity["event_id"]].body)["body"] == []


def test_a_test_of_an_unknown_event_is_refused(client: httpx.Client, admin: dict[str, str]) -> None:
    webhook = create(client, admin, url="https://example.com/x")
    path = f"{WEBHOOKS}/{webhook['id']}/test"
    error = assert_error(
        client.post(path, json={"event": "nope"}, headers=admin), 422, "VALIDATION_FAILED"
    )
    assert "event" in error["details"]["fields"]
    assert data(client.get(f"{WEBHOOKS}/{webhook['id']}/deliveries", headers=admin)) == []


def test_deliveries_can_be_filtered_by_status_and_read_one_by_one(
    client: httpx.Client, admin: dict[str, str], receiver: Receiver
) -> None:
    receiver.statuses = [204, 500]
    webhook = create(client, admin, url=receiver.url, **QUIET)
    test = f"{WEBHOOKS}/{webhook['id']}/test"
    first = data(client.post(test, headers=admin), 202)
    wait_until(lambda: len(receiver.received) == 1, "the first arrives")
    second = data(client.post(test, headers=admin), 202)
    wait_until(lambda: len(receiver.received) == 2, "the second arrives")

    def settled() -> bool:
        one = data(client.get(f"/api/system/deliveries/{second['id']}", headers=admin))
        return bool(one["attempts"]) and one["attempts"][-1]["duration_ms"] is not None

    wait_until(settled, "the second attempt is recorded")
    path = f"{WEBHOOKS}/{webhook['id']}/deliveries"
    done = data(client.get(f"{path}?filter[status]=succeeded", headers=admin))
    assert [d["id"] for d in done] == [first["id"]]
    waiting = data(client.get(f"{path}?filter[status]=pending", headers=admin))
    assert [d["id"] for d in waiting] == [second["id"]]
    one = data(client.get(f"/api/system/deliveries/{second['id']}", headers=admin))
    assert set(one) == {
        "id",
        "webhook_id",
        "event_id",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    }
    assert one["attempts"][0]["status_code"] == 500
    assert set(one["attempts"][0]) == {"at", "status_code", "error", "duration_ms"}
    assert_error(client.get("/api/system/deliveries/dlv_0", headers=admin), 404, "NOT_FOUND")
    assert_error(client.post("/api/system/deliveries/dlv_0/retry", headers=admin), 404, "NOT_FOUND")


def test_webhooks_need_an_admin_token_and_extensions(
    client: httpx.Client, admin: dict[str, str], make_sandbox: Any, tmp_path: Path
) -> None:
    connection = client.post(f"/api/system/connections/{ACTIVE_KEY}/token", headers=admin)
    token = bearer(connection.json()["data"]["token"])
    assert_error(client.get(WEBHOOKS, headers=token), 403, "PERMISSION_DENIED")
    assert_error(client.get(WEBHOOKS), 401, "AUTHENTICATION_FAILED")
    documented = make_sandbox("documented", extensions=False)
    plain = bearer(token_pair(documented)["access_token"])
    assert_error(documented.get(WEBHOOKS, headers=plain), 404, "NOT_FOUND")
    assert_error(
        documented.post(WEBHOOKS, json={"url": "https://example.com/"}, headers=plain),
        404,
        "NOT_FOUND",
    )


def test_the_cli_offers_every_event_the_sandbox_records() -> None:
    from makini_cli.commands.events import EVENT_NAMES as CLI_EVENT_NAMES

    assert sorted(CLI_EVENT_NAMES) == sorted(EVENT_NAMES)
