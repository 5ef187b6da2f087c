"""POST /link/token, token kinds, expiry and rotation (contract §1)."""

from __future__ import annotations

from typing import Any

import httpx

from makini_cli.sandbox.clock import ManualClock
from makini_cli.sandbox.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from makini_cli.sandbox.tokens import ACCESS_TTL, REFRESH_TTL

from .conftest import ACTIVE_KEY, assert_error, bearer, connection_token, token_pair

DAY = 86_400


def test_client_credentials_grant_answers_the_documented_pair(
    make_sandbox: Any, manual_clock: ManualClock
) -> None:
    client = make_sandbox("manual", clock=manual_clock)
    response = client.post(
        "/link/token",
        json={
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    # expires_in is an absolute Unix timestamp, 30 days ahead on the sandbox clock.
    assert body["expires_in"] == int(manual_clock.now().timestamp() + ACCESS_TTL)


def test_form_encoded_grant_works_too(client: httpx.Client) -> None:
    response = client.post(
        "/link/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
    )
    assert response.status_code == 200
    assert response.json()["access_token"]


def test_bad_client_credentials_are_401(client: httpx.Client) -> None:
    response = client.post(
        "/link/token",
        json={
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": "x",
        },
    )
    assert_error(response, 401, "AUTHENTICATION_FAILED")


def test_missing_fields_and_unknown_grants(client: httpx.Client) -> None:
    error = assert_error(
        client.post("/link/token", json={"grant_type": "client_credentials"}),
        422,
        "VALIDATION_FAILED",
    )
    assert set(error["details"]["fields"]) == {"client_id", "client_secret"}
    assert_error(client.post("/link/token", json={}), 422, "VALIDATION_FAILED")
    assert_error(
        client.post("/link/token", json={"grant_type": "password"}), 400, "INVALID_REQUEST"
    )
    assert_error(
        client.post("/link/token", content=b"{nope", headers={"Content-Type": "application/json"}),
        400,
        "INVALID_REQUEST",
    )


def test_authorization_code_explains_there_is_no_link_ui(client: httpx.Client) -> None:
    error = assert_error(
        client.post(
            "/link/token",
            data={
                "grant_type": "authorization_code",
                "code": "abc",
                "redirect_uri": "http://127.0.0.1/cb",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET,
            },
        ),
        400,
        "INVALID_REQUEST",
    )
    assert "Link" in error["message"]


def test_refresh_rotates_and_invalidates_the_previous_pair(client: httpx.Client) -> None:
    first = token_pair(client)
    second = token_pair(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second["access_token"] != first["access_token"]
    assert client.get("/api/system/client", headers=bearer(second["access_token"])).is_success
    # The old access token and the old refresh token are both dead now.
    assert_error(
        client.get("/api/system/client", headers=bearer(first["access_token"])),
        401,
        "AUTHENTICATION_FAILED",
    )
    reused = client.post(
        "/link/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
    )
    assert_error(reused, 401, "AUTHENTICATION_FAILED")


def test_expired_access_token_is_token_expired_and_refresh_still_works(
    client: httpx.Client,
) -> None:
    pair = token_pair(client)
    admin = bearer(pair["access_token"])
    jump = client.post("/sandbox/clock", headers=admin, json={"advance_seconds": 30 * DAY + 60})
    assert jump.status_code == 200
    assert_error(client.get("/api/system/client", headers=admin), 401, "TOKEN_EXPIRED")
    fresh = token_pair(client, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert client.get("/api/system/client", headers=bearer(fresh["access_token"])).is_success


def test_expired_refresh_token_is_refused(client: httpx.Client) -> None:
    pair = token_pair(client)
    client.post(
        "/sandbox/clock",
        headers=bearer(pair["access_token"]),
        json={"advance_seconds": REFRESH_TTL + 60},
    )
    response = client.post(
        "/link/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": pair["refresh_token"],
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
    )
    assert_error(response, 401, "TOKEN_EXPIRED")


def test_unknown_missing_and_refresh_tokens_are_401(client: httpx.Client) -> None:
    assert_error(client.get("/api/system/connections"), 401, "AUTHENTICATION_FAILED")
    assert_error(
        client.get("/api/system/connections", headers=bearer("sbx_at_made-up")),
        401,
        "AUTHENTICATION_FAILED",
    )
    refresh = token_pair(client)["refresh_token"]
    assert_error(
        client.get("/api/system/connections", headers=bearer(refresh)),
        401,
        "AUTHENTICATION_FAILED",
    )


def test_wrong_kind_of_token_is_403(client: httpx.Client, admin: dict[str, str]) -> None:
    connection = connection_token(client, admin, ACTIVE_KEY)
    assert_error(
        client.get("/api/system/connections", headers=connection), 403, "PERMISSION_DENIED"
    )
    assert_error(client.get("/sandbox/clock", headers=connection), 403, "PERMISSION_DENIED")
    assert_error(client.get("/api/integrations/current", headers=admin), 403, "PERMISSION_DENIED")


def test_connection_token_lasts_as_the_documented_sample_says(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    issued = client.post(f"/api/system/connections/{ACTIVE_KEY}/token", headers=admin)
    assert issued.json()["data"]["expires_in"] == 300
    connection = bearer(issued.json()["data"]["token"])
    assert client.get("/api/integrations/current", headers=connection).is_success
    client.post("/sandbox/clock", headers=admin, json={"advance_seconds": 301})
    assert_error(client.get("/api/integrations/current", headers=connection), 401, "TOKEN_EXPIRED")
