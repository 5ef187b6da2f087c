"""Raw tables, their rows and passthrough, against a real sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from makini_cli.sandbox.platforms import get_platform

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
    assert 20 <= len(rows) <= 60
    assert all(list(row) == list(get_platform("sap-s4hana").raw_tables["AUFK"]) for row in rows)
    assert len({row["AUFNR"] for row in rows}) == len(rows)
    assert all(row["AEDAT"].endswith("Z") for row in rows)

    paged = all_pages(client, "/api/raw/tables/AUFK/data?per_page=7", headers)
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
