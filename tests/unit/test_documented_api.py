"""The client against Makini's documented shapes (and the older or richer forms it still
reads), at the edges a served sandbox does not reach on demand: a server that answers
without the new key, a token that expires during a poll, filters a server ignores.

Everything runs on httpx.MockTransport with a fake clock: no sleeping, no sockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, get_args

import httpx
import pytest

from makini_cli.api.auth import MemoryTokenCache
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.errors import (
    APIStatusError,
    CapabilityMissingError,
    MalformedResponseError,
)
from makini_cli.api.resources.connections import ConnectionsAPI
from makini_cli.api.resources.syncs import SyncsAPI, makini_scopes
from makini_cli.commands.connections import Status
from makini_cli.models.connection import (
    SYNCABLE,
    Connection,
    metadata_object,
    scope_names,
)
from makini_cli.vocabulary import STATUSES
from tests.unit.test_client import FakeClock, make_client

Route = Callable[[httpx.Request], httpx.Response | None]
KEY = "10000715260448"


class Server:
    """A scripted server: records every request, answers from `route`, and the
    capabilities call from `extensions` (None: 404, documented calls only)."""

    def __init__(self, route: Route, extensions: list[str] | None = None) -> None:
        self.route = route
        self.extensions = extensions
        self.requests: list[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        if req.url.path == "/api/system/capabilities":
            if self.extensions is None:
                return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "m"}})
            return httpx.Response(200, json={"data": {"extensions": self.extensions}})
        self.requests.append(req)
        answer = self.route(req)
        if answer is None:
            return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "m"}})
        return answer

    def calls(self, path_part: str = "") -> list[httpx.Request]:
        return [r for r in self.requests if path_part in r.url.path]


def apis(
    server: Server, clock: FakeClock | None = None
) -> tuple[ConnectionsAPI, SyncsAPI, list[str]]:
    client, clock, notes = make_client(server, clock=clock, retries=0)
    caps = Capabilities(client, "test", None)
    caches: dict[str, MemoryTokenCache] = {}
    connections = ConnectionsAPI(
        client, caps, lambda key: caches.setdefault(key, MemoryTokenCache()), wall=clock.wall
    )
    return connections, SyncsAPI(client, caps, connections), notes


def page(items: list[dict[str, Any]], current: int = 1, last: int = 1) -> httpx.Response:
    return httpx.Response(
        200, json={"data": items, "meta": {"current_page": current, "last_page": last}}
    )


def connection(key: str, status: str) -> dict[str, Any]:
    return {
        "key": key,
        "name": f"n{key}",
        "status": status,
        "scopes": "sites,work_orders",
        "tags": [],
        "user_metadata": '{"customer_id":"C-1"}',
    }


# ---------------------------------------------------------------- the Connection model


def test_status_choices_are_makinis_statuses() -> None:
    assert get_args(Status) == STATUSES
    assert {"offline", "reauth_required"} <= set(STATUSES)
    assert set(STATUSES) >= SYNCABLE


def test_scopes_and_metadata_read_makinis_strings_and_the_richer_forms() -> None:
    assert scope_names("sites,locations,work_orders") == ["sites", "locations", "work_orders"]
    assert scope_names("sites, assets,") == ["sites", "assets"]
    assert scope_names(["sites", "assets"]) == ["sites", "assets"]
    assert scope_names(None) is None
    assert metadata_object('{"customer_id":"CUST-1001"}') == {"customer_id": "CUST-1001"}
    assert metadata_object("{}") == {} and metadata_object("") == {}
    assert metadata_object({"a": "b"}) == {"a": "b"}
    assert metadata_object("not json") is None and metadata_object("[1]") is None
    assert metadata_object("[" * 100 + "]" * 100) is None  # nesting no answer has


def test_a_connection_keeps_what_the_server_sent_and_shows_it_readably() -> None:
    conn = Connection.model_validate(connection(KEY, "active"))
    assert conn.to_api()["scopes"] == "sites,work_orders"
    assert conn.to_api()["user_metadata"] == '{"customer_id":"C-1"}'
    shown = conn.for_display()
    assert shown["scopes"] == ["sites", "work_orders"]
    assert shown["user_metadata"] == {"customer_id": "C-1"}
    odd = Connection.model_validate({"key": KEY, "user_metadata": "{broken"})
    assert odd.for_display()["user_metadata"] == "{broken"  # shown as sent, not dropped
    assert "scopes" not in odd.for_display()


# ---------------------------------------------------------------- filters


def test_without_capabilities_the_status_filter_is_applied_here() -> None:
    """Makini declares no filters on the connection list and ignores filter[...]."""

    def route(req: httpx.Request) -> httpx.Response | None:
        assert "filter[status]" not in req.url.params
        if req.url.params["page"] == "1":
            return page([connection("1", "active"), connection("2", "inactive")], 1, 2)
        return page([connection("3", "offline"), connection("4", "active")], 2, 2)

    server = Server(route)
    connections, _, _ = apis(server)
    assert [c.key for c in connections.list(status="active")] == ["1", "4"]
    assert [c.key for c in connections.list(status="offline")] == ["3"]
    assert [c.key for c in connections.list(status="active", limit=1)] == ["1"]
    assert [c.key for c in connections.list()] == ["1", "2", "3", "4"]


def test_with_capabilities_the_server_filters_and_is_trusted() -> None:
    sent: list[str | None] = []

    def route(req: httpx.Request) -> httpx.Response | None:
        sent.append(req.url.params.get("filter[status]"))
        return page([connection("1", "active"), connection("2", "inactive")])

    connections, _, _ = apis(Server(route, ["status"]))
    assert [c.key for c in connections.list(status="active")] == ["1", "2"]
    assert sent == ["active"]


# ---------------------------------------------------------------- create and delete


def test_a_create_answered_without_the_key_learns_it_with_the_new_token() -> None:
    def route(req: httpx.Request) -> httpx.Response | None:
        if req.method == "POST" and req.url.path == "/api/system/connections":
            return httpx.Response(
                200,
                json={
                    "data": {
                        "access_token": "conn-at",
                        "refresh_token": "conn-rt",
                        "expires_in": 4_000_000_000,
                    }
                },
            )
        if req.url.path == "/api/integrations/current":
            assert req.headers["authorization"] == "Bearer conn-at"
            return httpx.Response(200, json={"data": {"id": KEY, "company_name": "Acme"}})
        return None

    server = Server(route)
    connections, _, _ = apis(server)
    created = connections.create(name="n", email="e@example.com", provider="upkeep", credentials={})
    assert created.key == KEY and created.to_api()["key"] == KEY
    assert len(server.calls("/api/integrations/current")) == 1
    assert "idempotency-key" not in server.calls("/api/system/connections")[0].headers


def test_a_create_that_names_its_key_asks_nothing_more_and_a_failed_lookup_is_a_notice() -> None:
    tokens = {"access_token": "at", "refresh_token": "rt", "expires_in": 4_000_000_000}

    def with_key(req: httpx.Request) -> httpx.Response | None:
        if req.url.path == "/api/system/connections":
            return httpx.Response(200, json={"data": {**tokens, "key": KEY}})
        return None

    server = Server(with_key, ["idempotency"])
    connections, _, _ = apis(server)
    assert connections.create(name="n", email="e", provider="p", credentials={}).key == KEY
    assert [r.url.path for r in server.requests] == ["/api/system/connections"]

    def lookup_fails(req: httpx.Request) -> httpx.Response | None:
        if req.url.path == "/api/system/connections":
            return httpx.Response(200, json={"data": tokens})
        return httpx.Response(403, json={"error": {"code": "PERMISSION_DENIED", "message": "no"}})

    connections, _, notes = apis(Server(lookup_fails))
    # The connection exists: no error (a retried create would make a second one).
    assert connections.create(name="n", email="e", provider="p", credentials={}).key is None
    assert notes and "key could not be read" in notes[0]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"data": {"key": KEY, "deleted": True}}),
        httpx.Response(204),
    ],
)
def test_delete_takes_200_with_json_and_204(answer: httpx.Response) -> None:
    server = Server(lambda req: answer if req.method == "DELETE" else None)
    connections, _, _ = apis(server)
    connections.delete(KEY)
    assert [r.method for r in server.requests] == ["DELETE"]


# ---------------------------------------------------------------- metadata


def metadata_view(meta: str | None) -> dict[str, Any]:
    """Makini's ConnectionMetadata: the connection's documented fields but `tags`."""
    return {
        "key": KEY,
        "name": "n",
        "status": "active",
        "scopes": "sites",
        "user_metadata": meta,
        "client_id": "c",
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"data": [metadata_view('{"customer_id":"C-1","plant":"north"}')], "meta": {}},
            {"customer_id": "C-1", "plant": "north"},
        ),
        ({"data": [metadata_view("{}")]}, {}),
        ({"data": [metadata_view(None)]}, {}),
        ({"data": []}, {}),
        # A server that lists the entries themselves.
        (
            {"data": [{"key": "customer_id", "value": "C-1"}, {"key": "plant", "value": "north"}]},
            {"customer_id": "C-1", "plant": "north"},
        ),
    ],
)
def test_metadata_get_reads_the_documented_view_and_a_list_of_entries(
    body: dict[str, Any], expected: dict[str, Any]
) -> None:
    connections, _, _ = apis(Server(lambda req: httpx.Response(200, json=body)))
    assert connections.metadata(KEY) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"data": [metadata_view("{not json")]},
        {"data": [metadata_view('["a"]')]},
        {"data": [{"name": "no metadata here"}]},
        {"data": ["text"]},
    ],
)
def test_metadata_that_is_no_object_is_a_malformed_answer(body: dict[str, Any]) -> None:
    connections, _, _ = apis(Server(lambda req: httpx.Response(200, json=body)))
    with pytest.raises(MalformedResponseError):
        connections.metadata(KEY)


def test_metadata_set_sends_strings_and_reads_the_one_object_answered() -> None:
    def route(req: httpx.Request) -> httpx.Response | None:
        assert req.method == "POST"
        return httpx.Response(200, json={"data": metadata_view('{"site":"north","tier":"2"}')})

    server = Server(route)
    connections, _, _ = apis(server)
    result = connections.update_metadata(KEY, {"site": "north", "tier": "2"}, [])
    assert result == {"site": "north", "tier": "2"}
    [post] = server.requests
    assert post.url.path == f"/api/system/connections/{KEY}/metadata"
    assert json.loads(post.content) == [
        {"key": "site", "value": "north"},
        {"key": "tier", "value": "2"},
    ]


def test_removing_metadata_needs_the_capability_and_never_sends_null() -> None:
    server = Server(lambda req: httpx.Response(200, json={"data": metadata_view("{}")}))
    connections, _, _ = apis(server)
    with pytest.raises(CapabilityMissingError) as missing:
        connections.update_metadata(KEY, {"site": "north"}, ["tier"])
    assert missing.value.capability == "metadata_delete"
    assert server.requests == []  # nothing written before the refusal


def test_removing_metadata_with_the_capability_deletes_each_entry() -> None:
    def route(req: httpx.Request) -> httpx.Response | None:
        if req.method == "POST":
            assert all(isinstance(item["value"], str) for item in json.loads(req.content))
            return httpx.Response(200, json={"data": metadata_view('{"a":"1","b c":"2"}')})
        if req.method == "DELETE":
            return httpx.Response(200, json={"data": metadata_view('{"a":"1"}')})
        return None

    server = Server(route, ["metadata_delete"])
    connections, _, _ = apis(server)
    assert connections.update_metadata(KEY, {"a": "1"}, ["b c"]) == {"a": "1"}
    assert [(r.method, r.url.raw_path.decode()) for r in server.requests] == [
        ("POST", f"/api/system/connections/{KEY}/metadata"),
        ("DELETE", f"/api/system/connections/{KEY}/metadata/b%20c"),
    ]
    server.requests.clear()
    assert connections.update_metadata(KEY, {}, ["b c"]) == {"a": "1"}
    assert [r.method for r in server.requests] == ["DELETE"]


# ---------------------------------------------------------------- syncs, documented


def test_scope_names_are_sent_as_makini_spells_them() -> None:
    assert makini_scopes(["work-orders", "Sites", "work_orders", " purchase-orders "]) == [
        "work_orders",
        "sites",
        "purchase_orders",
    ]
    assert makini_scopes([]) is None and makini_scopes(None) is None


class DocumentedSync:
    """A documented-only server: connection tokens that the test can expire, the
    documented sync calls, and their answers bare or in "data" as the test chooses."""

    def __init__(self, statuses: list[dict[str, Any]], *, expire_first: bool = False) -> None:
        self.statuses = statuses
        self.issued: list[str] = []
        self.expired = {"t1"} if expire_first else set()
        self.server = Server(self.route)

    def route(self, req: httpx.Request) -> httpx.Response | None:
        auth = req.headers.get("authorization", "")
        if req.url.path == f"/api/system/connections/{KEY}/token":
            assert auth == "Bearer tok"  # issued with the admin token
            self.issued.append(f"t{len(self.issued) + 1}")
            return httpx.Response(200, json={"data": {"token": self.issued[-1], "expires_in": 300}})
        if auth.removeprefix("Bearer ") in self.expired:
            return httpx.Response(401, json={"error": {"code": "TOKEN_EXPIRED", "message": "m"}})
        if req.url.path == "/api/integrations/sync":
            return httpx.Response(
                200, json={"status": "inprogress", "type": json.loads(req.content)["type"]}
            )
        if req.url.path == "/api/integrations/sync/status":
            return httpx.Response(200, json=self.statuses.pop(0))
        return None

    def tokens_used(self, path: str) -> list[str]:
        return [
            r.headers["authorization"].removeprefix("Bearer ")
            for r in self.server.requests
            if r.url.path == path
        ]


def test_the_documented_calls_are_read_bare_and_in_data() -> None:
    fake = DocumentedSync(
        [{"status": "inprogress"}, {"data": {"status": "inprogress"}}, {"status": "fulldone"}]
    )
    _, syncs, _ = apis(fake.server)
    tracker = syncs.start(KEY, scopes=["work-orders"], full=True, idempotency_key=None)
    [start] = fake.server.calls("/api/integrations/sync")[:1]
    assert json.loads(start.content) == {"type": "full", "scopes": ["work_orders"]}
    assert [tracker.poll().status for _ in range(3)] == ["running", "running", "succeeded"]
    failed = DocumentedSync([{"status": "fail"}])
    _, syncs, _ = apis(failed.server)
    sync = syncs.start(KEY, scopes=None, full=False, idempotency_key=None).poll()
    assert sync.status == "failed" and sync.error is not None
    assert sync.error.code == "REAUTHORIZATION_REQUIRED"


def test_an_expired_connection_token_is_reissued_and_the_poll_goes_on() -> None:
    fake = DocumentedSync([{"status": "inprogress"}, {"status": "done"}])
    _, syncs, _ = apis(fake.server)
    tracker = syncs.start(KEY, scopes=None, full=False, idempotency_key=None)
    assert tracker.poll().status == "running"
    fake.expired.add("t1")  # the server's clock says so, before ours does
    assert tracker.poll().status == "succeeded"
    assert fake.issued == ["t1", "t2"]
    assert fake.tokens_used("/api/integrations/sync/status") == ["t1", "t1", "t2"]


def test_a_start_with_an_expired_token_gets_a_new_one_once() -> None:
    fake = DocumentedSync([{"status": "done"}], expire_first=True)
    _, syncs, _ = apis(fake.server)
    assert syncs.start(KEY, scopes=None, full=False, idempotency_key=None).poll().finished
    assert fake.tokens_used("/api/integrations/sync") == ["t1", "t2"]
    # Expired again and again: the second 401 is the answer, not a loop.
    stubborn = DocumentedSync([])
    stubborn.expired = {"t1", "t2", "t3"}
    _, syncs, _ = apis(stubborn.server)
    with pytest.raises(APIStatusError) as raised:
        syncs.start(KEY, scopes=None, full=False, idempotency_key=None)
    assert raised.value.code == "TOKEN_EXPIRED"
    assert stubborn.issued == ["t1", "t2"]


def test_a_token_about_to_expire_is_renewed_before_the_poll() -> None:
    clock = FakeClock()
    fake = DocumentedSync([{"status": "inprogress"}, {"status": "inprogress"}, {"status": "done"}])
    _, syncs, _ = apis(fake.server, clock)
    tracker = syncs.start(KEY, scopes=None, full=False, idempotency_key=None)
    tracker.poll()
    clock.now += 200  # 100 s left of 300: still good
    tracker.poll()
    clock.now += 50  # 50 s left: renewed before it can fail
    assert tracker.poll().status == "succeeded"
    assert fake.tokens_used("/api/integrations/sync/status") == ["t1", "t1", "t2"]
