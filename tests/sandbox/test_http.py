"""The HTTP plumbing: error envelope, headers, rate limit, idempotency, faults, extensions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox.clock import ManualClock
from makini_cli.sandbox.control_token import HEADER, read_token

from .conftest import ACTIVE_KEY, assert_error, bearer, connection_token, token_pair

NEW_CONNECTION = {
    "name": "Fiix plant 2",
    "email": "ops@example.com",
    "provider": "fiix",
    "credentials": {"api": "https://fiix.example.com", "login": "a", "password": "b"},
}


def test_every_answer_has_request_id_and_rate_limit_headers(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    response = client.get("/api/system/client", headers=admin)
    assert response.headers["X-Request-Id"].startswith("req_")
    assert response.headers["X-RateLimit-Limit"] == "600"
    assert int(response.headers["X-RateLimit-Remaining"]) < 600
    assert int(response.headers["X-RateLimit-Reset"]) > 1_600_000_000
    other = client.get("/api/system/client", headers=admin)
    assert other.headers["X-Request-Id"] != response.headers["X-Request-Id"]


def test_every_error_has_the_envelope(client: httpx.Client, admin: dict[str, str]) -> None:
    json_type = {"Content-Type": "application/json", **admin}
    cases: list[tuple[httpx.Response, int, str]] = [
        (client.get("/no/such/route"), 404, "NOT_FOUND"),
        (client.get("/api/system/nothing", headers=admin), 404, "NOT_FOUND"),
        (client.put("/api/system/connections", headers=admin), 405, "INVALID_REQUEST"),
        (client.get("/api/system/client"), 401, "AUTHENTICATION_FAILED"),
        (
            client.post("/api/system/connections", content=b'{"name": ', headers=json_type),
            400,
            "INVALID_REQUEST",
        ),
        (
            client.post(
                f"/api/system/connections/{ACTIVE_KEY}/metadata",
                content=b"[{]",
                headers=json_type,
            ),
            400,
            "INVALID_REQUEST",
        ),
        (
            client.post("/api/system/connections", content=b"name=x", headers=admin),
            400,
            "INVALID_REQUEST",
        ),
        (client.post("/api/system/connections", json={}, headers=admin), 422, "VALIDATION_FAILED"),
        (
            client.get("/api/system/connections/99999999999999", headers=admin),
            404,
            "NOT_FOUND",
        ),
        (
            client.get("/api/system/connections", params={"page": "x"}, headers=admin),
            422,
            "VALIDATION_FAILED",
        ),
        (client.post("/sandbox/clock", json={}, headers=admin), 422, "VALIDATION_FAILED"),
        (
            client.post("/sandbox/clock", json={"advance_seconds": -5}, headers=admin),
            422,
            "VALIDATION_FAILED",
        ),
    ]
    for response, status, code in cases:
        error = assert_error(response, status, code)
        assert error["type"] in {
            "invalid_request_error",
            "not_found_error",
            "authentication_error",
        }
    assert {"GET", "POST"} <= set(cases[2][0].headers["Allow"].split(", "))


def test_openapi_document_is_served(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert "/api/system/connections" in document["paths"]
    assert "/sandbox/faults" in document["paths"]


def test_rate_limit_answers_429_with_real_second_retry_after(
    make_sandbox: Any, manual_clock: ManualClock
) -> None:
    # A manual clock stands still, so the bucket refills only when told to.
    client = make_sandbox("limited", clock=manual_clock, rate_limit_per_minute=3)
    admin = bearer(token_pair(client)["access_token"])  # request 1 (anonymous bucket)
    remaining = [
        client.get("/api/system/client", headers=admin).headers["X-RateLimit-Remaining"]
        for _ in range(3)
    ]
    assert remaining == ["2", "1", "0"]
    limited = client.get("/api/system/client", headers=admin)
    error = assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
    # One request refills in 20 sandbox seconds; at speed 1 that is 20 real seconds.
    assert limited.headers["Retry-After"] == "20"
    assert error["details"]["retry_after"] == 20
    manual_clock.advance(20)
    assert client.get("/api/system/client", headers=admin).status_code == 200
    # At speed 10 the same sandbox wait is 2 real seconds.
    manual_clock.set_speed(10)
    assert client.get("/api/system/client", headers=admin).headers["Retry-After"] == "2"
    # Other tokens have their own bucket.
    other = bearer(token_pair(client)["access_token"])
    assert client.get("/api/system/client", headers=other).status_code == 200


def test_idempotency_key_replays_the_first_answer(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": "create-fiix-1"}
    first = client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers)
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    connections_after_first = client.get("/api/system/account", headers=admin).json()
    # Same key, same body (different key order and spacing): the first answer, again.
    same_body = json.dumps(dict(reversed(list(NEW_CONNECTION.items())))).encode()
    again = client.post(
        "/api/system/connections",
        content=same_body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert client.get("/api/system/account", headers=admin).json() == connections_after_first
    # A refreshed token is the same subject: the key still replays.
    other_admin = bearer(token_pair(client)["access_token"])
    replay = client.post(
        "/api/system/connections",
        json=NEW_CONNECTION,
        headers={**other_admin, "Idempotency-Key": "create-fiix-1"},
    )
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_idempotency_key_with_another_body_is_a_conflict(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": "k-1"}
    assert client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers).is_success
    changed = {**NEW_CONNECTION, "name": "Another name"}
    error = assert_error(
        client.post("/api/system/connections", json=changed, headers=headers),
        409,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert error["type"] == "conflict_error"
    # The same key on another path is another request too.
    assert_error(
        client.post(f"/api/system/connections/{ACTIVE_KEY}/token", headers=headers),
        409,
        "IDEMPOTENCY_KEY_REUSED",
    )


def test_idempotency_records_expire_after_a_day(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": "daily"}
    first = client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers)
    client.post("/sandbox/clock", headers=admin, json={"advance_seconds": 24 * 3600 + 1})
    second = client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers)
    assert second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["data"]["key"] != first.json()["data"]["key"]


def test_idempotency_replays_errors_below_500(client: httpx.Client, admin: dict[str, str]) -> None:
    headers = {**admin, "Idempotency-Key": "bad-body"}
    body = {**NEW_CONNECTION, "provider": "nosuch"}
    first = client.post("/api/system/connections", json=body, headers=headers)
    assert first.status_code == 422
    again = client.post("/api/system/connections", json=body, headers=headers)
    assert again.status_code == 422
    assert again.headers["Idempotent-Replayed"] == "true"


def _arm(client: httpx.Client, admin: dict[str, str], **spec: Any) -> dict[str, Any]:
    response = client.post("/sandbox/faults", json=spec, headers=admin)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_fault_injection_answers_the_next_matching_requests(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    _arm(
        client,
        admin,
        path_prefix="/api/system/connections",
        method="GET",
        status=503,
        count=2,
        body="envelope",
        retry_after=1,
    )
    # Other methods and paths are not affected.
    assert client.get("/api/system/client", headers=admin).status_code == 200
    for _ in range(2):
        response = client.get("/api/system/connections", headers=admin)
        assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert response.headers["Retry-After"] == "1"
    assert client.get("/api/system/connections", headers=admin).status_code == 200
    assert client.get("/sandbox/faults", headers=admin).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("empty", lambda r: r.content == b""),
        (
            "html",
            lambda r: r.headers["content-type"].startswith("text/html") and b"<h1>" in r.content,
        ),
        ("laravel", lambda r: r.json() == {"message": "Server Error"}),
        ("malformed_json", lambda r: r.headers["content-type"] == "application/json"),
    ],
)
def test_fault_bodies(client: httpx.Client, admin: dict[str, str], body: str, check: Any) -> None:
    _arm(client, admin, path_prefix="/api/", status=500, body=body)
    response = client.get("/api/system/client", headers=admin)
    assert response.status_code == 500
    assert response.headers["X-Request-Id"].startswith("req_")
    assert "Retry-After" not in response.headers
    assert check(response)
    if body == "malformed_json":
        with pytest.raises(json.JSONDecodeError):
            response.json()


def test_faults_can_be_cleared_and_spare_control_routes(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    _arm(client, admin, path_prefix="/", status=502, count=50, body="html")
    # Control routes stay reachable, so a test can always disarm what it armed.
    assert client.get("/sandbox/faults", headers=admin).json()["data"][0]["count"] == 50
    assert client.get("/api/system/client", headers=admin).status_code == 502
    assert client.delete("/sandbox/faults", headers=admin).status_code == 204
    assert client.get("/api/system/client", headers=admin).status_code == 200
    assert_error(
        client.post("/sandbox/faults", json={"path_prefix": "/", "status": 200}, headers=admin),
        422,
        "VALIDATION_FAILED",
    )
    armed = _arm(client, admin, path_prefix="/link/token", status=429, body="envelope")
    assert armed["code"] is None
    assert_error(client.post("/link/token", json={}), 429, "RATE_LIMIT_EXCEEDED")


def test_clock_control(client: httpx.Client, admin: dict[str, str]) -> None:
    before = client.get("/sandbox/clock", headers=admin).json()["data"]
    assert before["speed"] == 1.0
    after = client.post(
        "/sandbox/clock", json={"advance_seconds": 3600, "speed": 60}, headers=admin
    ).json()["data"]
    assert after["speed"] == 60
    assert after["unix"] - before["unix"] >= 3600
    assert after["now"].endswith("Z")


def test_clock_speed_setting_is_applied_and_kept(make_sandbox: Any) -> None:
    fast = make_sandbox("fast", clock_speed=60.0)
    admin = bearer(token_pair(fast)["access_token"])
    assert fast.get("/sandbox/clock", headers=admin).json()["data"]["speed"] == 60


def test_no_extensions_serves_the_documented_surface_only(
    make_sandbox: Any, tmp_path: Path
) -> None:
    client = make_sandbox("documented", extensions=False)
    admin = bearer(token_pair(client)["access_token"])
    for path in (
        "/api/system/capabilities",
        "/api/system/account",
        f"/api/system/connections/{ACTIVE_KEY}/status",
    ):
        assert_error(client.get(path, headers=admin), 404, "NOT_FOUND")
    # GET is gone from /connections/{id}; DELETE (documented) still lives there.
    assert_error(
        client.get(f"/api/system/connections/{ACTIVE_KEY}", headers=admin),
        405,
        "INVALID_REQUEST",
    )
    assert client.get("/api/system/connections", headers=admin).status_code == 200
    assert client.get("/api/system/client", headers=admin).status_code == 200
    # The control routes exist only for a holder of the data dir's control token.
    assert_error(client.get("/sandbox/clock", headers=admin), 404, "NOT_FOUND")
    assert_error(client.get("/sandbox/instance"), 404, "NOT_FOUND")
    control = {**admin, HEADER: read_token(tmp_path / "documented") or ""}
    assert client.get("/sandbox/clock", headers=control).status_code == 200
    wrong = {**admin, HEADER: "sbx_ctl_guess"}
    assert_error(client.get("/sandbox/clock", headers=wrong), 404, "NOT_FOUND")
    # Idempotency-Key is ignored: both creates happen (two token pairs, two connections).
    headers = {**admin, "Idempotency-Key": "same"}
    created = [
        client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers).json()["data"]
        for _ in range(2)
    ]
    assert all("key" not in answer for answer in created)
    assert created[0]["access_token"] != created[1]["access_token"]
    assert client.get("/openapi.json").status_code == 404


#: One served call per capability the contract names, to prove an advertised one is real.
CAPABILITY_PROBES: dict[str, tuple[str, str]] = {
    "syncs": ("GET", "/api/system/connections/10000715260448/syncs"),
    "schedules": ("GET", "/api/system/connections/10000715260448/schedule"),
    "status": ("GET", "/api/system/connections/10000715260448/status"),
    "metadata_delete": ("DELETE", "/api/system/connections/10000715260448/metadata/customer_id"),
    "custom_fields": ("GET", "/api/system/connections/10000715260448/custom-fields"),
    "webhooks": ("GET", "/api/system/webhooks"),
    "events": ("GET", "/api/system/events"),
}


def test_capabilities_advertise_only_what_is_served(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    extensions = client.get("/api/system/capabilities", headers=admin).json()["data"]["extensions"]
    assert {"syncs", "schedules", "status", "idempotency"} <= set(extensions)
    for name in extensions:
        if name == "idempotency":  # a header every mutating POST honours, not a route
            replayed = [
                client.post(
                    "/api/system/connections/10000715260448/token",
                    headers={**admin, "Idempotency-Key": "caps-probe"},
                )
                for _ in range(2)
            ]
            assert replayed[1].headers.get("Idempotent-Replayed") == "true"
            continue
        method, path = CAPABILITY_PROBES[name]
        answer = client.request(method, path, headers=admin)
        assert answer.status_code < 400, (name, answer.status_code, answer.text[:200])
    for name, (method, path) in CAPABILITY_PROBES.items():
        if name not in extensions:  # and what is not advertised is not served
            assert client.request(method, path, headers=admin).status_code == 404, name


def test_connection_token_routes_reject_admin_idempotency_subjects(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    # An idempotent POST with a token of the wrong kind is refused, not recorded.
    connection = connection_token(client, admin, ACTIVE_KEY)
    headers = {**connection, "Idempotency-Key": "x"}
    assert_error(
        client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers),
        403,
        "PERMISSION_DENIED",
    )


def test_control_sets_the_credit_pool(client: httpx.Client, admin: dict[str, str]) -> None:
    """A demo or benchmark can raise the pool to create many connections."""
    resp = client.post("/sandbox/account", json={"credits_total": 500}, headers=admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["credits_total"] == 500
    assert client.get("/api/system/account", headers=admin).json()["data"]["credits_total"] == 500
    bad = client.post("/sandbox/account", json={"credits_total": -1}, headers=admin)
    assert_error(bad, 422, "VALIDATION_FAILED")


def test_clock_control_refuses_what_would_break_time(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """Found by fuzzing: a vanishing speed made Retry-After infinite (500s everywhere), and
    repeated jumps could pass the year 9999."""
    assert_error(
        client.post("/sandbox/clock", json={"speed": 1e-300}, headers=admin),
        422,
        "VALIDATION_FAILED",
    )
    far = client.post("/sandbox/clock", json={"advance_seconds": 200 * 365 * 86400}, headers=admin)
    assert_error(far, 422, "VALIDATION_FAILED")
    assert client.get("/api/system/connections", headers=admin).status_code == 200
