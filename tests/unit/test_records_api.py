"""Records at the edges a served sandbox does not reach on demand: a connection token that
runs out in the middle of a long walk, a platform list that does not say a platform's
kind, a server without extensions; and the writers' formats, page by page.

The API parts run on httpx.MockTransport with a fake clock: no sleeping, no sockets.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from makini_cli.api.auth import MemoryTokenCache
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.errors import APIStatusError
from makini_cli.api.resources.connections import ConnectionsAPI
from makini_cli.api.resources.records import (
    Filter,
    RecordQuery,
    RecordsAPI,
    entity_path,
)
from makini_cli.commands.records import modified_after
from makini_cli.output.records import (
    RecordWriter,
    atomic_file,
    project,
    resolve_fields,
    table_columns,
    whole_or_nothing,
)
from tests.unit.test_client import FakeClock, make_client
from tests.unit.test_documented_api import KEY, Route, Server

TOKEN_LIFE_S = 300


def records_api(server: Server, clock: FakeClock | None = None) -> tuple[RecordsAPI, FakeClock]:
    client, clock, _notes = make_client(server, clock=clock, retries=0)
    caps = Capabilities(client, "test", None)
    cache = MemoryTokenCache()
    connections = ConnectionsAPI(client, caps, lambda _key: cache, wall=clock.wall)
    return RecordsAPI(client, caps, connections), clock


def error(status: int, code: str, **details: Any) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": code.lower(), "details": details}}
    )


class TokenServer:
    """Issues connection tokens that live TOKEN_LIFE_S by the server's clock (the test's
    FakeClock), serves `total` work orders `size` a page, and can refuse a token early."""

    def __init__(self, clock: FakeClock, total: int, *, early_expiry_page: int | None = None):
        self.clock = clock
        self.total = total
        self.early_expiry_page = early_expiry_page
        self.issued: dict[str, float] = {}
        self.seen: list[tuple[int, str]] = []
        #: seconds the clock moves while each page is read (a slow reader)
        self.page_cost = 0.0

    def __call__(self, req: httpx.Request) -> httpx.Response | None:
        if req.url.path == f"/api/system/connections/{KEY}/token":
            token = f"t{len(self.issued) + 1}"
            self.issued[token] = self.clock.wall()
            return httpx.Response(200, json={"data": {"token": token, "expires_in": TOKEN_LIFE_S}})
        if req.url.path == "/api/eam/work-orders":
            token = req.headers["authorization"].removeprefix("Bearer ")
            query = dict(parse_qsl(req.url.query.decode()))
            number, size = int(query["page"]), int(query["per_page"])
            self.seen.append((number, token))
            too_old = self.clock.wall() - self.issued[token] > TOKEN_LIFE_S
            if too_old or (number == self.early_expiry_page and token == "t1"):
                return error(401, "TOKEN_EXPIRED")
            self.clock.now += self.page_cost
            last = -(-self.total // size)
            first = (number - 1) * size
            items = [{"key": f"wo{n}"} for n in range(first, min(first + size, self.total))]
            return httpx.Response(
                200,
                json={
                    "data": items,
                    "meta": {"current_page": number, "last_page": last, "total": self.total},
                },
            )
        return None


def test_a_token_refused_midway_is_reissued_and_the_walk_goes_on_from_that_page() -> None:
    clock = FakeClock()
    tokens = TokenServer(clock, 23, early_expiry_page=3)
    api, _ = records_api(Server(tokens), clock)
    session = api.session(KEY)
    keys = [r["key"] for r in api.list(session, "eam", "work_orders", per_page=5)]
    assert keys == [f"wo{n}" for n in range(23)]
    assert tokens.seen == [(1, "t1"), (2, "t1"), (3, "t1"), (3, "t2"), (4, "t2"), (5, "t2")]


def test_a_walk_longer_than_a_token_renews_it_before_it_runs_out() -> None:
    clock = FakeClock()
    tokens = TokenServer(clock, 50)
    tokens.page_cost = 100.0  # each page takes 100 s: ten pages outlive three tokens
    api, _ = records_api(Server(tokens), clock)
    session = api.session(KEY)
    assert len(list(api.list(session, "eam", "work-orders", per_page=5))) == 50
    assert len(tokens.issued) >= 4
    assert [n for n, _ in tokens.seen] == list(range(1, 11))  # never a page twice


def test_a_renewed_token_that_is_refused_too_is_the_error() -> None:
    clock = FakeClock()

    def route(req: httpx.Request) -> httpx.Response | None:
        if req.url.path.endswith("/token"):
            return httpx.Response(200, json={"data": {"token": "t", "expires_in": 300}})
        return error(401, "TOKEN_EXPIRED")

    api, _ = records_api(Server(route), clock)
    with pytest.raises(APIStatusError) as raised:
        list(api.list(api.session(KEY), "eam", "work-orders"))
    assert raised.value.code == "TOKEN_EXPIRED"


def test_limit_stops_across_pages_without_reading_further() -> None:
    clock = FakeClock()
    tokens = TokenServer(clock, 100)
    api, _ = records_api(Server(tokens), clock)
    pages = list(api.pages(api.session(KEY), "eam", "work-orders", limit=12, per_page=5))
    assert [len(p.items) for p in pages] == [5, 5, 2]
    assert [n for n, _ in tokens.seen] == [1, 2, 3]
    assert pages[0].total == 100


def platforms_route(
    platforms: list[dict[str, Any]], connection: dict[str, Any], sites: set[str]
) -> Route:
    """A server without extensions: the connection only in the documented list, the
    given platform list, and `sites` readable under the categories in `sites`."""

    def route(req: httpx.Request) -> httpx.Response | None:
        path = req.url.path
        if path == "/api/system/connections":
            return httpx.Response(200, json={"data": [connection], "meta": {}})
        if path == "/api/system/platforms":
            return httpx.Response(200, json={"data": platforms, "meta": {}})
        if path.endswith("/token"):
            return httpx.Response(200, json={"data": {"token": "t", "expires_in": 300}})
        for category in sites:
            if path == f"/api/{category}/sites":
                return httpx.Response(200, json={"data": [], "meta": {}})
        return None

    return route


def test_without_extensions_the_platform_is_found_by_its_name() -> None:
    conn = {"key": KEY, "name": "Plant", "integration_name": "Odoo"}
    platforms = [
        {"key": "upkeep", "name": "UpKeep", "kind": "cmms"},
        {"key": "odoo", "name": "Odoo", "kind": "erp"},
    ]
    api, _ = records_api(Server(platforms_route(platforms, conn, set())))
    finding = api.category_from_platform(KEY)
    assert finding.category == "erp"
    assert "Odoo" in finding.how


def test_a_cmms_platform_reads_through_eam() -> None:
    conn = {"key": KEY, "platform": "upkeep", "integration_name": "UpKeep"}
    platforms = [{"key": "upkeep", "name": "UpKeep", "kind": "cmms"}]
    api, _ = records_api(Server(platforms_route(platforms, conn, set())))
    assert api.category_from_platform(KEY).category == "eam"


def test_a_platform_list_without_kinds_leaves_the_category_to_a_probe() -> None:
    conn = {"key": KEY, "name": "Plant", "integration_name": "Odoo"}
    server = Server(platforms_route([{"key": "odoo", "name": "Odoo"}], conn, {"erp", "wms"}))
    api, _ = records_api(server)
    assert api.category_from_platform(KEY).category is None
    found = api.probe_category(api.session(KEY))
    assert found.category == "erp"  # eam answered 404, erp the first to answer
    probed = [r.url.path for r in server.calls("/sites")]
    assert probed == ["/api/eam/sites", "/api/erp/sites"]
    assert all(
        dict(parse_qsl(r.url.query.decode()))["per_page"] == "1" for r in server.calls("/sites")
    )


def test_a_probe_stops_at_an_error_that_is_no_404() -> None:
    def route(req: httpx.Request) -> httpx.Response | None:
        if req.url.path.endswith("/token"):
            return httpx.Response(200, json={"data": {"token": "t", "expires_in": 300}})
        return error(503, "SYSTEM_UNREACHABLE")

    api, _ = records_api(Server(route))
    with pytest.raises(APIStatusError) as raised:
        api.probe_category(api.session(KEY))
    assert raised.value.code == "SYSTEM_UNREACHABLE"


def test_no_probe_answering_is_no_category() -> None:
    conn = {"key": KEY}
    api, _ = records_api(Server(platforms_route([], conn, set())))
    assert api.probe_category(api.session(KEY)).category is None
    assert api.category_from_platform(KEY).category is None


# ---------------------------------------------------------------- queries


def test_a_query_becomes_makinis_parameters() -> None:
    query = RecordQuery(
        filters=[
            Filter("status", "open"),
            Filter("status", "late"),
            Filter("dueAt", "2025-01-01", "gt"),
            Filter("customFields.inspector", "Ada", "startsWith"),
        ],
        match="any",
        modified_after="2025-01-01T00:00:00Z",
        sort=[("dueAt", True), ("key", False)],
    )
    assert query.params() == {
        "filter[status]": ["open", "late"],
        "filter[dueAt:gt]": "2025-01-01",
        "filter[customFields.inspector:startsWith]": "Ada",
        "filterMatch": "any",
        "modified_after": "2025-01-01T00:00:00Z",
        "sort[dueAt]": "1",
        "sort[key]": "0",
    }
    assert RecordQuery().params() == {}
    assert entity_path(" Work_Orders ") == "work-orders"


def test_modified_after_takes_times_dates_and_ages() -> None:
    from datetime import UTC, datetime

    now = datetime(2025, 3, 1, 12, 0, 30, 123456, tzinfo=UTC)
    assert modified_after("2025-01-31T08:00:00Z", now) == "2025-01-31T08:00:00Z"
    assert modified_after("2025-01-31T08:00:00+02:00", now) == "2025-01-31T06:00:00Z"
    assert modified_after("2025-01-31", now) == "2025-01-31T00:00:00Z"
    assert modified_after("2h", now) == "2025-03-01T10:00:30Z"
    assert modified_after("3d", now) == "2025-02-26T12:00:30Z"
    assert modified_after(None, now) is None
    from makini_cli.errors import UsageError

    for bad in ("yesterday", "-2h", "nan", ""):
        with pytest.raises(UsageError):
            modified_after(bad, now)


# ---------------------------------------------------------------- writers


RECORDS = [
    {
        "key": "03000100000001",
        "title": "Fix pump",
        "address": {"city": "Oslo", "lines": ["a", "b"]},
        "customFields": {"inspector": "Ada", "hours": 2.5},
    },
    {"key": "03000100000002", "status": "open", "customFields": {"inspector": None, "hours": 1}},
]


def write(mode: str, pages: list[list[Any]], fields: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = RecordWriter(out, mode, fields)
    for items in pages:
        writer.write_page(items)
    writer.finish()
    return out.getvalue()


def test_json_is_one_array_from_pages_and_empty_is_an_empty_array() -> None:
    text = write("json", [RECORDS[:1], [], RECORDS[1:]])
    assert json.loads(text) == RECORDS
    assert text.count("\n") == 4  # [, a record per line, ]
    assert json.loads(write("json", [])) == []


def test_jsonl_projects_fields_keeping_nesting() -> None:
    lines = write("jsonl", [RECORDS], ["key", "inspector", "address.city", "nothing"]).splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "key": "03000100000001",
            "customFields": {"inspector": "Ada"},
            "address": {"city": "Oslo"},
        },
        {"key": "03000100000002", "customFields": {"inspector": None}},
    ]
    assert project(RECORDS[0], ["customFields.hours", "title"]) == {
        "customFields": {"hours": 2.5},
        "title": "Fix pump",
    }


def test_csv_columns_come_from_the_first_page_standard_then_custom() -> None:
    rows = list(csv.reader(io.StringIO(write("csv", [RECORDS, [{"key": "3", "late": "x"}]]))))
    assert rows[0] == [
        "key",
        "title",
        "address",
        "status",
        "customFields.inspector",
        "customFields.hours",
    ]
    assert rows[1] == [
        "03000100000001",
        "Fix pump",
        '{"city":"Oslo","lines":["a","b"]}',
        "",
        "Ada",
        "2.5",
    ]
    assert rows[2][3:] == ["open", "", "1"]
    assert rows[3] == ["3", "", "", "", "", ""]  # a field the first page lacked has no column
    assert write("csv", [], ["key", "title"]) == "key,title\n"
    assert write("csv", []) == ""


def test_a_bare_custom_field_name_means_the_custom_field() -> None:
    assert resolve_fields(["key", "inspector", "title", "key"], RECORDS) == [
        "key",
        "customFields.inspector",
        "title",
    ]
    assert resolve_fields(["status"], RECORDS) == ["status"]  # a standard field stays one


def test_a_table_puts_custom_fields_beside_the_standard_ones() -> None:
    columns, flat = table_columns(RECORDS, None)
    names = [c.key for c in columns]
    assert names == [
        "key",
        "title",
        "address",
        "status",
        "customFields.inspector",
        "customFields.hours",
    ]
    by_name = {c.key: c for c in columns}
    assert by_name["key"].keep
    assert by_name["address"].priority < by_name["status"].priority  # nested goes first
    assert by_name["customFields.inspector"].priority > by_name["title"].priority
    refs, _ = table_columns(
        [{"key": "1", "siteKey": "2", "dueAt": "2025-01-01T00:00:00Z", "title": "t"}], None
    )
    order = sorted(refs[1:], key=lambda c: c.priority)
    assert [c.key for c in order] == ["siteKey", "dueAt", "title"]  # dropped first to last
    assert refs[2].time
    assert flat[0]["customFields.inspector"] == "Ada"


def test_json_to_a_stream_appears_only_when_complete() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), whole_or_nothing(out) as spool:
        spool.write("[\n{}")
        raise RuntimeError("page 2 failed")
    assert out.getvalue() == ""
    with whole_or_nothing(out) as spool:
        spool.write("[]\n")
    assert out.getvalue() == "[]\n"


def test_an_atomic_file_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    where = tmp_path / "exports"
    where.mkdir()
    target = where / "out.jsonl"
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert list(where.iterdir()) == []
    target.write_text("old\n")
    target.chmod(0o640)
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n" and list(where.iterdir()) == [target]
    with atomic_file(target) as handle:
        handle.write("new\n")
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640
