"""Custom fields over HTTP: CRUD, every 422, the field on records at once (typed, and
filterable), the documented lists, the events, and a documented-only sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from makini_cli.sandbox import unified

from .conftest import ACTIVE_KEY, all_pages, assert_error, bearer, connection_token, token_pair

UPKEEP_KEY = "10000715260448"
FIELDS = f"/api/system/connections/{UPKEEP_KEY}/custom-fields"
INSPECTOR = {
    "entity": "work-orders",
    "name": "inspector",
    "source": "custom_inspections.inspector",
    "type": "string",
}
#: UpKeep's customer table: row n extends work order n.
TYPED = {
    "inspector": ("inspector", "string"),
    "inspectedOn": ("inspected_on", "date"),
    "criticalityScore": ("criticality_score", "number"),
    "safetyPermit": ("safety_permit", "boolean"),
}


def _create(client: httpx.Client, admin: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(FIELDS, json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    field: dict[str, Any] = answer.json()["data"]
    return field


def test_a_field_is_created_listed_changed_and_deleted(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    field = _create(client, admin, {**INSPECTOR, "source": "CUSTOM_INSPECTIONS.Inspector"})
    assert field["key"].startswith("cf_") and len(field["key"]) == 19
    assert {k: v for k, v in field.items() if k not in ("key", "created_at", "updated_at")} == {
        **INSPECTOR,
        "writable": False,  # stored as the system spells it
    }
    asset = _create(
        client,
        admin,
        {"entity": "assets", "name": "model", "source": "assets.model", "type": "string"},
    )
    listed = all_pages(client, FIELDS, admin)
    assert [f["key"] for f in listed] == [asset["key"], field["key"]]  # by entity, then name
    only = all_pages(client, f"{FIELDS}?filter[entity]=work-orders", admin)
    assert only == [field]
    changed = client.patch(
        f"{FIELDS}/{field['key']}", json={"name": "inspectorName", "writable": True}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()["data"]
    # The real clock may tick between create and change: updated_at moves on, never back.
    assert after["updated_at"] >= field["updated_at"]
    assert {**after, "updated_at": None} == {
        **field,
        "name": "inspectorName",
        "writable": True,
        "updated_at": None,
    }
    gone = client.delete(f"{FIELDS}/{field['key']}", headers=admin)
    assert gone.json() == {"data": {"key": field["key"], "deleted": True}}
    assert all_pages(client, FIELDS, admin) == [asset]
    for method in ("PATCH", "DELETE"):
        missing = client.request(
            method,
            f"{FIELDS}/{field['key']}",
            headers=admin,
            json={} if method == "PATCH" else None,
        )
        assert_error(missing, 404, "NOT_FOUND")
    unknown = "/api/system/connections/99999999999999/custom-fields"
    assert_error(client.get(unknown, headers=admin), 404, "NOT_FOUND")
    assert_error(client.post(unknown, json=INSPECTOR, headers=admin), 404, "NOT_FOUND")
    connection = connection_token(client, admin, UPKEEP_KEY)
    assert_error(client.get(FIELDS, headers=connection), 403, "PERMISSION_DENIED")


def _invalid(client: httpx.Client, admin: dict[str, str], **change: Any) -> dict[str, Any]:
    answer = client.post(FIELDS, json={**INSPECTOR, **change}, headers=admin)
    return assert_error(answer, 422, "VALIDATION_FAILED")


def test_each_problem_is_a_422_that_names_what_exists(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    tables = [t["name"] for t in _raw_tables(client, admin)]

    error = _invalid(client, admin, source="INSPECTIONS.INSPECTOR")
    assert list(error["details"]["fields"]) == ["source"]
    assert error["details"]["tables"] == tables
    assert "custom_inspections" in error["message"]

    error = _invalid(client, admin, source="custom_inspections.inspectr")
    assert error["details"]["columns"] == [
        "id",
        "work_order_id",
        "inspector",
        "inspected_on",
        "criticality_score",
        "safety_permit",
    ]

    error = _invalid(client, admin, name="assetModel", source="assets.model")
    assert error["details"]["tables"] == ["work_orders", "custom_inspections"]
    assert "no row per work-orders record" in error["message"]

    error = _invalid(client, admin, source="inspector")
    assert "TABLE.COLUMN" in error["message"]

    existing = _create(client, admin, INSPECTOR)
    error = _invalid(client, admin)  # the same name on the same entity
    assert error["details"]["fields"] == {"name": [error["message"]]}
    assert error["details"]["existing_key"] == existing["key"]
    assert existing["key"] in error["message"]

    error = _invalid(client, admin, name="title")
    assert "standard field" in error["details"]["fields"]["name"][0]
    for name in ("Inspector", "inspector_name", "1st", "x" * 65, ""):
        assert "name" in _invalid(client, admin, name=name)["details"]["fields"], name

    error = _invalid(client, admin, name="grade", type="text")
    assert error["details"]["fields"] == {"type": [error["message"]]}

    error = _invalid(client, admin, entity="sales-orders")
    assert error["details"]["entities"] == list(unified.ENTITIES["eam"])
    assert "source" not in error["details"]["fields"]  # no entity, nothing to source

    # Several problems at once: each field has its own.
    error = _invalid(client, admin, name="Bad", type="text", source="nope.x")
    assert set(error["details"]["fields"]) == {"name", "type", "source"}

    # A change is checked the same way, against the field's own entity.
    other = _create(client, admin, {**INSPECTOR, "name": "other"})
    clash = client.patch(f"{FIELDS}/{other['key']}", json={"name": "inspector"}, headers=admin)
    assert (
        assert_error(clash, 422, "VALIDATION_FAILED")["details"]["existing_key"]
        == (existing["key"])
    )
    keep = client.patch(f"{FIELDS}/{other['key']}", json={"name": "other"}, headers=admin)
    assert keep.status_code == 200, keep.text  # its own name is no clash
    entity = client.patch(f"{FIELDS}/{other['key']}", json={"entity": "assets"}, headers=admin)
    assert_error(entity, 422, "VALIDATION_FAILED")  # an entity is not changed, but recreated
    bad = client.patch(f"{FIELDS}/{other['key']}", json={"source": "assets.model"}, headers=admin)
    assert assert_error(bad, 422, "VALIDATION_FAILED")["details"]["tables"]


def _raw_tables(client: httpx.Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    headers = connection_token(client, admin, UPKEEP_KEY)
    tables: list[dict[str, Any]] = client.get("/api/raw/tables", headers=headers).json()["data"]
    return tables


def test_a_field_shows_at_once_on_records_typed_and_filterable(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = connection_token(client, admin, UPKEEP_KEY)
    before = client.get("/api/eam/work-orders?per_page=3", headers=headers).json()["data"]
    assert all("customFields" not in r for r in before)
    for name, (column, kind) in TYPED.items():
        _create(
            client,
            admin,
            {
                "entity": "work-orders",
                "name": name,
                "source": f"custom_inspections.{column}",
                "type": kind,
            },
        )
    rows = client.get("/api/raw/tables/custom_inspections/data?per_page=50", headers=headers)
    page = client.get("/api/eam/work-orders?per_page=50", headers=headers).json()["data"]
    for record, row in zip(page, rows.json()["data"], strict=True):
        values = record["customFields"]
        assert list(values) == sorted(TYPED)
        for name, (column, kind) in TYPED.items():
            assert values[name] == unified.coerce(row[column], kind), (name, row)
        assert isinstance(values["inspector"], str)
        assert isinstance(values["criticalityScore"], int | float)
        assert isinstance(values["safetyPermit"], bool)
        assert len(values["inspectedOn"]) == 10  # YYYY-MM-DD
        got = client.get(f"/api/eam/work-orders/{record['key']}", headers=headers).json()
        assert got == {"data": record}
    assert page[:3] == [
        {**r, "customFields": page[i]["customFields"]} for i, r in enumerate(before)
    ]
    # Other entities do not carry them.
    asset = client.get("/api/eam/assets?per_page=1", headers=headers).json()["data"][0]
    assert "customFields" not in asset

    inspector = page[0]["customFields"]["inspector"]
    everything = all_pages(client, "/api/eam/work-orders?per_page=500", headers)
    matched = all_pages(
        client,
        f"/api/eam/work-orders?per_page=500&filter[customFields.inspector]={inspector}",
        headers,
    )
    assert matched == [r for r in everything if r["customFields"]["inspector"] == inspector]
    assert 0 < len(matched) < len(everything)
    permitted = all_pages(
        client, "/api/eam/work-orders?per_page=500&filter[customFields.safetyPermit]=true", headers
    )
    assert permitted == [r for r in everything if r["customFields"]["safetyPermit"] is True]
    ranked = all_pages(
        client, "/api/eam/work-orders?per_page=500&sort[customFields.criticalityScore]=1", headers
    )
    scores = [r["customFields"]["criticalityScore"] for r in ranked]
    assert scores == sorted(scores, key=lambda s: (s is not None, s), reverse=True)
    unknown = client.get("/api/eam/work-orders?filter[customFields.nope]=1", headers=headers)
    assert_error(unknown, 400, "INVALID_REQUEST")


def test_a_type_change_retypes_and_a_deletion_removes_the_values(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = connection_token(client, admin, UPKEEP_KEY)
    score = _create(
        client,
        admin,
        {
            "entity": "work-orders",
            "name": "score",
            "source": "custom_inspections.criticality_score",
            "type": "number",
        },
    )
    number = client.get("/api/eam/work-orders?per_page=1", headers=headers).json()["data"][0]
    assert isinstance(number["customFields"]["score"], int | float)
    client.patch(f"{FIELDS}/{score['key']}", json={"type": "string"}, headers=admin)
    text = client.get("/api/eam/work-orders?per_page=1", headers=headers).json()["data"][0]
    assert text["customFields"]["score"] == unified.coerce(
        number["customFields"]["score"], "string"
    )
    client.delete(f"{FIELDS}/{score['key']}", headers=admin)
    gone = client.get("/api/eam/work-orders?per_page=1", headers=headers).json()["data"][0]
    assert "customFields" not in gone
    assert gone == {k: v for k, v in number.items() if k != "customFields"}


def test_the_documented_list_and_its_siblings(client: httpx.Client, admin: dict[str, str]) -> None:
    headers = connection_token(client, admin, UPKEEP_KEY)
    empty = client.get("/api/eam/work-orders/custom-fields", headers=headers).json()
    assert empty["data"] == [] and empty["meta"]["total"] == 0
    field = _create(client, admin, INSPECTOR)
    model = _create(
        client,
        admin,
        {"entity": "assets", "name": "model", "source": "assets.model", "type": "string"},
    )
    listed = client.get("/api/eam/work-orders/custom-fields", headers=headers).json()["data"]
    assert listed == [{"name": "inspector", "type": "string", "key": field["key"]}]
    assets = client.get("/api/eam/assets/custom-fields", headers=headers).json()["data"]
    assert assets == [{"name": "model", "type": "string", "key": model["key"]}]
    for path in unified.ENTITIES["eam"]:
        assert client.get(f"/api/eam/{path}/custom-fields", headers=headers).status_code == 200
    other = client.get("/api/erp/sites/custom-fields", headers=headers)
    assert assert_error(other, 404, "NOT_FOUND")["details"]["entities"] == list(
        unified.ENTITIES["eam"]
    )
    erp = connection_token(client, admin, ACTIVE_KEY)
    assert client.get("/api/erp/products/custom-fields", headers=erp).json()["data"] == []
    assert_error(client.get("/api/eam/work-orders/custom-fields", headers=erp), 404, "NOT_FOUND")


def test_defining_changing_and_removing_a_field_are_events(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    field = _create(client, admin, INSPECTOR)
    changed = client.patch(f"{FIELDS}/{field['key']}", json={"type": "date"}, headers=admin)
    client.patch(f"{FIELDS}/{field['key']}", json={"type": "date"}, headers=admin)  # no change
    client.delete(f"{FIELDS}/{field['key']}", headers=admin)
    logged = all_pages(client, "/api/system/events?per_page=500", admin)
    told = [
        (e["event"], e["connection_key"], e["body"])
        for e in logged
        if e["event"].startswith("custom_field.")
    ]
    assert told == [
        ("custom_field.created", UPKEEP_KEY, field),
        ("custom_field.updated", UPKEEP_KEY, changed.json()["data"]),
        (
            "custom_field.deleted",
            UPKEEP_KEY,
            {"key": field["key"], "entity": "work-orders", "name": "inspector"},
        ),
    ]
    # Webhooks may ask for them.
    hook = client.post(
        "/api/system/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["custom_field.created"]},
        headers=admin,
    )
    assert hook.status_code == 201, hook.text
    filtered = all_pages(client, "/api/system/events?filter[event]=custom_field.deleted", admin)
    assert [e["body"]["key"] for e in filtered] == [field["key"]]


def test_capability_advertised_only_where_served(
    client: httpx.Client, admin: dict[str, str], make_sandbox: Callable[..., httpx.Client]
) -> None:
    capabilities = client.get("/api/system/capabilities", headers=admin).json()["data"]
    assert "custom_fields" in capabilities["extensions"]
    documented = make_sandbox("documented", extensions=False)
    admin = bearer(token_pair(documented)["access_token"])
    headers = connection_token(documented, admin, UPKEEP_KEY)
    for method, path in (
        ("GET", FIELDS),
        ("POST", FIELDS),
        ("PATCH", f"{FIELDS}/cf_0000000000000000"),
        ("DELETE", f"{FIELDS}/cf_0000000000000000"),
        ("GET", "/api/system/capabilities"),
    ):
        answer = documented.request(
            method, path, headers=admin, json=INSPECTOR if method == "POST" else None
        )
        assert_error(answer, 404, "NOT_FOUND")
    assert_error(documented.get("/api/eam/assets/custom-fields", headers=headers), 404, "NOT_FOUND")
    listed = documented.get("/api/eam/work-orders/custom-fields", headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == []


@pytest.mark.parametrize("entity", ["assets", "work-orders"])
def test_a_field_may_come_from_the_entitys_own_table(
    client: httpx.Client, admin: dict[str, str], entity: str
) -> None:
    table = entity.replace("-", "_")
    column = "model" if entity == "assets" else "priority"
    _create(
        client,
        admin,
        {"entity": entity, "name": "extra", "source": f"{table}.{column}", "type": "string"},
    )
    headers = connection_token(client, admin, UPKEEP_KEY)
    rows = client.get(f"/api/raw/tables/{table}/data?per_page=5", headers=headers).json()["data"]
    records = client.get(f"/api/eam/{entity}?per_page=5", headers=headers).json()["data"]
    assert [r["customFields"]["extra"] for r in records] == [
        unified.coerce(row[column], "string") for row in rows
    ]
