"""Unified records over HTTP: every entity of each category, paging, filters, sorting,
`modified_after` after a sync (with the sync's events), the 404s, the health gate, and
`--table-rows`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox import raw, unified
from makini_cli.sandbox.clock import ManualClock, iso
from makini_cli.sandbox.listing import MAX_PER_PAGE
from makini_cli.sandbox.platforms import get_platform
from makini_cli.sandbox.settings import (
    MAX_TABLE_ROWS,
    MIN_TABLE_ROWS,
    SandboxConfigError,
    SandboxSettings,
)
from tests.inproc import invoke

from .conftest import (
    ACTIVE_KEY,
    OFFLINE_KEY,
    all_pages,
    assert_error,
    bearer,
    connection_token,
    token_pair,
)

MAXIMO_KEY = "10000604159337"
UPKEEP_KEY = "10000715260448"
REAUTH_KEY = "10000826371559"
INACTIVE_KEY = "10001159604882"
WMS_CONNECTION = {
    "name": "Harbour Depot – Fishbowl",
    "email": "wms@harbour.example.com",
    "provider": "fishbowl",
    "credentials": {"api": "https://fishbowl.example.com", "login": "l", "password": "p"},
}


def _wms_token(client: httpx.Client, admin: dict[str, str]) -> dict[str, str]:
    created = client.post("/api/system/connections", json=WMS_CONNECTION, headers=admin)
    assert created.status_code == 200, created.text
    return bearer(created.json()["data"]["access_token"])


def _list(client: httpx.Client, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    sep = "&" if "?" in path else "?"
    return all_pages(client, f"{path}{sep}per_page={MAX_PER_PAGE}", headers)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_entity_of_each_category_lists_and_gets(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    tokens = {
        "eam": connection_token(client, admin, MAXIMO_KEY),
        "erp": connection_token(client, admin, ACTIVE_KEY),
        "wms": _wms_token(client, admin),
    }
    for category, headers in tokens.items():
        for path, entity in unified.ENTITIES[category].items():  # type: ignore[index]
            response = client.get(f"/api/{category}/{path}?per_page=3", headers=headers)
            assert response.status_code == 200, (category, path, response.text)
            page = response.json()
            assert page["meta"]["total"] >= 300 and len(page["data"]) == 3
            for record in page["data"]:
                assert next(iter(record)) == "key"
                assert record["key"].startswith(entity.prefix) and len(record["key"]) == 14
                assert set(record) <= set(entity.fields)
                assert "updatedAt" in record
                assert None not in record.values()  # left out, never null
                got = client.get(f"/api/{category}/{path}/{record['key']}", headers=headers)
                assert got.status_code == 200, got.text
                assert got.json() == {"data": record}


def test_pages_walk_the_records_in_number_order(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = connection_token(client, admin, UPKEEP_KEY)
    everything = _list(client, "/api/eam/assets", headers)
    first = client.get("/api/eam/assets?per_page=40", headers=headers).json()
    total = first["meta"]["total"]
    assert len(everything) == total
    assert first["meta"]["last_page"] == -(-total // 40)
    assert [r["key"] for r in everything] == sorted(r["key"] for r in everything)
    numbers = [int(r["key"][6:]) for r in everything]
    assert numbers == list(range(1, total + 1))
    third = client.get("/api/eam/assets?per_page=40&page=3", headers=headers).json()
    assert third["data"] == everything[80:120]
    assert (third["meta"]["from"], third["meta"]["to"]) == (81, 120)
    beyond = client.get(f"/api/eam/assets?per_page=40&page={total}", headers=headers).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == total


def test_filters_operators_match_and_sort(client: httpx.Client, admin: dict[str, str]) -> None:
    headers = connection_token(client, admin, UPKEEP_KEY)
    path = "/api/eam/work-orders"
    records = _list(client, path, headers)
    pivot = sorted(r["updatedAt"] for r in records)[len(records) // 2]
    status = records[0]["status"]

    def keys(query: str) -> list[str]:
        return [r["key"] for r in _list(client, f"{path}?{query}", headers)]

    def expect(match: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [r["key"] for r in records if match(r)]

    when = _instant(pivot)
    cases: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        (f"filter[status]={status}", lambda r: r.get("status") == status),
        ("filter[title:contains]=PUMP", lambda r: "pump" in r.get("title", "").lower()),
        ("filter[title:startsWith]=insp", lambda r: r.get("title", "").lower().startswith("insp")),
        (f"filter[updatedAt:gt]={pivot}", lambda r: _instant(r["updatedAt"]) > when),
        (f"filter[updatedAt:gteq]={pivot}", lambda r: _instant(r["updatedAt"]) >= when),
        (f"filter[updatedAt:lt]={pivot}", lambda r: _instant(r["updatedAt"]) < when),
        (f"filter[updatedAt:lteq]={pivot}", lambda r: _instant(r["updatedAt"]) <= when),
        # Makini's misspelling means lteq.
        (f"filter[updatedAt:lted]={pivot}", lambda r: _instant(r["updatedAt"]) <= when),
        (f"modified_after={pivot}", lambda r: _instant(r["updatedAt"]) > when),
        (
            f"filter[status]={status}&filter[title:contains]=pump",
            lambda r: r.get("status") == status and "pump" in r.get("title", "").lower(),
        ),
        (
            f"filterMatch=any&filter[status]={status}&filter[title:contains]=pump",
            lambda r: r.get("status") == status or "pump" in r.get("title", "").lower(),
        ),
    ]
    for query, match in cases:
        expected = expect(match)
        assert 0 < len(expected) < len(records), query  # the case can tell
        assert keys(query) == expected, query
    ascending = _list(client, f"{path}?sort[updatedAt]=0", headers)
    assert [r["updatedAt"] for r in ascending] == sorted(r["updatedAt"] for r in records)
    descending = _list(client, f"{path}?sort[title]=1&sort[key]=0", headers)
    by_title = sorted(records, key=lambda r: r["key"])
    by_title.sort(key=lambda r: r.get("title", ""), reverse=True)
    assert [r["key"] for r in descending] == [r["key"] for r in by_title]
    unknown = client.get(f"{path}?filter[nope]=1", headers=headers)
    assert "nope" in assert_error(unknown, 400, "INVALID_REQUEST")["message"]


def test_the_fast_page_is_the_page_filters_and_sorting_would_give(
    make_sandbox: Callable[..., httpx.Client], manual_clock: ManualClock
) -> None:
    client = make_sandbox("fast", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    # A sync first, so that changed and added records are on the pages too.
    started = client.post(f"/api/system/connections/{UPKEEP_KEY}/syncs", json={}, headers=admin)
    assert started.status_code == 202, started.text
    manual_clock.advance(600)
    headers = connection_token(client, admin, UPKEEP_KEY)  # it lives 300 s
    path = "/api/eam/work-orders"
    total = client.get(f"{path}?per_page=1", headers=headers).json()["meta"]["total"]
    last = -(-total // 50)
    for page in (1, 3, last - 1, last):
        fast = client.get(f"{path}?per_page=50&page={page}", headers=headers).json()
        # A sort by key is the default order, and the filter matches every record: both
        # take the slow path, which makes every record.
        for slow_query in ("sort[key]=0", "filter[key:startsWith]=03"):
            slow = client.get(f"{path}?per_page=50&page={page}&{slow_query}", headers=headers)
            assert slow.json()["data"] == fast["data"], (page, slow_query)
            assert slow.json()["meta"] == fast["meta"]


def test_modified_after_a_sync_lists_exactly_what_it_touched_and_told(
    make_sandbox: Callable[..., httpx.Client], manual_clock: ManualClock
) -> None:
    client = make_sandbox("sync", clock=manual_clock, table_rows=1000)
    admin = bearer(token_pair(client)["access_token"])
    headers = connection_token(client, admin, UPKEEP_KEY)
    before = iso(manual_clock.now().timestamp())
    assert (
        client.get(f"/api/eam/work-orders?modified_after={before}", headers=headers).json()["data"]
        == []
    )
    manual_clock.advance(1)
    started = client.post(f"/api/system/connections/{UPKEEP_KEY}/syncs", json={}, headers=admin)
    assert started.status_code == 202, started.text
    manual_clock.advance(600)
    headers = connection_token(client, admin, UPKEEP_KEY)  # it lives 300 s
    sync = client.get(f"/api/system/syncs/{started.json()['data']['id']}", headers=admin).json()
    assert sync["data"]["status"] == "succeeded"
    finished = sync["data"]["finished_at"]
    logged = all_pages(client, f"/api/system/events?filter[connection_key]={UPKEEP_KEY}", admin)
    told: dict[str, set[str]] = {}
    for event in logged:
        if event["created_at"] == finished and event["event"].startswith("work_orders."):
            told.setdefault(event["event"], set()).update(event["body"])
    assert set(told) == {"work_orders.inserted", "work_orders.updated"}
    touched = _list(client, f"/api/eam/work-orders?modified_after={before}", headers)
    assert {r["key"] for r in touched} == told["work_orders.inserted"] | told["work_orders.updated"]
    assert {r["updatedAt"] for r in touched} == {finished}
    # Inserted records come after the table's 1,000 and were created by the sync.
    inserted = [r for r in touched if r["key"] in told["work_orders.inserted"]]
    assert all(int(r["key"][6:]) > 1000 and r["createdAt"] == finished for r in inserted)
    total = client.get("/api/eam/work-orders?per_page=1", headers=headers).json()["meta"]["total"]
    assert total == 1000 + len(inserted)
    for record in touched:
        got = client.get(f"/api/eam/work-orders/{record['key']}", headers=headers)
        assert got.json() == {"data": record}
    # Entities Makini announces no event for change too.
    assert _list(client, f"/api/eam/locations?modified_after={before}", headers)


def test_the_errors_of_a_list_and_a_record(client: httpx.Client, admin: dict[str, str]) -> None:
    headers = connection_token(client, admin, UPKEEP_KEY)
    too_many = client.get(f"/api/eam/work-orders?per_page={MAX_PER_PAGE + 1}", headers=headers)
    assert "per_page" in assert_error(too_many, 422, "VALIDATION_FAILED")["details"]["fields"]
    first = client.get("/api/eam/work-orders?per_page=1", headers=headers).json()
    key, total = first["data"][0]["key"], first["meta"]["total"]
    asset = client.get("/api/eam/assets?per_page=1", headers=headers).json()["data"][0]["key"]
    for unknown in (
        key[:6] + f"{total + 1:08d}",  # past the last record
        key[:6] + "00000000",
        asset,  # another entity's key
        "not-a-key",
    ):
        error = assert_error(
            client.get(f"/api/eam/work-orders/{unknown}", headers=headers), 404, "NOT_FOUND"
        )
        assert unknown in error["message"]
    other = connection_token(client, admin, MAXIMO_KEY)  # another connection's key
    assert_error(client.get(f"/api/eam/work-orders/{key}", headers=other), 404, "NOT_FOUND")
    served = list(unified.ENTITIES["eam"])
    for path in ("/api/erp/sales-orders", "/api/wms/stocks/1", "/api/eam/no-such-things"):
        error = assert_error(client.get(path, headers=headers), 404, "NOT_FOUND")
        assert error["details"]["entities"] == served, path
        assert "work-orders" in error["message"] and "UpKeep" in error["message"]
    erp = connection_token(client, admin, ACTIVE_KEY)
    error = assert_error(client.get("/api/eam/work-orders", headers=erp), 404, "NOT_FOUND")
    assert error["details"] == {
        "category": "erp",
        "entity": "work-orders",
        "entities": list(unified.ENTITIES["erp"]),
    }
    assert_error(client.get("/api/eam/work-orders", headers=admin), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (OFFLINE_KEY, 503, "SYSTEM_UNREACHABLE"),
        (REAUTH_KEY, 409, "REAUTHORIZATION_REQUIRED"),
        (INACTIVE_KEY, 402, "INSUFFICIENT_CREDITS"),
    ],
)
def test_records_pass_the_health_gate(
    client: httpx.Client, admin: dict[str, str], key: str, status: int, code: str
) -> None:
    headers = connection_token(client, admin, key)
    category = unified.category_of(get_platform(_platform_of(client, admin, key)))
    for path in (f"/api/{category}/sites", f"/api/{category}/sites/01000000000001"):
        assert_error(client.get(path, headers=headers), status, code)


def _platform_of(client: httpx.Client, admin: dict[str, str], key: str) -> str:
    answer = client.get(f"/api/system/connections/{key}", headers=admin)
    platform: str = answer.json()["data"]["platform"]
    return platform


def test_table_rows_sizes_every_table_and_its_records(
    make_sandbox: Callable[..., httpx.Client],
) -> None:
    client = make_sandbox("rows", table_rows=1000)
    admin = bearer(token_pair(client)["access_token"])
    headers = connection_token(client, admin, UPKEEP_KEY)
    tables = client.get("/api/raw/tables", headers=headers).json()["data"]
    assert {t["rows"] for t in tables} == {1000}
    for table in tables:
        page = client.get(
            f"/api/raw/tables/{table['name']}/data?per_page=7&page=143", headers=headers
        )
        assert page.json()["meta"]["total"] == 1000
        assert len(page.json()["data"]) == 1000 - 142 * 7
    for path in unified.ENTITIES["eam"]:
        meta = client.get(f"/api/eam/{path}?per_page=500&page=2", headers=headers).json()["meta"]
        assert (meta["total"], meta["last_page"], meta["to"]) == (1000, 2, 1000), path


def test_table_rows_has_bounds(tmp_path: Path) -> None:
    # Every table holds at least the rows its references point into.
    assert MIN_TABLE_ROWS == raw.MIN_ROWS
    for rows in (MIN_TABLE_ROWS - 1, MAX_TABLE_ROWS + 1):
        with pytest.raises(SandboxConfigError, match="table_rows"):
            SandboxSettings(data_dir=tmp_path, table_rows=rows)
    refused = invoke("sandbox", "serve", "--table-rows", str(MIN_TABLE_ROWS - 1))
    assert refused.code == 2 and "--table-rows" in refused.stderr
