"""Edge cases of the shared API client that a real server cannot easily produce.

Everything here runs on httpx.MockTransport with a fake clock: no sleeping, no sockets.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from makini_cli.api.auth import ClientCredentials, MemoryTokenCache, StaticToken
from makini_cli.api.client import ApiClient
from makini_cli.api.retry import RetryPolicy
from makini_cli.errors import CliError, ExitCode

Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now


def make_client(
    handler: Handler, *, clock: FakeClock | None = None, retries: int = 3, token: str = "tok"
) -> tuple[ApiClient, FakeClock, list[str]]:
    clock = clock or FakeClock()
    notes: list[str] = []
    client = ApiClient(
        "https://api.test",
        auth=StaticToken(token),
        retry=RetryPolicy(max_retries=retries, rng=random.Random(7)),
        transport=httpx.MockTransport(handler),
        notify=notes.append,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        wall=clock.wall,
    )
    return client, clock, notes


def envelope(status: int, code: str, message: str = "m", **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "type": "t", "message": message, "request_id": "req_1"}}
    return httpx.Response(status, json=body, headers={"X-Request-Id": "req_1", **headers})


def test_sends_user_agent_bearer_and_accept() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"data": {"ok": True}})

    client, _, _ = make_client(handler)
    assert client.get("/api/system/client").data == {"ok": True}
    req = seen[0]
    assert req.headers["authorization"] == "Bearer tok"
    assert req.headers["user-agent"].startswith("makini-cli/")
    assert req.headers["accept"] == "application/json"


def test_429_honours_retry_after_and_announces() -> None:
    answers = [envelope(429, "RATE_LIMIT_EXCEEDED", **{"Retry-After": "12"}),
               httpx.Response(200, json={"data": 1})]
    client, clock, notes = make_client(lambda req: answers.pop(0))
    assert client.get("/x").data == 1
    assert clock.sleeps == [12.0]
    assert notes == ["rate limited, retrying in 12 s (1/3)"]


def test_backoff_is_exponential_full_jitter_and_bounded() -> None:
    client, clock, notes = make_client(lambda req: envelope(503, "SERVICE_UNAVAILABLE"), retries=4)
    with pytest.raises(CliError) as err:
        client.get("/x")
    assert err.value.exit_code == ExitCode.UNAVAILABLE
    assert "gave up after 4 retries" in err.value.message
    assert len(clock.sleeps) == 4
    for i, wait in enumerate(clock.sleeps):
        assert 0 <= wait <= 0.5 * 2**i
    assert len(notes) == 4


def test_deadline_stops_retries_early() -> None:
    policy = RetryPolicy(max_retries=10, deadline=5.0)
    assert policy.next_delay(1, 4.0, elapsed=0.0) == 4.0
    assert policy.next_delay(2, 4.0, elapsed=4.0) is None
    assert policy.next_delay(11, None, elapsed=0.0) is None


def test_post_without_idempotency_key_is_not_retried() -> None:
    calls: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return envelope(503, "SERVICE_UNAVAILABLE")

    client, _, _ = make_client(handler)
    with pytest.raises(CliError):
        client.request("POST", "/x", json_body={})
    assert len(calls) == 1


def test_post_with_idempotency_key_retries_with_the_same_key() -> None:
    keys: list[str | None] = []
    answers = [envelope(503, "SERVICE_UNAVAILABLE"), httpx.Response(200, json={"data": 2})]

    def handler(req: httpx.Request) -> httpx.Response:
        keys.append(req.headers.get("idempotency-key"))
        return answers.pop(0)

    client, _, _ = make_client(handler)
    assert client.request("POST", "/x", json_body={}, idempotency_key="k1").data == 2
    assert keys == ["k1", "k1"]


def test_connection_refused_is_exit_5_after_retries() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    client, clock, _ = make_client(handler, retries=2)
    with pytest.raises(CliError) as err:
        client.get("/x")
    assert err.value.exit_code == ExitCode.UNAVAILABLE
    assert "cannot reach https://api.test" in err.value.message
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    ("status", "body", "content_type", "code", "exit_code"),
    [
        (404, b"", "", "NOT_FOUND", ExitCode.ERROR),
        (422, json.dumps({"message": "The given data was invalid.",
                          "errors": {"email": ["required"]}}).encode(),
         "application/json", "VALIDATION_FAILED", ExitCode.ERROR),
        (500, b"<html>oops</html>", "text/html", "INTERNAL_ERROR", ExitCode.UNAVAILABLE),
        (401, b'{"message":"Unauthenticated."}', "application/json", "AUTHENTICATION_FAILED",
         ExitCode.AUTH),
        (403, b"", "", "PERMISSION_DENIED", ExitCode.AUTH),
        (409, b"", "", "CONFLICT", ExitCode.CONFLICT),
        (402, b"", "", "INSUFFICIENT_CREDITS", ExitCode.ERROR),
    ],
)
def test_error_shapes(status: int, body: bytes, content_type: str, code: str,
                      exit_code: ExitCode) -> None:
    client, _, _ = make_client(
        lambda req: httpx.Response(status, content=body, headers={"content-type": content_type}),
        retries=0,
    )
    client.auth = None
    with pytest.raises(CliError) as err:
        client.get("/x", auth="none")
    assert err.value.code == code
    assert err.value.exit_code == exit_code
    if status == 422:
        assert "email: required" in err.value.message


def test_envelope_code_wins_and_request_id_kept() -> None:
    client, _, _ = make_client(lambda req: envelope(409, "SYNC_ALREADY_RUNNING", "busy"))
    with pytest.raises(CliError) as err:
        client.get("/x")
    assert (err.value.code, err.value.request_id, err.value.exit_code) == (
        "SYNC_ALREADY_RUNNING", "req_1", ExitCode.CONFLICT)


def test_malformed_json_on_success_is_a_clear_error() -> None:
    client, _, _ = make_client(
        lambda req: httpx.Response(200, content=b"{not json", headers={"x-request-id": "r9"}))
    with pytest.raises(CliError) as err:
        client.get("/x")
    assert err.value.code == "MALFORMED_RESPONSE" and err.value.request_id == "r9"


def test_expired_token_is_refreshed_once_and_the_call_repeated() -> None:
    grants: list[dict[str, Any]] = []
    tokens = iter(["a1", "a2", "a3"])

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/link/token":
            body = json.loads(req.content)
            grants.append(body)
            return httpx.Response(200, json={"access_token": next(tokens), "refresh_token": "r",
                                             "token_type": "bearer", "expires_in": 4_000_000_000})
        if req.headers["authorization"] == "Bearer a1":
            return envelope(401, "TOKEN_EXPIRED")
        return httpx.Response(200, json={"data": req.headers["authorization"]})

    client, _, _ = make_client(handler)
    client.auth = ClientCredentials("id", "sec", MemoryTokenCache(), exchange=client.exchange_token)
    assert client.get("/x").data == "Bearer a2"
    assert [g["grant_type"] for g in grants] == ["client_credentials", "refresh_token"]


def test_second_401_is_not_retried_forever() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.url.path)
        if req.url.path == "/link/token":
            return httpx.Response(200, json={"access_token": "a", "expires_in": 60})
        return envelope(401, "AUTHENTICATION_FAILED")

    client, _, _ = make_client(handler)
    client.auth = ClientCredentials("id", "sec", MemoryTokenCache(), exchange=client.exchange_token)
    with pytest.raises(CliError) as err:
        client.get("/x")
    assert err.value.exit_code == ExitCode.AUTH
    assert calls.count("/x") == 2


def test_paginates_pages_and_cursors_and_stops_at_limit() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        q = req.url.params
        if "cursor" in q:
            return httpx.Response(200, json={"data": [{"n": 5}], "next_cursor": None})
        page = int(q["page"])
        body: dict[str, Any] = {"data": [{"n": page * 2 - 1}, {"n": page * 2}],
                                "meta": {"current_page": page, "last_page": 2}}
        if page == 2:
            body["next_cursor"] = "c"
        return httpx.Response(200, json=body)

    client, _, _ = make_client(handler)
    assert [x["n"] for x in client.paginate("/l")] == [1, 2, 3, 4, 5]
    assert [x["n"] for x in client.paginate("/l", limit=3)] == [1, 2, 3]


def test_pacing_slows_down_before_429() -> None:
    remaining = iter(["50", "9", "8", "7"])

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": 1}, headers={
            "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": next(remaining)})

    client, clock, _ = make_client(handler)
    client.get("/a")
    client.get("/b")
    assert clock.sleeps == []  # plenty left: no pacing
    client.get("/c")
    client.get("/d")
    # Below a tenth of the limit requests take slots 60 s / 100 apart.
    assert clock.sleeps == [pytest.approx(0.6 * 1.02)]


def test_pacer_spaces_threads_sharing_a_client() -> None:
    from makini_cli.api.retry import RatePacer

    pacer = RatePacer()
    pacer.observe("60", "1", now=100.0)
    waits = [pacer.reserve(100.0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 1.02, 2.04, 3.06])
    pacer.observe("60", "30", now=104.0)
    assert pacer.reserve(104.0) == 0.0


def test_system_unreachable_is_not_retried() -> None:
    calls: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return envelope(503, "SYSTEM_UNREACHABLE")

    client, clock, _ = make_client(handler)
    with pytest.raises(CliError) as err:
        client.get("/api/eam/work-orders")
    assert err.value.exit_code == ExitCode.UNAVAILABLE and len(calls) == 1 and clock.sleeps == []
