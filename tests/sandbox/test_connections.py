"""Connections, metadata, account, status and the seed (contract §4)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from makini_cli.sandbox.clock import ManualClock, iso
from makini_cli.sandbox.platforms import find_platform
from makini_cli.sandbox.store import DB_FILENAME, MIGRATIONS, Store

from .conftest import (
    ACTIVE_KEY,
    OFFLINE_KEY,
    all_pages,
    assert_error,
    bearer,
    connection_token,
    token_pair,
)

NEW_CONNECTION = {
    "name": "Inextia",
    "email": "hey@makini.io",
    "provider": "inextia",
    "credentials": {"api": "https://sample.inextia.dk", "login": "login", "password": "pw"},
}


def _account(client: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/system/account", headers=admin)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()["data"]
    return data


def _connections(client: httpx.Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    return all_pages(client, "/api/system/connections?per_page=500", admin)


def test_seed_is_varied(client: httpx.Client, admin: dict[str, str]) -> None:
    connections = _connections(client, admin)
    assert len(connections) >= 8
    states = Counter((c["status"], c["health"]) for c in connections)
    assert states[("active", "online")] >= 3
    # Makini marks the connection status in an outage: the documented field says it too.
    assert states[("offline", "offline")] == 1
    assert states[("reauth_required", "reauth_required")] == 1
    assert sum(1 for c in connections if c["status"] == "pending") == 1
    assert sum(1 for c in connections if c["status"] == "inactive") == 1
    platforms = [find_platform(c["platform"]) for c in connections]
    assert all(p is not None for p in platforms)
    assert {p.deployment for p in platforms if p} == {"cloud", "on_premises"}
    assert {"cmms", "eam", "erp"} <= {p.kind for p in platforms if p}
    for connection in connections:
        assert len(connection["key"]) == 14 and connection["key"].isdigit()
        # Typed as Makini's schema types them: strings.
        assert isinstance(connection["scopes"], str)
        assert all(scope and "-" not in scope for scope in connection["scopes"].split(","))
        assert isinstance(connection["tags"], list)
        assert isinstance(json.loads(connection["user_metadata"]), dict)
    account = _account(client, admin)
    assert account["connections"] == len(connections)
    assert account["credits_used"] == sum(c["credits"] for c in connections)
    assert account["credits_total"] == 60


def test_pagination_envelope_and_links(client: httpx.Client, admin: dict[str, str]) -> None:
    first = client.get("/api/system/connections?per_page=4", headers=admin)
    assert first.status_code == 200
    body = first.json()
    assert len(body["data"]) == 4
    total = body["meta"]["total"]
    assert body["meta"] == {
        "current_page": 1,
        "from": 1,
        "last_page": -(-total // 4),
        "path": str(client.base_url.join("/api/system/connections")),
        "per_page": 4,
        "to": 4,
        "total": total,
    }
    assert body["links"]["prev"] is None
    assert body["links"]["first"].startswith("http://127.0.0.1:")
    second = client.get(body["links"]["next"], headers=admin).json()
    assert second["meta"]["current_page"] == 2
    assert second["meta"]["from"] == 5
    assert {c["key"] for c in second["data"]}.isdisjoint({c["key"] for c in body["data"]})
    assert len(all_pages(client, "/api/system/connections?per_page=2", admin)) == total
    beyond = client.get("/api/system/connections?page=99", headers=admin).json()
    assert beyond["data"] == [] and beyond["meta"]["from"] is None


def test_bad_page_parameters(client: httpx.Client, admin: dict[str, str]) -> None:
    path = "/api/system/connections"
    error = assert_error(
        client.get(path, params={"per_page": 501}, headers=admin), 422, "VALIDATION_FAILED"
    )
    assert "per_page" in error["details"]["fields"]
    assert client.get(path, params={"per_page": 500}, headers=admin).status_code == 200
    assert_error(
        client.get(path, params={"per_page": "ten"}, headers=admin), 422, "VALIDATION_FAILED"
    )
    assert_error(client.get(path, params={"page": 0}, headers=admin), 422, "VALIDATION_FAILED")


def test_filters_and_sorting(client: httpx.Client, admin: dict[str, str]) -> None:
    def keys(params: dict[str, str]) -> list[str]:
        response = client.get("/api/system/connections", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [c["key"] for c in response.json()["data"]]

    everything = _connections(client, admin)
    assert keys({"filter[health]": "offline"}) == [OFFLINE_KEY]
    sap = keys({"filter[integration_name:startsWith]": "sap"})
    assert sap and all(c["platform"].startswith("sap") for c in everything if c["key"] in sap)
    assert keys({"filter[name:contains]": "PAPER"}) == [OFFLINE_KEY]
    either = keys({"filter[health]": "offline", "filter[status]": "pending", "filterMatch": "any"})
    assert len(either) == 2
    both = keys({"filter[health]": "offline", "filter[status]": "pending"})
    assert both == []
    assert set(keys({"filter[tags]": "production"})) == {
        c["key"] for c in everything if "production" in c["tags"]
    }
    assert set(keys({"filter[credits:gteq]": "4"})) == {
        c["key"] for c in everything if c["credits"] >= 4
    }
    # Makini's misspelling `lted` means `lteq`.
    assert keys({"filter[credits:lted]": "1"}) == keys({"filter[credits:lteq]": "1"})
    old = keys({"filter[created_at:lt]": everything[0]["created_at"]})
    assert set(old) == {
        c["key"] for c in everything if c["created_at"] < everything[0]["created_at"]
    }
    by_name = [
        c["name"]
        for c in client.get(
            "/api/system/connections", params={"sort[name]": "1"}, headers=admin
        ).json()["data"]
    ]
    assert by_name == sorted(by_name, reverse=True)
    by_credits_then_key = keys({"sort[credits]": "0", "sort[key]": "1"})
    expected = sorted(everything, key=lambda c: c["key"], reverse=True)
    expected.sort(key=lambda c: c["credits"])
    assert by_credits_then_key == [c["key"] for c in expected]


def test_bad_filters_name_the_field(client: httpx.Client, admin: dict[str, str]) -> None:
    error = assert_error(
        client.get("/api/system/connections", params={"filter[colour]": "red"}, headers=admin),
        400,
        "INVALID_REQUEST",
    )
    assert "colour" in error["message"]
    assert error["details"]["field"] == "colour"
    for params in (
        {"filter[name:near]": "x"},
        {"sort[name]": "up"},
        {"sort[colour]": "1"},
        {"filterMatch": "some"},
        {"filter[credits:gt]": "lots"},
    ):
        assert_error(
            client.get("/api/system/connections", params=params, headers=admin),
            400,
            "INVALID_REQUEST",
        )


def test_platforms_are_listed_with_tiers_and_credits(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    platforms = all_pages(client, "/api/system/platforms?per_page=5", admin)
    by_key = {p["key"]: p for p in platforms}
    assert by_key["sap-s4hana"]["credits"] == 4
    assert by_key["sap-ecc"]["credits"] == 8
    assert by_key["upkeep"]["credits"] == 1
    erp = client.get("/api/system/platforms", params={"filter[kind]": "erp"}, headers=admin).json()[
        "data"
    ]
    assert erp and all(p["kind"] == "erp" for p in erp)


def test_create_consumes_credits_and_answers_a_connection_pair(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    before = _account(client, admin)
    response = client.post("/api/system/connections", json=NEW_CONNECTION, headers=admin)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"access_token", "refresh_token", "expires_in", "key"}
    assert len(data["key"]) == 14 and data["key"].isdigit()
    after = _account(client, admin)
    assert after["credits_used"] == before["credits_used"] + 1
    assert after["connections"] == before["connections"] + 1
    created = client.get(f"/api/system/connections/{data['key']}", headers=admin).json()["data"]
    # Makini's lifecycle: synchronizing while the first sync runs, then active.
    assert (created["status"], created["health"], created["platform"]) == (
        "synchronizing",
        "online",
        "inextia",
    )
    assert created["connected_at"] is not None
    assert client.get(
        "/api/integrations/sync/status", headers=bearer(data["access_token"])
    ).json() == {"status": "inprogress"}


def test_a_new_connection_is_active_once_its_first_sync_ends(
    make_sandbox: Any, manual_clock: ManualClock
) -> None:
    client = make_sandbox("lifecycle", clock=manual_clock)
    admin = bearer(token_pair(client)["access_token"])
    data = client.post("/api/system/connections", json=NEW_CONNECTION, headers=admin).json()["data"]
    path = f"/api/system/connections/{data['key']}"
    assert client.get(path, headers=admin).json()["data"]["status"] == "synchronizing"
    manual_clock.advance(600)
    assert client.get(path, headers=admin).json()["data"]["status"] == "active"
    current = client.get("/api/integrations/current", headers=bearer(data["access_token"]))
    assert current.json()["data"]["id"] == data["key"]


def test_beyond_the_credits_a_connection_is_created_inactive(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    on_prem_sap = {**NEW_CONNECTION, "provider": "sap-ecc"}
    account = _account(client, admin)
    available = account["credits_total"] - account["credits_used"]
    for _ in range(available // 8):
        assert client.post("/api/system/connections", json=on_prem_sap, headers=admin).is_success
    # Makini's credits page: not refused, but created inactive, holding no credits.
    response = client.post("/api/system/connections", json=on_prem_sap, headers=admin)
    assert response.status_code == 200, response.text
    key = response.json()["data"]["key"]
    created = client.get(f"/api/system/connections/{key}", headers=admin).json()["data"]
    assert (created["status"], created["credits"]) == ("inactive", 0)
    assert _account(client, admin)["credits_used"] == account["credits_total"] - available % 8
    error = assert_error(
        client.post(f"/api/system/connections/{key}/syncs", json={}, headers=admin),
        402,
        "INSUFFICIENT_CREDITS",
    )
    assert error["details"] == {"status": "inactive"}


def test_on_a_paid_plan_a_connection_beyond_the_credits_runs_as_overage(
    make_sandbox: Any,
) -> None:
    paid = make_sandbox("paid", plan="paid")
    admin = bearer(token_pair(paid)["access_token"])
    on_prem_sap = {**NEW_CONNECTION, "provider": "sap-ecc"}
    keys = [
        paid.post("/api/system/connections", json=on_prem_sap, headers=admin).json()["data"]["key"]
        for _ in range(20)  # the seeded account has fewer than 160 credits left
    ]
    paid.post("/sandbox/clock", json={"advance_seconds": 3600}, headers=admin)
    statuses = [
        paid.get(f"/api/system/connections/{key}", headers=admin).json()["data"]["status"]
        for key in keys
    ]
    assert statuses[0] == "active"
    assert statuses[-1] == "overage"
    account = _account(paid, admin)
    assert account["credits_used"] > account["credits_total"]


def test_create_validates_its_body(client: httpx.Client, admin: dict[str, str]) -> None:
    path = "/api/system/connections"
    error = assert_error(
        client.post(path, json={**NEW_CONNECTION, "provider": "nosuch"}, headers=admin),
        422,
        "VALIDATION_FAILED",
    )
    assert "provider" in error["details"]["fields"]
    error = assert_error(
        client.post(path, json={"name": "x", "email": "not-an-email"}, headers=admin),
        422,
        "VALIDATION_FAILED",
    )
    assert {"provider", "credentials"} <= set(error["details"]["fields"])
    error = assert_error(
        client.post(
            path,
            json={**NEW_CONNECTION, "email": "nope", "credentials": {"api": "https://x"}},
            headers=admin,
        ),
        422,
        "VALIDATION_FAILED",
    )
    assert set(error["details"]["fields"]) == {
        "email",
        "credentials.login",
        "credentials.password",
    }
    # A known label in another case names the same platform.
    labelled = {**NEW_CONNECTION, "provider": "MAINTAIN-X", "credentials": {"api_token": "t"}}
    assert client.post(path, json=labelled, headers=admin).status_code == 200
    assert_error(client.post(path, json=[1, 2], headers=admin), 422, "VALIDATION_FAILED")


def test_delete_returns_credits_and_revokes_tokens(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    before = _account(client, admin)
    connection = connection_token(client, admin, ACTIVE_KEY)
    assert client.get("/api/integrations/current", headers=connection).is_success
    response = client.delete(f"/api/system/connections/{ACTIVE_KEY}", headers=admin)
    assert response.status_code == 200
    assert response.json() == {"data": {"key": ACTIVE_KEY, "deleted": True}}
    after = _account(client, admin)
    assert after["credits_used"] == before["credits_used"] - 4
    assert after["connections"] == before["connections"] - 1
    assert_error(
        client.get("/api/integrations/current", headers=connection), 401, "AUTHENTICATION_FAILED"
    )
    assert_error(
        client.get(f"/api/system/connections/{ACTIVE_KEY}", headers=admin), 404, "NOT_FOUND"
    )
    assert_error(
        client.delete(f"/api/system/connections/{ACTIVE_KEY}", headers=admin), 404, "NOT_FOUND"
    )
    assert ACTIVE_KEY not in {c["key"] for c in _connections(client, admin)}


def test_deleting_a_created_connection_kills_its_refresh_token(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    data = client.post("/api/system/connections", json=NEW_CONNECTION, headers=admin).json()["data"]
    client.delete(f"/api/system/connections/{data['key']}", headers=admin)
    response = client.post(
        "/link/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": data["refresh_token"],
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
        },
    )
    assert_error(response, 401, "AUTHENTICATION_FAILED")


def _user_metadata(view: dict[str, Any]) -> dict[str, str]:
    metadata: dict[str, str] = json.loads(view["user_metadata"])
    return metadata


def test_metadata_set_get_and_remove(client: httpx.Client, admin: dict[str, str]) -> None:
    path = f"/api/system/connections/{ACTIVE_KEY}/metadata"
    listed = client.get(path, headers=admin).json()
    # Makini's ConnectionMetadata: the connection (without tags), its metadata a string.
    assert listed["meta"]["total"] == 1
    (view,) = listed["data"]
    assert view["key"] == ACTIVE_KEY and "tags" not in view and "health" not in view
    assert _user_metadata(view) == {"customer_id": "CUST-1001", "region": "eu-west"}
    response = client.post(path, json=[{"key": "plan", "value": "gold"}], headers=admin)
    assert response.status_code == 200
    assert _user_metadata(response.json()["data"]) == {
        "customer_id": "CUST-1001",
        "region": "eu-west",
        "plan": "gold",
    }
    # The schema's values are strings: null removes nothing; the (ext) DELETE does.
    assert_error(
        client.post(path, json=[{"key": "region", "value": None}], headers=admin),
        422,
        "VALIDATION_FAILED",
    )
    removed = client.delete(f"{path}/region", headers=admin)
    assert removed.status_code == 200, removed.text
    assert _user_metadata(removed.json()["data"]) == {"customer_id": "CUST-1001", "plan": "gold"}
    assert_error(client.delete(f"{path}/region", headers=admin), 404, "NOT_FOUND")
    connection = client.get(f"/api/system/connections/{ACTIVE_KEY}", headers=admin).json()
    assert _user_metadata(connection["data"]) == {"customer_id": "CUST-1001", "plan": "gold"}
    assert_error(client.post(path, json={"key": "x"}, headers=admin), 422, "VALIDATION_FAILED")
    assert_error(
        client.post(path, json=[{"key": "", "value": "x"}], headers=admin),
        422,
        "VALIDATION_FAILED",
    )
    assert_error(
        client.get("/api/system/connections/00000000000000/metadata", headers=admin),
        404,
        "NOT_FOUND",
    )


def test_connection_token_and_integrations_current(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    connection = connection_token(client, admin, OFFLINE_KEY)
    current = client.get("/api/integrations/current", headers=connection)
    assert current.status_code == 200
    assert current.json()["data"] == {
        "id": OFFLINE_KEY,
        "company_name": "Nordic Paper Mill – SAP ECC",
        "email": "it@nordicpaper.example.com",
        "provider": "sap-ecc",
        "sync_status": "error",
        "sync_updated_at": current.json()["data"]["sync_updated_at"],
        "updated_at": current.json()["data"]["updated_at"],
    }
    assert_error(
        client.post("/api/system/connections/00000000000000/token", headers=admin),
        404,
        "NOT_FOUND",
    )


def test_self_disconnect_with_a_connection_token(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    connection = connection_token(client, admin, ACTIVE_KEY)
    gone = client.delete("/api/integrations/current", headers=connection)
    assert gone.status_code == 200
    assert gone.json() == {"data": {"key": ACTIVE_KEY, "deleted": True}}
    assert_error(
        client.get(f"/api/system/connections/{ACTIVE_KEY}", headers=admin), 404, "NOT_FOUND"
    )


def test_status_reports_health_and_errors(client: httpx.Client, admin: dict[str, str]) -> None:
    offline = client.get(f"/api/system/connections/{OFFLINE_KEY}/status", headers=admin)
    assert offline.status_code == 200
    data = offline.json()["data"]
    assert set(data) == {
        "key",
        "name",
        "platform",
        "status",
        "health",
        "health_since",
        "sync_status",
        "last_sync_at",
        "last_successful_sync_at",
        "next_sync_at",
        "error",
        "checked_at",
    }
    assert data["health"] == "offline"
    assert data["error"]["code"] == "SYSTEM_UNREACHABLE"
    healthy = client.get(f"/api/system/connections/{ACTIVE_KEY}/status", headers=admin).json()
    assert healthy["data"]["error"] is None
    assert healthy["data"]["sync_status"] == "done"


def test_client_record(client: httpx.Client, admin: dict[str, str]) -> None:
    data = client.get("/api/system/client", headers=admin).json()["data"]
    assert set(data) == {"id", "name", "logo_url", "email", "default_redirect", "redirects"}
    assert data["id"] == "sandbox-client"
    assert data["default_redirect"] in data["redirects"]


def test_reset_restores_the_seed_and_keeps_admin_tokens(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    seeded = [c["key"] for c in _connections(client, admin)]
    client.delete(f"/api/system/connections/{ACTIVE_KEY}", headers=admin)
    client.post("/api/system/connections", json=NEW_CONNECTION, headers=admin)
    response = client.post("/sandbox/reset", headers=admin)
    assert response.status_code == 200
    assert [c["key"] for c in _connections(client, admin)] == seeded
    assert token_pair(client)["access_token"]


def test_seed_is_deterministic(make_sandbox: Any) -> None:
    def snapshot(name: str) -> list[tuple[Any, ...]]:
        client = make_sandbox(name)
        admin = bearer(token_pair(client)["access_token"])
        return [
            (c["key"], c["name"], c["platform"], c["status"], c["health"], c["user_metadata"])
            for c in _connections(client, admin)
        ]

    assert snapshot("one") == snapshot("two")


STATUS_EXT_FIELDS = ("sync_status", "error", "health_since")


def test_list_get_and_status_say_the_same_sync_state_error_and_health_since(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    listed = {c["key"]: c for c in _connections(client, admin)}
    for key, connection in listed.items():
        got = client.get(f"/api/system/connections/{key}", headers=admin).json()["data"]
        status = client.get(f"/api/system/connections/{key}/status", headers=admin).json()["data"]
        assert got == connection
        for field in (*STATUS_EXT_FIELDS, "name", "platform", "status", "health"):
            assert status[field] == connection[field], (key, field)
    offline = listed[OFFLINE_KEY]
    assert offline["sync_status"] == "error"
    assert offline["error"] == {
        "code": "SYSTEM_UNREACHABLE",
        "message": "The connected system does not answer.",
    }
    # Down since its outage began: the seed's outage starts at its last successful sync.
    assert offline["health_since"] == offline["last_successful_sync_at"]
    assert listed[ACTIVE_KEY]["error"] is None
    assert listed[ACTIVE_KEY]["health_since"] == listed[ACTIVE_KEY]["created_at"]
    pending = next(c for c in listed.values() if c["status"] == "pending")
    assert pending["health"] is None and pending["health_since"] is None
    # `error` is an object: filtered and sorted on by its code.
    rejected = all_pages(
        client,
        "/api/system/connections?filter[error.code]=REAUTHORIZATION_REQUIRED&sort[error.code]=0",
        admin,
    )
    assert [c["health"] for c in rejected] == ["reauth_required"]


def test_health_since_is_the_creation_then_each_health_change(make_sandbox: Any) -> None:
    clock = ManualClock()
    client = make_sandbox("since", clock=clock)
    admin = bearer(token_pair(client)["access_token"])
    created = client.post("/api/system/connections", json=NEW_CONNECTION, headers=admin)
    key = created.json()["data"]["key"]

    def since() -> str:
        data = client.get(f"/api/system/connections/{key}", headers=admin).json()["data"]
        status = client.get(f"/api/system/connections/{key}/status", headers=admin).json()
        assert status["data"]["health_since"] == data["health_since"]
        return str(data["health_since"])

    born = since()
    assert born == iso(clock.now().timestamp())
    clock.advance(600)  # its first sync ends: no health change
    assert since() == born
    clock.advance(60)
    client.post(f"/sandbox/connections/{key}/break-credentials", headers=admin)
    broken = since()
    assert broken == iso(clock.now().timestamp()) and broken != born
    clock.advance(60)
    client.post(f"/sandbox/connections/{key}/break-credentials", headers=admin)  # no change
    assert since() == broken
    client.post(f"/sandbox/connections/{key}/fix-credentials", headers=admin)
    assert since() == iso(clock.now().timestamp())


def test_without_extensions_the_connection_has_only_documented_fields(make_sandbox: Any) -> None:
    client = make_sandbox("documented", extensions=False)
    admin = bearer(token_pair(client)["access_token"])
    for connection in _connections(client, admin):
        assert not set(STATUS_EXT_FIELDS) & set(connection)
        assert "health" not in connection


def test_an_older_data_dir_learns_when_each_health_began(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = sqlite3.connect(data / DB_FILENAME, isolation_level=None)
    for script in MIGRATIONS[:9]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 9")
    rows = {
        # key: (health, created_at, last_successful_sync_at)
        "told": ("online", 100.0, 500.0),
        "down": ("offline", 100.0, 500.0),
        "down-no-outage": ("offline", 100.0, 500.0),
        "rejected": ("reauth_required", 100.0, 500.0),
        "never-synced": ("reauth_required", 100.0, None),
        "online": ("online", 100.0, 500.0),
        "pending": (None, 100.0, None),
    }
    for key, (health, created, success) in rows.items():
        conn.execute(
            "INSERT INTO connections (key, name, email, status, platform, health, created_at,"
            " updated_at, last_successful_sync_at) VALUES (?, 'n', 'e', 'active', 'inextia', ?,"
            " ?, ?, ?)",
            (key, health, created, created, success),
        )
    conn.execute("INSERT INTO outages (connection_key, started_at) VALUES ('down', 700.0)")
    conn.execute(
        "INSERT INTO events (id, event, connection_key, created_at, body) VALUES"
        " ('evt_1', 'connection.status_changed', 'told', 800.0, '{}'),"
        " ('evt_2', 'connection.status_changed', 'told', 900.0, '{}'),"
        " ('evt_3', 'sync.completed', 'online', 950.0, '{}')"
    )
    conn.close()
    store = Store.open(data)
    with store.connection() as opened:
        found = dict(opened.execute("SELECT key, health_since FROM connections").fetchall())
    store.close()
    assert found == {
        "told": 900.0,  # its last health change
        "down": 700.0,  # its outage's start
        "down-no-outage": 500.0,  # its last successful sync: the system answered then
        "rejected": 500.0,
        "never-synced": 100.0,  # its creation
        "online": 100.0,
        "pending": None,  # no health, so no start of it
    }
