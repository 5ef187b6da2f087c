"""Raw tables, their rows and passthrough, against a real sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from makini_cli.sandbox import raw, unified
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.platforms import PLATFORMS, get_platform

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
EMAINT_KEY = "10001260715993"
REAUTH_KEY = "10000826371559"
INACTIVE_KEY = "10001159604882"
SAP = get_platform("sap-s4hana")
AUFK = raw.RawTable("AUFK", SAP.raw_tables["AUFK"])
ROUTES = (
    ("GET", "/api/raw/tables", None),
    ("GET", "/api/raw/tables/AUFK/data", None),
    ("POST", "/api/passthrough", {"path": "tables/AUFK", "method": "get"}),
)


def _admin(client: httpx.Client) -> dict[str, str]:
    return bearer(token_pair(client)["access_token"])


def _rows(client: httpx.Client, headers: dict[str, str], table: str) -> list[dict[str, Any]]:
    return all_pages(client, f"/api/raw/tables/{table}/data?per_page=500", headers)


def test_tables_are_the_platforms_own(client: httpx.Client, admin: dict[str, str]) -> None:
    for key, platform, example in (
        (ACTIVE_KEY, "sap-s4hana", "AUFK"),
        (MAXIMO_KEY, "ibm-maximo", "WORKORDER"),
        (UPKEEP_KEY, "upkeep", "work_orders"),
    ):
        response = client.get("/api/raw/tables", headers=connection_token(client, admin, key))
        assert response.status_code == 200, response.text
        tables = response.json()["data"]
        expected = get_platform(platform).raw_tables
        assert [t["name"] for t in tables] == list(expected)
        assert all(t["columns"] == list(expected[t["name"]]) for t in tables)
        assert example in expected


def test_rows_are_deterministic_pages_of_the_table(
    client: httpx.Client, admin: dict[str, str], make_sandbox: Callable[..., httpx.Client]
) -> None:
    headers = connection_token(client, admin, ACTIVE_KEY)
    rows = _rows(client, headers, "AUFK")
    assert raw.MIN_SIZE <= len(rows) <= raw.MAX_SIZE
    assert all(list(row) == list(get_platform("sap-s4hana").raw_tables["AUFK"]) for row in rows)
    assert len({row["AUFNR"] for row in rows}) == len(rows)
    assert all(row["AEDAT"].endswith("Z") for row in rows)

    paged = all_pages(client, "/api/raw/tables/AUFK/data?per_page=97", headers)
    assert paged == rows
    second = client.get("/api/raw/tables/AUFK/data?per_page=7&page=2", headers=headers).json()
    assert second["data"] == rows[7:14]
    assert second["meta"]["total"] == len(rows)
    assert second["meta"]["last_page"] == -(-len(rows) // 7)

    # A fresh data dir has the same rows; another connection to a like system has its own.
    other = make_sandbox("again")
    assert _rows(other, connection_token(other, _admin(other), ACTIVE_KEY), "AUFK") == rows
    upkeep = _rows(client, connection_token(client, admin, UPKEEP_KEY), "work_orders")
    emaint = _rows(client, connection_token(client, admin, EMAINT_KEY), "work_orders")
    assert upkeep != emaint


def test_rows_filter_and_sort(client: httpx.Client, admin: dict[str, str]) -> None:
    headers = connection_token(client, admin, ACTIVE_KEY)
    rows = _rows(client, headers, "AUFK")
    path = "/api/raw/tables/AUFK/data"

    order_type = rows[0]["AUART"]
    filtered = all_pages(client, f"{path}?filter[AUART]={order_type}", headers)
    assert filtered == [row for row in rows if row["AUART"] == order_type]
    assert 0 < len(filtered) < len(rows)

    middle = sorted(row["AEDAT"] for row in rows)[len(rows) // 2]
    later = all_pages(client, f"{path}?modified_after={middle}", headers)
    assert later == [row for row in rows if row["AEDAT"] > middle]

    newest_first = all_pages(client, f"{path}?sort[AEDAT]=1", headers)
    assert [row["AEDAT"] for row in newest_first] == sorted(
        (row["AEDAT"] for row in rows), reverse=True
    )
    error = assert_error(
        client.get(f"{path}?filter[NOPE]=1", headers=headers), 400, "INVALID_REQUEST"
    )
    assert error["details"] == {"field": "NOPE"}


def test_unknown_table_names_the_tables_that_exist(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = connection_token(client, admin, ACTIVE_KEY)
    error = assert_error(
        client.get("/api/raw/tables/WORKORDER/data", headers=headers), 404, "NOT_FOUND"
    )
    assert "WORKORDER" in error["message"]
    assert error["details"]["tables"] == list(get_platform("sap-s4hana").raw_tables)


@pytest.mark.parametrize(
    ("key", "status", "code", "kind"),
    [
        (OFFLINE_KEY, 503, "SYSTEM_UNREACHABLE", "connection_error"),
        (REAUTH_KEY, 409, "REAUTHORIZATION_REQUIRED", "connection_error"),
        (INACTIVE_KEY, 402, "INSUFFICIENT_CREDITS", "billing_error"),
    ],
)
def test_calls_are_gated_by_the_connection(
    client: httpx.Client, admin: dict[str, str], key: str, status: int, code: str, kind: str
) -> None:
    headers = connection_token(client, admin, key)
    for method, path, body in ROUTES:
        error = assert_error(client.request(method, path, headers=headers, json=body), status, code)
        assert error["type"] == kind


def test_admin_token_is_refused(client: httpx.Client, admin: dict[str, str]) -> None:
    for method, path, body in ROUTES:
        error = assert_error(
            client.request(method, path, headers=admin, json=body), 403, "PERMISSION_DENIED"
        )
        assert error["details"] == {"required_token": "connection", "given_token": "admin"}


def test_passthrough_reads_tables_and_echoes_writes(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = connection_token(client, admin, ACTIVE_KEY)
    rows = _rows(client, headers, "AUFK")

    def call(**body: Any) -> dict[str, Any]:
        response = client.post("/api/passthrough", headers=headers, json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()["data"]
        assert set(answer) == {"status", "headers", "body"}
        return answer

    for path in ("tables/AUFK", "/AUFK", "aufk"):
        answer = call(path=path, method="GET", headers=None, query={"top": "5"})
        assert answer["status"] == 200
        assert answer["body"] == rows[:10]

    missing = call(path="sap/opu/odata/sap/API_MAINTENANCEORDER", method="get")
    assert missing["status"] == 404
    assert "SAP S/4HANA" in missing["body"]["message"]

    for method in ("post", "PUT", "delete"):
        payload = {"AUFNR": rows[0]["AUFNR"], "KTEXT": "changed"}
        answer = call(path="tables/AUFK", method=method, body=payload)
        assert answer == {"status": 200, "headers": {}, "body": {"received": payload}}
    assert _rows(client, headers, "AUFK") == rows


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"method": "get"}, "path"),
        ({"path": "AUFK", "method": "patch"}, "method"),
        ({"path": "AUFK"}, "method"),
        ({"path": "AUFK", "method": "get", "headers": ["Accept: */*"]}, "headers"),
        ({"path": "AUFK", "method": "get", "query": "top=5"}, "query"),
    ],
)
def test_passthrough_validates_its_body(
    client: httpx.Client, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    headers = connection_token(client, admin, ACTIVE_KEY)
    response = client.post("/api/passthrough", headers=headers, json=body)
    error = assert_error(response, 422, "VALIDATION_FAILED")
    assert list(error["details"]["fields"]) == [field]


def test_served_without_extensions(make_sandbox: Callable[..., httpx.Client]) -> None:
    plain = make_sandbox("plain", extensions=False)
    headers = connection_token(plain, _admin(plain), UPKEEP_KEY)
    response = plain.get("/api/raw/tables", headers=headers)
    assert response.status_code == 200, response.text
    assert _rows(plain, headers, "work_orders")
    answer = plain.post(
        "/api/passthrough", headers=headers, json={"path": "parts", "method": "get"}
    )
    assert answer.json()["data"]["status"] == 200


# --- the rows themselves, without a server ------------------------------------------------


def _table(platform_key: str, name: str) -> raw.RawTable:
    found = raw.find_table(get_platform(platform_key), name)
    assert found is not None
    return found


def test_a_row_is_a_function_of_connection_table_and_number() -> None:
    ekko = _table("sap-s4hana", "EKKO")
    first = raw.table_row(ACTIVE_KEY, ekko, 7)
    assert raw.table_row(ACTIVE_KEY, ekko, 7) == first
    assert raw.table_row(ACTIVE_KEY, ekko, 8) != first
    assert raw.table_row(MAXIMO_KEY, ekko, 7) != first
    # Row 7 does not depend on the rows before it, nor on how big the table is.
    assert raw.table_rows(ACTIVE_KEY, ekko)[6] == first
    assert raw.table_rows(ACTIVE_KEY, ekko, rows=25)[6] == first
    # Rows past the end exist (records added later have raw rows) and keep their shape.
    past = raw.table_row(ACTIVE_KEY, ekko, raw.table_size(ACTIVE_KEY, ekko) + 3)
    assert list(past) == list(ekko.columns)


def test_a_page_is_the_slice_of_all_rows() -> None:
    for key, platform, name in (
        (ACTIVE_KEY, "sap-s4hana", "AUFK"),
        (UPKEEP_KEY, "upkeep", "work_orders"),
        (UPKEEP_KEY, "upkeep", "custom_inspections"),
    ):
        table = _table(platform, name)
        rows = raw.table_rows(key, table)
        size = raw.table_size(key, table)
        assert len(rows) == size
        for start, stop in ((0, 10), (37, 85), (size - 5, size + 20), (size + 1, size + 9)):
            assert raw.table_page(key, table, start, stop) == list(rows[start:stop])


def test_sizes_are_a_few_hundred_to_a_few_thousand_per_table() -> None:
    sizes = {
        raw.table_size(key, table)
        for key in (ACTIVE_KEY, MAXIMO_KEY, UPKEEP_KEY)
        for platform in PLATFORMS
        for table in raw.tables_of(platform)
    }
    assert min(sizes) >= raw.MIN_SIZE
    assert max(sizes) <= raw.MAX_SIZE
    assert len(sizes) > 20  # they differ per connection and table

    table = _table("upkeep", "work_orders")
    assert raw.table_size(UPKEEP_KEY, table, rows=12_345) == 12_345
    assert len(raw.table_rows(UPKEEP_KEY, table, rows=40)) == 40
    with pytest.raises(ValueError, match="at least"):
        raw.table_size(UPKEEP_KEY, table, rows=raw.MIN_ROWS - 1)


def test_every_column_says_what_it_holds() -> None:
    guessed = [
        f"{platform.key}: {table.name}.{column}"
        for platform in PLATFORMS
        for table in raw.tables_of(platform)
        for column in table.columns
        if not raw.described(table.name, column)
    ]
    assert guessed == []


def test_times_count_back_from_the_origin() -> None:
    for platform in PLATFORMS:
        for table in raw.tables_of(platform):
            for number in (1, 2, 3):
                row = raw.row_detail(UPKEEP_KEY, table, number)
                assert row.created <= row.updated <= raw.ORIGIN
                if table.updated_column is not None:
                    stamp = row.values[table.updated_column]
                    assert stamp.endswith("Z")
                    assert stamp == iso(row.updated)


def test_references_point_into_the_first_rows() -> None:
    for platform in PLATFORMS:
        for table in raw.tables_of(platform):
            for number in range(1, 30):
                row = raw.row_detail(ACTIVE_KEY, table, number)
                assert set(row.refs) == raw.reference_columns(table)
                assert all(1 <= target <= raw.MIN_ROWS for target in row.refs.values())


def test_every_platform_has_a_custom_table_extending_an_entity_table_one_to_one() -> None:
    for platform in PLATFORMS:
        entity_tables = {source.table.name for source in unified.sources(platform).values()}
        custom = [t for t in raw.tables_of(platform) if t.custom]
        usable = [t for t in custom if t.extends in entity_tables]
        assert usable, f"{platform.key} has no custom table for its records"
        for table in custom:
            assert table.extends is not None
            assert table.link is not None
            base = raw.find_table(platform, table.extends)
            assert base is not None
            assert table.link in table.columns
            assert raw.table_size(ACTIVE_KEY, table) == raw.table_size(ACTIVE_KEY, base)
            for number in (1, 2, 19, 250):
                linked = raw.table_row(ACTIVE_KEY, table, number)[table.link]
                assert linked == raw.table_row(ACTIVE_KEY, base, number)[base.id_column]


def test_custom_tables_hold_every_type_a_custom_field_can_have() -> None:
    for platform in PLATFORMS:
        for table in (t for t in raw.tables_of(platform) if t.custom):
            row = raw.table_row(ACTIVE_KEY, table, 3)
            others = [c for c in table.columns if c not in (table.id_column, table.link)]
            values = [row[c] for c in others]
            assert any(isinstance(v, str) and unified.coerce(v, "date") is None for v in values)
            assert any(unified.coerce(v, "date") is not None for v in values), table.name
            assert any(isinstance(v, float) for v in values), table.name
            flags = [
                unified.coerce(raw.table_row(ACTIVE_KEY, table, n)[others[-1]], "boolean")
                for n in range(1, 40)
            ]
            assert set(flags) == {True, False}, table.name


def test_to_api_adds_rows_and_custom_when_asked() -> None:
    table = _table("sap-s4hana", "ZPM_INSP")
    assert table.to_api() == {"name": "ZPM_INSP", "columns": list(table.columns)}
    assert table.to_api(rows=321) == {
        "name": "ZPM_INSP",
        "columns": list(table.columns),
        "rows": 321,
        "custom": True,
    }
    assert AUFK.to_api(rows=5)["custom"] is False
