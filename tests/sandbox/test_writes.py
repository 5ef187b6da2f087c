"""Documented writes of work orders and assets: each platform's required fields and
reference checks, the platforms that take no writes, and what a write does (the record,
its times, its event, idempotency, writable custom fields)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from makini_cli.sandbox.clock import ManualClock, iso

from .conftest import ACTIVE_KEY, all_pages, assert_error, bearer, connection_token, token_pair

UPKEEP_KEY = "10000715260448"
MAXIMO_KEY = "10000604159337"
INFOR_KEY = "10001048593771"
EMAINT_KEY = "10001260715993"


class Sandbox:
    def __init__(self, client: httpx.Client, clock: ManualClock) -> None:
        self.client, self.clock = client, clock
        self.admin = bearer(token_pair(client)["access_token"])

    def token(self, key: str) -> dict[str, str]:
        return connection_token(self.client, self.admin, key)

    def connect(self, provider: str, credentials: dict[str, str]) -> dict[str, str]:
        """A new connection to `provider`; its connection token."""
        answer = self.client.post(
            "/api/system/connections",
            json={
                "name": f"Writes – {provider}",
                "email": "ops@example.com",
                "provider": provider,
                "credentials": credentials,
            },
            headers=self.admin,
        )
        assert answer.status_code == 200, answer.text
        return bearer(answer.json()["data"]["access_token"])

    def first(self, headers: dict[str, str], path: str) -> dict[str, Any]:
        record: dict[str, Any] = self.client.get(f"{path}?per_page=1", headers=headers).json()[
            "data"
        ][0]
        return record

    def now(self) -> str:
        stamp = iso(self.clock.now().timestamp())
        assert stamp is not None
        return stamp


@pytest.fixture
def sandbox(make_sandbox: Callable[..., httpx.Client], manual_clock: ManualClock) -> Sandbox:
    return Sandbox(make_sandbox("writes", clock=manual_clock), manual_clock)


def _required(answer: httpx.Response, platform: str) -> set[str]:
    error = assert_error(answer, 422, "VALIDATION_FAILED")
    fields: dict[str, list[str]] = error["details"]["fields"]
    assert all(problems == [f"is required by {platform}"] for problems in fields.values())
    return set(fields)


def test_each_platform_requires_its_own_fields(sandbox: Sandbox) -> None:
    client = sandbox.client
    tokens = {
        "UpKeep": sandbox.token(UPKEEP_KEY),
        "eMaint": sandbox.token(EMAINT_KEY),
        "Infor EAM": sandbox.token(INFOR_KEY),
        "MaintainX": sandbox.connect("maintainx", {"api_token": "t"}),
        "ServiceChannel": sandbox.connect("servicechannel", {"api_token": "t"}),
        "Fiix": sandbox.connect(
            "fiix", {"api": "https://fiix.example.com", "login": "l", "password": "p"}
        ),
    }
    expected = {
        "UpKeep": {"assetKey", "title", "severity", "scheduledAt"},
        "eMaint": {"assetKey", "title", "scheduledAt"},
        "Infor EAM": {"assetKey", "title"},
        "MaintainX": {"siteKey", "title"},
        "ServiceChannel": {
            "organizationKey",
            "siteKey",
            "accountKey",
            "title",
            "description",
            "severity",
            "scheduledAt",
        },
        "Fiix": {"title"},
    }
    for platform, headers in tokens.items():
        answer = client.post("/api/eam/work-orders", json={}, headers=headers)
        assert _required(answer, platform) == expected[platform], platform
        # Blank is missing too.
        blank = client.post("/api/eam/work-orders", json={"title": "  "}, headers=headers)
        assert "title" in _required(blank, platform)
        # POST assets needs a name everywhere; PUT assets only on Infor EAM.
        assert _required(client.post("/api/eam/assets", json={}, headers=headers), platform) == {
            "name"
        }
        asset = sandbox.first(headers, "/api/eam/assets")["key"]
        put = client.put(f"/api/eam/assets/{asset}", json={}, headers=headers)
        if platform == "Infor EAM":
            assert _required(put, platform) == {"name"}
        else:
            assert put.status_code == 200, (platform, put.text)


def test_platforms_without_writes_refuse_them(sandbox: Sandbox) -> None:
    client = sandbox.client
    maximo = sandbox.token(MAXIMO_KEY)
    brightly = sandbox.connect(
        "brightly", {"api": "https://brightly.example.com", "login": "l", "password": "p"}
    )
    order = sandbox.first(maximo, "/api/eam/work-orders")["key"]
    for headers, platform, name in (
        (maximo, "ibm-maximo", "IBM Maximo"),
        (brightly, "brightly", "Brightly"),
    ):
        for method, path, entity in (
            ("POST", "/api/eam/work-orders", "work-orders"),
            ("POST", "/api/eam/assets", "assets"),
            ("PUT", f"/api/eam/work-orders/{order}", "work-orders"),
            ("PUT", f"/api/eam/work-orders/{order}/status", "work-orders"),
        ):
            answer = client.request(method, path, json={"title": "x"}, headers=headers)
            error = assert_error(answer, 400, "INVALID_REQUEST")
            assert error["details"] == {"platform": platform, "entity": entity}
            assert (
                error["message"].startswith(name) and "does not accept writes" in error["message"]
            )
    # An ERP system has no work orders at all.
    erp = sandbox.token(ACTIVE_KEY)
    answer = client.post("/api/eam/work-orders", json={"title": "x"}, headers=erp)
    assert assert_error(answer, 404, "NOT_FOUND")["details"]["category"] == "erp"


def test_references_and_types_are_checked(sandbox: Sandbox) -> None:
    client = sandbox.client
    headers = sandbox.token(UPKEEP_KEY)
    asset = sandbox.first(headers, "/api/eam/assets")["key"]
    site = sandbox.first(headers, "/api/eam/sites")["key"]
    other = sandbox.first(sandbox.token(INFOR_KEY), "/api/eam/assets")["key"]
    valid = {"title": "Inspect", "assetKey": asset, "severity": "high", "scheduledAt": "2025-02-01"}
    for change, field, problem in (
        ({"assetKey": site}, "assetKey", "names no asset"),  # a site's key
        ({"assetKey": other}, "assetKey", "names no asset"),  # another connection's
        ({"siteKey": asset}, "siteKey", "names no site"),
        ({"locationKey": "17000000000000"}, "locationKey", "names no location"),
        ({"title": 5}, "title", "must be a string"),
        ({"scheduledAt": "next tuesday"}, "scheduledAt", "ISO-8601"),
        ({"customFields": {"nope": 1}}, "customFields.nope", "not a custom field"),
    ):
        answer = client.post("/api/eam/work-orders", json={**valid, **change}, headers=headers)
        error = assert_error(answer, 422, "VALIDATION_FAILED")
        assert list(error["details"]["fields"]) == [field], change
        assert problem in error["details"]["fields"][field][0]
    not_an_object = client.post("/api/eam/work-orders", json=["title"], headers=headers)
    assert_error(not_an_object, 422, "VALIDATION_FAILED")
    missing = client.put("/api/eam/work-orders/03000000000000", json={}, headers=headers)
    assert_error(missing, 404, "NOT_FOUND")
    no_status = sandbox.first(headers, "/api/eam/work-orders")["key"]
    answer = client.put(f"/api/eam/work-orders/{no_status}/status", json={}, headers=headers)
    assert list(assert_error(answer, 422, "VALIDATION_FAILED")["details"]["fields"]) == [
        "statusKey"
    ]


def test_a_write_makes_the_record_and_tells_of_it(sandbox: Sandbox) -> None:
    client = sandbox.client
    headers = sandbox.token(UPKEEP_KEY)
    asset = sandbox.first(headers, "/api/eam/assets")["key"]
    location = sandbox.first(headers, "/api/eam/locations")["key"]
    total = client.get("/api/eam/work-orders?per_page=1", headers=headers).json()["meta"]["total"]
    just_before = sandbox.now()
    sandbox.clock.advance(60)
    created_at = sandbox.now()
    body = {
        "title": "Replace seal on pump P-101",
        "assetKey": asset,
        "locationKey": location,
        "severity": "high",
        "scheduledAt": "2025-02-01",
        "organizationKey": "ORG-1",  # not a field of the record: accepted, not kept
        "key": "99999999999999",  # set by the system
    }
    answer = client.post("/api/eam/work-orders", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    record = answer.json()["data"]
    key = record["key"]
    assert key[:6] == asset.replace("02", "03", 1)[:6] and int(key[6:]) == total + 1
    assert record == {
        "key": key,
        "locationKey": location,
        "assetKey": asset,
        "title": body["title"],
        "severity": "high",
        "scheduledAt": "2025-02-01T00:00:00Z",
        "createdAt": created_at,
        "updatedAt": created_at,
    }
    assert client.get(f"/api/eam/work-orders/{key}", headers=headers).json() == {"data": record}
    listed = client.get(f"/api/eam/work-orders?modified_after={just_before}", headers=headers)
    assert listed.json()["data"] == [record]
    last = client.get(f"/api/eam/work-orders?per_page=1&page={total + 1}", headers=headers)
    assert last.json()["data"] == [record]

    sandbox.clock.advance(60)
    changed_at = sandbox.now()
    put = client.put(
        f"/api/eam/work-orders/{key}",
        json={"title": "Replace seal and bearing", "severity": None},
        headers=headers,
    )
    assert put.status_code == 200, put.text
    changed = put.json()["data"]
    assert changed["title"] == "Replace seal and bearing"
    assert "severity" not in changed  # blanked: removed
    assert (changed["createdAt"], changed["updatedAt"]) == (created_at, changed_at)
    status = client.put(
        f"/api/eam/work-orders/{key}/status", json={"statusKey": "in_progress"}, headers=headers
    )
    assert status.json()["data"]["status"] == "in_progress"

    # A base record changes the same way.
    base = sandbox.first(headers, "/api/eam/assets")
    renamed = client.put(
        f"/api/eam/assets/{base['key']}", json={"name": "Pump P-1"}, headers=headers
    )
    assert renamed.json()["data"] == {**base, "name": "Pump P-1", "updatedAt": changed_at}
    new_asset = client.post("/api/eam/assets", json={"name": "Pump P-2"}, headers=headers)
    assert new_asset.status_code == 201, new_asset.text

    logged = all_pages(
        client, f"/api/system/events?filter[connection_key]={UPKEEP_KEY}", sandbox.admin
    )
    told = [(e["event"], e["body"], e["created_at"]) for e in logged]
    assert told == [
        ("work_orders.inserted", [key], created_at),
        ("work_orders.updated", [key], changed_at),
        ("work_orders.updated", [key], changed_at),
        ("assets.updated", [base["key"]], changed_at),
        ("assets.inserted", [new_asset.json()["data"]["key"]], changed_at),
    ]


def test_a_repeated_post_with_its_idempotency_key_creates_once(sandbox: Sandbox) -> None:
    client = sandbox.client
    headers = {**sandbox.token(EMAINT_KEY), "Idempotency-Key": "wo-create-1"}
    asset = sandbox.first(headers, "/api/eam/assets")["key"]
    body = {"title": "Grease conveyor", "assetKey": asset, "scheduledAt": "2025-03-01T08:00:00Z"}
    first = client.post("/api/eam/work-orders", json=body, headers=headers)
    again = client.post("/api/eam/work-orders", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    logged = all_pages(
        client, "/api/system/events?filter[event]=work_orders.inserted", sandbox.admin
    )
    assert [e["body"] for e in logged] == [[first.json()["data"]["key"]]]


def test_writable_custom_fields_take_values(sandbox: Sandbox) -> None:
    client = sandbox.client
    headers = sandbox.token(UPKEEP_KEY)
    fields = f"/api/system/connections/{UPKEEP_KEY}/custom-fields"
    source = "custom_inspections.criticality_score"
    for name, writable in (("score", True), ("fixedScore", False)):
        created = client.post(
            fields,
            json={
                "entity": "work-orders",
                "name": name,
                "source": source,
                "type": "number",
                "writable": writable,
            },
            headers=sandbox.admin,
        )
        assert created.status_code == 201, created.text
    asset = sandbox.first(headers, "/api/eam/assets")["key"]
    body = {"title": "Check", "assetKey": asset, "severity": "low", "scheduledAt": "2025-02-01"}
    made = client.post(
        "/api/eam/work-orders", json={**body, "customFields": {"score": "7.5"}}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["data"]["customFields"] == {"fixedScore": None, "score": 7.5}
    refused = client.post(
        "/api/eam/work-orders", json={**body, "customFields": {"fixedScore": 1}}, headers=headers
    )
    error = assert_error(refused, 422, "VALIDATION_FAILED")
    assert "read-only" in error["details"]["fields"]["customFields.fixedScore"][0]
    wrong = client.post(
        "/api/eam/work-orders", json={**body, "customFields": {"score": "high"}}, headers=headers
    )
    assert assert_error(wrong, 422, "VALIDATION_FAILED")["details"]["fields"] == {
        "customFields.score": ["must be a number"]
    }
    # On a record made from the raw rows, the value written wins over the row's.
    base = sandbox.first(headers, "/api/eam/work-orders")
    put = client.put(
        f"/api/eam/work-orders/{base['key']}", json={"customFields": {"score": 3}}, headers=headers
    )
    assert put.json()["data"]["customFields"] == {**base["customFields"], "score": 3}
