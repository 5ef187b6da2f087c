"""The webhooks and event-log client at the edges a served sandbox does not reach on
demand: paging, a server that ignores a filter, answers without the secret or with the
wrong shapes, a 503 in the middle of a follow, and the follow's polling rhythm.

Everything runs on httpx.MockTransport with a fake clock: no sleeping, no sockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import httpx
import pytest

from makini_cli import completion
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.errors import (
    APIError,
    APIStatusError,
    CapabilityMissingError,
    MalformedResponseError,
)
from makini_cli.api.resources.events import EventFilter, EventsAPI, transient
from makini_cli.api.resources.webhooks import WebhooksAPI
from makini_cli.models.event import Event
from makini_cli.output import columns
from tests.unit.test_client import FakeClock, make_client

Route = Callable[[httpx.Request], httpx.Response]
HOOK = "wh_0123456789abcdef"
SECRET = "whsec_" + "A" * 43
EVERYTHING = ["webhooks", "events", "idempotency"]


class Server:
    """Answers the capabilities call itself and everything else from `route`, keeping
    every other request for the test to look at."""

    def __init__(self, route: Route, extensions: list[str] | None = None) -> None:
        self.route = route
        self.extensions = EVERYTHING if extensions is None else extensions
        self.requests: list[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        if req.url.path == "/api/system/capabilities":
            return httpx.Response(200, json={"data": {"extensions": self.extensions}})
        self.requests.append(req)
        return self.route(req)


def params(req: httpx.Request) -> dict[str, str]:
    return dict(req.url.params)


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code.lower()}})


def page(items: list[dict[str, Any]], current: int = 1, last: int = 1) -> httpx.Response:
    return httpx.Response(
        200, json={"data": items, "meta": {"current_page": current, "last_page": last}}
    )


def webhooks_api(server: Server, *, retries: int = 0) -> WebhooksAPI:
    client, _, _ = make_client(server, retries=retries)
    return WebhooksAPI(client, Capabilities(client, "test", None))


def events_api(server: Server, clock: FakeClock | None = None) -> tuple[EventsAPI, FakeClock]:
    client, clock, _ = make_client(server, clock=clock, retries=0)
    return EventsAPI(client, Capabilities(client, "test", None), wall=clock.wall), clock


def hook(**extra: Any) -> dict[str, Any]:
    return {
        "id": HOOK,
        "url": "https://example.com/hooks",
        "events": [],
        "connection_keys": [],
        "enabled": True,
        "created_at": "2026-11-30T03:00:00Z",
        "updated_at": "2026-11-30T03:00:00Z",
        **extra,
    }


def delivery(n: int, status: str = "failed", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"dlv_{n:016x}",
        "webhook_id": HOOK,
        "event_id": f"evt_{n:024x}",
        "event": "sync.failed",
        "status": status,
        "attempts": [
            {"at": "2026-11-30T03:00:00Z", "status_code": 503, "error": None, "duration_ms": 12}
        ],
        "next_attempt_at": None,
        "created_at": "2026-11-30T03:00:00Z",
        **extra,
    }


def event(
    n: int,
    name: str = "ping",
    *,
    key: str | None = None,
    at: str = "2026-11-30T03:00:00Z",
    body: Any = None,
) -> dict[str, Any]:
    return {
        "id": f"evt_{n:024x}",
        "event": name,
        "created_at": at,
        "connection_key": key,
        "body": {"message": "ping from makini sandbox"} if body is None else body,
    }


# ---------------------------------------------------------------- webhooks


def test_create_sends_only_what_was_given_and_returns_the_secret() -> None:
    sent: list[dict[str, Any]] = []

    def route(req: httpx.Request) -> httpx.Response:
        sent.append(json.loads(req.content))
        return httpx.Response(201, json={"data": hook(secret=SECRET, **sent[-1])})

    server = Server(route)
    api = webhooks_api(server)
    created = api.create(url="https://example.com/hooks")
    assert created.secret == SECRET and created.to_api()["secret"] == SECRET
    assert sent[-1] == {"url": "https://example.com/hooks", "enabled": True}
    api.create(
        url="http://127.0.0.1:8787/",
        events=["sync.failed"],
        connection_keys=["10000715260448"],
        enabled=False,
    )
    assert sent[-1] == {
        "url": "http://127.0.0.1:8787/",
        "enabled": False,
        "events": ["sync.failed"],
        "connection_keys": ["10000715260448"],
    }
    # With the server's idempotency extension each create carries its own key.
    keys = [r.headers.get("idempotency-key") for r in server.requests]
    assert all(keys) and len(set(keys)) == 2


def test_an_answer_without_the_secret_is_malformed_since_it_cannot_be_asked_again() -> None:
    api = webhooks_api(Server(lambda req: httpx.Response(201, json={"data": hook()})))
    with pytest.raises(MalformedResponseError, match="signing secret"):
        api.create(url="https://example.com/hooks")
    with pytest.raises(MalformedResponseError, match="signing secret"):
        api.rotate_secret(HOOK)


def test_a_rotation_is_never_repeated_without_a_key_the_server_honours() -> None:
    """Done twice, the first new secret (the one whose answer was lost) is already dead."""
    server = Server(lambda req: error(503, "SERVICE_UNAVAILABLE"), extensions=["webhooks"])
    api = webhooks_api(server, retries=3)
    with pytest.raises(APIStatusError):
        api.rotate_secret(HOOK)
    assert len(server.requests) == 1
    assert "idempotency-key" not in server.requests[0].headers
    # With the extension, the same key on every try makes the retries safe.
    answers = iter(
        [error(503, "SERVICE_UNAVAILABLE"), httpx.Response(200, json={"data": hook(secret=SECRET)})]
    )
    server = Server(lambda req: next(answers))
    assert webhooks_api(server, retries=3).rotate_secret(HOOK).secret == SECRET
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 1


def test_update_sends_only_the_changes_and_empty_lists_mean_all() -> None:
    sent: list[dict[str, Any]] = []

    def route(req: httpx.Request) -> httpx.Response:
        assert req.method == "PATCH" and req.url.path == f"/api/system/webhooks/{HOOK}"
        sent.append(json.loads(req.content))
        return httpx.Response(200, json={"data": hook()})

    api = webhooks_api(Server(route))
    api.update(HOOK, enabled=False)
    api.update(HOOK, events=[], connection_keys=[])
    api.update(HOOK, url="https://example.com/new", events=["ping"])
    assert sent == [
        {"enabled": False},
        {"events": [], "connection_keys": []},
        {"url": "https://example.com/new", "events": ["ping"]},
    ]


def test_ids_are_one_path_segment() -> None:
    server = Server(lambda req: httpx.Response(200, json={"data": hook()}))
    webhooks_api(server).get("wh_../../x?y")
    assert (
        server.requests[0]
        .url.raw_path.decode()
        .startswith("/api/system/webhooks/wh_..%2F..%2Fx%3Fy")
    )


def test_delete_takes_200_or_204() -> None:
    answers = iter(
        [httpx.Response(200, json={"data": {"id": HOOK, "deleted": True}}), httpx.Response(204)]
    )
    api = webhooks_api(Server(lambda req: next(answers)))
    api.delete(HOOK)
    api.delete(HOOK)


def test_deliveries_page_and_a_filter_the_server_ignores_is_applied_here() -> None:
    mixed = [delivery(i, "failed" if i % 2 else "succeeded") for i in range(1, 9)]

    def route(req: httpx.Request) -> httpx.Response:
        number = int(params(req)["page"])
        return page(mixed[(number - 1) * 4 : number * 4], number, 2)

    server = Server(route)
    found = list(webhooks_api(server).deliveries(HOOK, status="failed", limit=3))
    assert [d.id for d in found] == [mixed[0]["id"], mixed[2]["id"], mixed[4]["id"]]
    assert all(params(r)["filter[status]"] == "failed" for r in server.requests)
    assert [d.status for d in webhooks_api(server).deliveries(HOOK)].count("succeeded") == 4
    # `-o json` prints what the server sent: an int stays an int, unknown fields stay.
    extra = delivery(9, "pending", next_attempt_at="2026-11-30T03:00:30Z", region="eu")
    server = Server(lambda req: page([extra]))
    [got] = webhooks_api(server).deliveries(HOOK)
    assert got.to_api() == extra


@pytest.mark.parametrize(
    "bad",
    [
        {"data": [{"webhook_id": HOOK}]},  # no id
        {"data": [delivery(1, attempts="three")]},
        {"data": {"id": "dlv_1"}},  # an object where a list belongs
    ],
)
def test_malformed_deliveries_are_one_clear_error(bad: dict[str, Any]) -> None:
    api = webhooks_api(Server(lambda req: httpx.Response(200, json=bad)))
    with pytest.raises(MalformedResponseError):
        list(api.deliveries(HOOK))


def test_without_the_capability_nothing_is_sent() -> None:
    server = Server(lambda req: pytest.fail("no request expected"), extensions=["syncs"])
    api = webhooks_api(server)
    for call in (
        lambda: api.list(),
        lambda: api.deliveries(HOOK),
        lambda: api.retry("dlv_1"),
        lambda: api.test(HOOK),
    ):
        with pytest.raises(CapabilityMissingError) as raised:
            call()
        assert raised.value.capability == "webhooks"
    events, _ = events_api(server)
    with pytest.raises(CapabilityMissingError, match="'events'"):
        events.cursor()


def test_test_and_retry_answer_a_delivery() -> None:
    sent: list[tuple[str, Any]] = []

    def route(req: httpx.Request) -> httpx.Response:
        sent.append((req.url.path, json.loads(req.content) if req.content else None))
        return httpx.Response(202, json={"data": delivery(1, "pending")})

    api = webhooks_api(Server(route))
    assert api.test(HOOK).status == "pending"
    api.test(HOOK, event="sync.failed")
    api.retry("dlv_1")
    assert sent == [
        (f"/api/system/webhooks/{HOOK}/test", {}),
        (f"/api/system/webhooks/{HOOK}/test", {"event": "sync.failed"}),
        ("/api/system/deliveries/dlv_1/retry", None),
    ]


# ---------------------------------------------------------------- the event log


def test_the_log_is_read_page_by_page_and_the_cursor_passes_every_event() -> None:
    log = [event(i) for i in range(1, 8)]

    def route(req: httpx.Request) -> httpx.Response:
        after = params(req).get("after")
        rest = log[[e["id"] for e in log].index(after) + 1 :] if after else log
        number = int(params(req)["page"])
        return page(rest[(number - 1) * 3 : number * 3], number, max(1, -(-len(rest) // 3)))

    server = Server(route)
    api, _ = events_api(server)
    cursor = api.cursor()
    assert [e.id for e in cursor.read()] == [e["id"] for e in log]
    assert cursor.after == log[-1]["id"]
    assert [params(r)["page"] for r in server.requests] == ["1", "2", "3"]
    assert all(params(r)["per_page"] == "500" and "after" not in params(r) for r in server.requests)
    server.requests.clear()
    assert list(cursor.read()) == []  # a second read asks after the last one
    assert [params(r)["after"] for r in server.requests] == [log[-1]["id"]]


def test_filters_go_to_the_server_where_it_can_and_are_checked_here_too() -> None:
    log = [
        event(1, "sync.completed", key="A"),
        event(2, "sync.failed", key="A"),
        event(3, "ping"),
        event(4, "sync.failed", key="B"),
        event(5, "work_orders.updated", key="A", body=["WO-1"]),
    ]
    server = Server(lambda req: page(log))  # a server that ignores every filter
    api, _ = events_api(server)
    one = api.cursor(connection_key="A", events=("sync.failed",))
    assert [e.id for e in one.read()] == [log[1]["id"]]
    assert params(server.requests[-1]) == {
        "filter[connection_key]": "A",
        "filter[event]": "sync.failed",
        "per_page": "500",
        "page": "1",
    }
    two = api.cursor(events=("sync.failed", "work_orders.updated", "sync.failed"))
    assert [e.id for e in two.read()] == [log[1]["id"], log[3]["id"], log[4]["id"]]
    assert "filter[event]" not in params(server.requests[-1])  # one name only, server-side
    # Skipped events still move the cursor: a follow does not fetch them again.
    assert two.after == log[-1]["id"]


def test_since_keeps_the_events_of_the_last_while_by_this_machines_clock() -> None:
    clock = FakeClock()
    now = datetime.fromtimestamp(clock.wall(), UTC)

    def at(minutes: int) -> str:
        return (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    log = [
        event(1, at=at(120)),
        event(2, at=at(61)),
        event(3, at=at(59)),
        event(4, at="not a time"),
        event(5, at=at(0)),
    ]
    api, _ = events_api(Server(lambda req: page(log)), clock)
    assert [e.id for e in api.cursor(since_seconds=3600).read()] == [log[2]["id"], log[4]["id"]]
    assert len(list(api.cursor().read())) == 5


@pytest.mark.parametrize(
    "bad",
    [
        {"data": [{"event": "ping"}]},  # no id
        {"data": [{"id": "evt_1"}]},  # no event name
        {"data": "events"},
        {"error": "what"},
    ],
)
def test_a_malformed_log_is_one_clear_error(bad: dict[str, Any]) -> None:
    api, _ = events_api(Server(lambda req: httpx.Response(200, json=bad)))
    with pytest.raises(MalformedResponseError):
        list(api.cursor().read())


class Script:
    """A log that grows poll by poll: each poll of the follow gets the next answer."""

    def __init__(self, polls: list[list[dict[str, Any]] | httpx.Response]) -> None:
        self.polls = polls
        self.asked_after: list[str | None] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.asked_after.append(params(req).get("after"))
        answer = self.polls.pop(0) if self.polls else []
        return answer if isinstance(answer, httpx.Response) else page(answer)


def follow(
    api: EventsAPI,
    flt_events: tuple[str, ...] = (),
    *,
    interval: float = 2.0,
    errors: list[str] | None = None,
    recovered: list[bool] | None = None,
) -> Iterator[Event]:
    cursor = api.cursor(events=flt_events)
    return api.follow(
        cursor,
        interval=interval,
        on_error=lambda exc, wait: (errors if errors is not None else []).append(
            f"{exc.code} {wait}"
        ),
        on_recovered=lambda: (recovered if recovered is not None else []).append(True),
    )


def test_a_follow_polls_soon_after_activity_and_backs_off_while_quiet() -> None:
    script = Script([[event(1), event(2)], [], [], [], [event(3)], [], [event(4)]])
    api, clock = events_api(Server(script))
    got = [e.id for e in islice(follow(api), 4)]
    assert got == [event(n)["id"] for n in (1, 2, 3, 4)]
    # 0.5 after activity, then ×1.5 up to the interval (2 s); activity starts over.
    assert clock.sleeps == [0.5, 0.75, 1.125, 1.6875, 0.5, 0.75]
    assert script.asked_after == [None, *[event(2)["id"]] * 4, event(3)["id"], event(3)["id"]]


def test_a_503_during_a_follow_is_reported_and_the_follow_goes_on_without_repeats() -> None:
    log = [event(i) for i in range(1, 5)]

    def route(req: httpx.Request) -> httpx.Response:
        after = params(req).get("after")
        number = int(params(req)["page"])
        if after is None:  # the first poll: two pages, the second one fails
            return page(log[:2], 1, 2) if number == 1 else error(503, "SERVICE_UNAVAILABLE")
        rest = log[[e["id"] for e in log].index(after) + 1 :]
        return page(rest)

    errors: list[str] = []
    recovered: list[bool] = []
    api, clock = events_api(Server(route))
    got = [e.id for e in islice(follow(api, errors=errors, recovered=recovered), 4)]
    assert got == [e["id"] for e in log]  # each once, in order
    assert errors == ["SERVICE_UNAVAILABLE 0.5"] and recovered == [True]
    assert clock.sleeps == [0.5]  # the wait after the failure; then events came at once


def test_errors_that_waiting_cannot_fix_end_the_follow() -> None:
    script = Script([[event(1)], error(422, "VALIDATION_FAILED")])
    api, _ = events_api(Server(script))
    stream = follow(api)
    assert next(stream).id == event(1)["id"]
    with pytest.raises(APIStatusError) as raised:
        next(stream)
    assert raised.value.code == "VALIDATION_FAILED"
    script = Script([httpx.Response(200, content=b"<html>proxy</html>")])
    api, _ = events_api(Server(script))
    with pytest.raises(MalformedResponseError):
        next(follow(api))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (APIStatusError("x", status=503), True),
        (APIStatusError("x", status=500), True),
        (APIStatusError("x", status=429), True),
        (APIStatusError("x", status=404), False),
        (APIStatusError("x", status=401), False),
        (MalformedResponseError("x"), False),
    ],
)
def test_what_a_follow_waits_out(exc: APIError, expected: bool) -> None:
    assert transient(exc) is expected


def test_an_event_filter_without_anything_matches_everything() -> None:
    assert EventFilter().params() == {}
    assert EventFilter().matches(Event.model_validate(event(1)))


# ---------------------------------------------------------------- display


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        (["WO-1", "WO-2", "WO-3", "WO-4", "WO-5"], "5 records: WO-1, WO-2, WO-3 +2 more"),
        (["S-1"], "1 record: S-1"),
        ([], "no records"),
        (
            {
                "sync_id": "sync_1",
                "type": "full",
                "trigger": "manual",
                "records_processed": 1200,
                "error": None,
            },
            "sync_1 full 1,200 records",
        ),
        (
            {
                "sync_id": "sync_2",
                "type": "incremental",
                "records_processed": 0,
                "error": {"code": "SYSTEM_UNREACHABLE", "message": "down"},
            },
            "sync_2 incremental 0 records: SYSTEM_UNREACHABLE: down",
        ),
        ({"from": "online", "to": "offline", "status": "offline"}, "online → offline"),
        (
            {"error": {"code": "REAUTHORIZATION_REQUIRED", "message": "rejected"}},
            "REAUTHORIZATION_REQUIRED: rejected",
        ),
        ({"code": "INTERNAL", "message": "boom", "request_id": None}, "INTERNAL: boom"),
        ({"message": "ping from makini sandbox", "webhook_id": HOOK}, "ping from makini sandbox"),
        (
            {"changed": ["next_sync_at"], "next_sync_at": "2026-11-30T07:00:00Z"},
            "next_sync_at → 2026-11-30T07:00:00Z",
        ),
        (
            {"key": "cf_1", "entity": "work-orders", "name": "inspector", "type": "string"},
            "work-orders/inspector (string)",
        ),
        ({"other": 1}, '{"other":1}'),
        (None, ""),
    ],
)
def test_event_summaries_read_each_shape(body: Any, summary: str) -> None:
    assert columns.event_summary(body) == summary


def test_an_event_line_fits_the_terminal_and_never_cuts_the_key() -> None:
    now = datetime(2026, 11, 30, 3, 5, tzinfo=UTC)
    item = event(
        1, "work_orders.updated", key="10000715260448", body=[f"WO-{i}" for i in range(50)]
    )
    line = columns.event_line(item, now, width=80)
    assert line.startswith("  5m ago  work_orders.updated") and len(line) == 80
    assert "10000715260448" in line and line.endswith("…")
    narrow = columns.event_line(item, now, width=20)
    assert "10000715260448" in narrow and "WO-" not in narrow
    painted = columns.event_line({**item, "event": "sync.failed\x1b[2J"}, now, paint=True)
    assert "\x1b[31msync.failed" in painted and "\x1b[2J" not in painted
    piped = columns.event_line(item)
    assert piped.startswith("2026-11-30T03:00:00Z work_orders.updated".replace(" ", "  "))
    assert piped.endswith("+47 more")


def test_delivery_columns_show_attempts_and_the_last_answer() -> None:
    by_header = {c.header: c for c in columns.DELIVERIES}
    attempts = [
        {"status_code": 503, "error": None},
        {"status_code": None, "error": "connection refused"},
    ]
    assert by_header["ATTEMPTS"].fmt and by_header["ATTEMPTS"].fmt(attempts) == "2"
    assert by_header["LAST"].fmt and by_header["LAST"].fmt(attempts) == "connection refused"
    assert by_header["LAST"].fmt(attempts[:1]) == "503"
    assert by_header["LAST"].fmt([]) == "" and by_header["ATTEMPTS"].fmt(None) == ""
    assert by_header["ID"].keep


# ---------------------------------------------------------------- Tab's cache

SCOPE = completion.scope("sandbox", "sandbox")


def test_webhook_ids_are_remembered_replaced_and_forgotten() -> None:
    completion.remember_webhooks(SCOPE, [("wh_a", "https://a"), ("wh_b", None)], complete=True)
    completion.remember_webhooks(SCOPE, [("wh_c", "https://c (disabled)")])
    assert [k for k, _ in completion.cached(SCOPE, "webhooks")] == ["wh_c", "wh_a", "wh_b"]
    completion.remember_webhooks(SCOPE, [("wh_b", None)], complete=True)
    assert [k for k, _ in completion.cached(SCOPE, "webhooks")] == ["wh_b"]
    completion.forget_webhooks(SCOPE, ["wh_b"])
    assert completion.cached(SCOPE, "webhooks") == []
    completion.remember_deliveries(
        SCOPE, [(f"dlv_{i}", None) for i in range(completion.MAX_DELIVERIES + 5)]
    )
    assert len(completion.cached(SCOPE, "deliveries")) == completion.MAX_DELIVERIES
    completion.remember_deliveries(SCOPE, [("dlv_new", "ping · pending")])
    assert completion.complete_delivery_ids("dlv_n") == [("dlv_new", "ping · pending")]
    # The connection keys of the same scope are untouched.
    assert completion.cached(SCOPE, "connections") == []
