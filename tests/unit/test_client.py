"""Edge cases of the shared API client that a real server cannot easily produce.

Everything here runs on httpx.MockTransport with a fake clock: no sleeping, no sockets.
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from makini_cli.api.auth import ClientCredentials, MemoryTokenCache, StaticToken
from makini_cli.api.client import (
    ApiClient,
    CaBundleError,
    classify_transport_error,
    load_ca_bundle,
)
from makini_cli.api.errors import APIError, ClientSetupError, DeadlineExceededError
from makini_cli.api.retry import RetryPolicy
from makini_cli.errors import CliError, ExitCode
from makini_cli.failures import to_cli_error

Handler = Callable[[httpx.Request], httpx.Response]


def failure(call: Callable[[], object]) -> CliError:
    """What the user sees when `call` fails: the API error, as the CLI's boundary shows it."""
    with pytest.raises(APIError) as raised:
        call()
    return to_cli_error(raised.value)


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


def grant_fields(req: httpx.Request) -> dict[str, Any]:
    """A `/link/token` request's fields: form-encoded (refresh) or JSON (client credentials)."""
    if req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(req.content.decode()))
    fields: dict[str, Any] = json.loads(req.content)
    return fields


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
    answers = [
        envelope(429, "RATE_LIMIT_EXCEEDED", **{"Retry-After": "12"}),
        httpx.Response(200, json={"data": 1}),
    ]
    client, clock, notes = make_client(lambda req: answers.pop(0))
    assert client.get("/x").data == 1
    assert clock.sleeps == [12.0]
    assert notes == ["rate limited, retrying in 12 s (1/3)"]


def test_backoff_is_exponential_full_jitter_and_bounded() -> None:
    client, clock, notes = make_client(lambda req: envelope(503, "SERVICE_UNAVAILABLE"), retries=4)
    err = failure(lambda: client.get("/x"))
    assert err.exit_code == ExitCode.UNAVAILABLE
    assert "gave up after 4 retries" in err.message
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
    failure(lambda: client.request("POST", "/x", json_body={}))
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
    err = failure(lambda: client.get("/x"))
    assert err.exit_code == ExitCode.UNAVAILABLE
    assert "cannot reach https://api.test" in err.message
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    ("status", "body", "content_type", "code", "exit_code"),
    [
        (404, b"", "", "NOT_FOUND", ExitCode.ERROR),
        (
            422,
            json.dumps(
                {"message": "The given data was invalid.", "errors": {"email": ["required"]}}
            ).encode(),
            "application/json",
            "VALIDATION_FAILED",
            ExitCode.ERROR,
        ),
        (500, b"<html>oops</html>", "text/html", "INTERNAL_ERROR", ExitCode.UNAVAILABLE),
        (
            401,
            b'{"message":"Unauthenticated."}',
            "application/json",
            "AUTHENTICATION_FAILED",
            ExitCode.AUTH,
        ),
        (403, b"", "", "PERMISSION_DENIED", ExitCode.AUTH),
        (409, b"", "", "CONFLICT", ExitCode.CONFLICT),
        (402, b"", "", "INSUFFICIENT_CREDITS", ExitCode.ERROR),
    ],
)
def test_error_shapes(
    status: int, body: bytes, content_type: str, code: str, exit_code: ExitCode
) -> None:
    client, _, _ = make_client(
        lambda req: httpx.Response(status, content=body, headers={"content-type": content_type}),
        retries=0,
    )
    client.auth = None
    err = failure(lambda: client.get("/x", auth="none"))
    assert err.code == code
    assert err.exit_code == exit_code
    if status == 422:
        assert "email: required" in err.message


def test_envelope_code_wins_and_request_id_kept() -> None:
    client, _, _ = make_client(lambda req: envelope(409, "SYNC_ALREADY_RUNNING", "busy"))
    err = failure(lambda: client.get("/x"))
    assert (err.code, err.request_id, err.exit_code) == (
        "SYNC_ALREADY_RUNNING",
        "req_1",
        ExitCode.CONFLICT,
    )


def test_malformed_json_on_success_is_a_clear_error() -> None:
    client, _, _ = make_client(
        lambda req: httpx.Response(200, content=b"{not json", headers={"x-request-id": "r9"})
    )
    err = failure(lambda: client.get("/x"))
    assert err.code == "MALFORMED_RESPONSE" and err.request_id == "r9"


def test_expired_token_is_refreshed_once_and_the_call_repeated() -> None:
    grants: list[dict[str, Any]] = []
    tokens = iter(["a1", "a2", "a3"])

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/link/token":
            body = grant_fields(req)
            grants.append(body)
            return httpx.Response(
                200,
                json={
                    "access_token": next(tokens),
                    "refresh_token": "r",
                    "token_type": "bearer",
                    "expires_in": 4_000_000_000,
                },
            )
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
    err = failure(lambda: client.get("/x"))
    assert err.exit_code == ExitCode.AUTH
    assert calls.count("/x") == 2


def test_paginates_pages_and_cursors_and_stops_at_limit() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        q = req.url.params
        if "cursor" in q:
            return httpx.Response(200, json={"data": [{"n": 5}], "next_cursor": None})
        page = int(q["page"])
        body: dict[str, Any] = {
            "data": [{"n": page * 2 - 1}, {"n": page * 2}],
            "meta": {"current_page": page, "last_page": 2},
        }
        if page == 2:
            body["next_cursor"] = "c"
        return httpx.Response(200, json=body)

    client, _, _ = make_client(handler)
    assert [x["n"] for x in client.paginate("/l")] == [1, 2, 3, 4, 5]
    assert [x["n"] for x in client.paginate("/l", limit=3)] == [1, 2, 3]


def test_pacing_slows_down_before_429() -> None:
    remaining = iter(["50", "9", "8", "7"])

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"data": 1},
            headers={"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": next(remaining)},
        )

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
    err = failure(lambda: client.get("/api/eam/work-orders"))
    assert err.exit_code == ExitCode.UNAVAILABLE and len(calls) == 1 and clock.sleeps == []


# ---------------------------------------------------------------------- transport failures
#
# httpx raises ConnectError for DNS, refusal and TLS alike; what tells them apart is the
# exception it wraps (httpx → httpcore → OSError/SSLError), so these tests build the same
# chain the real stack does.


def _wrapped(cause: BaseException, req: httpx.Request) -> httpx.ConnectError:
    import httpcore

    try:
        try:
            raise cause
        except BaseException as inner:
            raise httpcore.ConnectError(str(inner)) from inner
    except httpcore.ConnectError as middle:
        outer = httpx.ConnectError(str(middle), request=req)
        outer.__cause__ = middle
        return outer


def _failing(cause: BaseException) -> Callable[[httpx.Request], httpx.Response]:
    def handler(req: httpx.Request) -> httpx.Response:
        raise _wrapped(cause, req)

    return handler


def _cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    err.verify_code = code
    err.verify_message = message
    err.reason = "CERTIFICATE_VERIFY_FAILED"
    return err


def test_dns_failure_is_not_retried_and_names_the_host() -> None:
    client, clock, notes = make_client(
        _failing(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    )
    err = failure(lambda: client.get("/x"))
    assert err.exit_code == ExitCode.UNAVAILABLE
    assert err.code == "DNS_LOOKUP_FAILED"
    assert "cannot resolve host api.test (DNS lookup failed" in err.message
    assert err.hint is not None and "base URL" in err.hint
    assert clock.sleeps == [] and notes == []


def test_untrusted_certificate_is_not_retried_and_says_how_to_trust_it() -> None:
    client, clock, notes = make_client(
        _failing(_cert_error(20, "unable to get local issuer certificate"))
    )
    err = failure(lambda: client.get("/x"))
    assert err.exit_code == ExitCode.UNAVAILABLE
    assert err.code == "TLS_CERTIFICATE_UNTRUSTED"
    assert err.message.startswith(
        "TLS certificate of https://api.test is not trusted: unable to get local issuer"
    )
    assert err.hint is not None and "--ca-bundle" in err.hint
    assert "MAKINI_CA_BUNDLE" in err.hint and "SSL_CERT_FILE" in err.hint
    assert clock.sleeps == [] and notes == []


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (62, "Hostname mismatch, certificate is not valid for 'api.test'.", "not valid for"),
        (10, "certificate has expired", "has expired"),
    ],
)
def test_certificate_problems_a_ca_bundle_cannot_fix_say_so(
    code: int, message: str, expected: str
) -> None:
    client, clock, _ = make_client(_failing(_cert_error(code, message)))
    err = failure(lambda: client.get("/x"))
    assert err.code == "TLS_CERTIFICATE_INVALID"
    assert expected in err.message
    assert "--ca-bundle" not in (err.hint or "")
    assert clock.sleeps == []


def test_plain_http_on_an_https_url_is_a_handshake_error_not_retried() -> None:
    wrong = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    wrong.reason = "WRONG_VERSION_NUMBER"
    client, clock, _ = make_client(_failing(wrong))
    err = failure(lambda: client.get("/x"))
    assert err.code == "TLS_HANDSHAKE_FAILED"
    assert "does not speak TLS" in err.message
    assert err.hint is not None and "https://" in err.hint
    assert clock.sleeps == []


def test_refused_is_retried_within_the_short_connect_budget() -> None:
    client, clock, notes = make_client(
        _failing(ConnectionRefusedError(111, "Connection refused")), retries=10
    )
    err = failure(lambda: client.get("/x"))
    assert err.exit_code == ExitCode.UNAVAILABLE
    assert err.code == "UNREACHABLE"
    assert err.message.startswith("cannot reach https://api.test: connection refused")
    policy = RetryPolicy()
    # Not the 10 retries --max-retries allows for 429/5xx: a refusal has its own budget.
    assert len(clock.sleeps) == policy.connect_retries
    assert sum(clock.sleeps) <= policy.connect_wait_budget
    assert notes[0].startswith("connection refused, retrying in ")
    assert notes[-1].endswith(f"({policy.connect_retries}/{policy.connect_retries})")


def test_connect_timeout_is_retried_like_a_refusal() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=req)

    client, clock, notes = make_client(handler, retries=10)
    err = failure(lambda: client.get("/x"))
    assert "connection timed out" in err.message
    assert len(clock.sleeps) == RetryPolicy().connect_retries
    assert notes[0].startswith("connection timed out, retrying")


def test_refused_then_up_succeeds_and_max_retries_zero_means_no_retry() -> None:
    answers: list[BaseException | httpx.Response] = [
        ConnectionRefusedError(111, "Connection refused"),
        httpx.Response(200, json={"data": 1}),
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise _wrapped(answer, req)
        return answer

    client, clock, _ = make_client(handler)
    assert client.get("/x").data == 1 and len(clock.sleeps) == 1

    client, clock, notes = make_client(
        _failing(ConnectionRefusedError(111, "Connection refused")), retries=0
    )
    failure(lambda: client.get("/x"))
    assert clock.sleeps == [] and notes == []


def test_connect_budget_is_independent_of_the_status_budget() -> None:
    """503s spend the long budget; a refusal afterwards still gets its own tries."""
    answers: list[BaseException | httpx.Response] = [
        envelope(503, "SERVICE_UNAVAILABLE"),
        envelope(503, "SERVICE_UNAVAILABLE"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionRefusedError(111, "Connection refused"),
        httpx.Response(200, json={"data": "ok"}),
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise _wrapped(answer, req)
        return answer

    client, clock, notes = make_client(handler, retries=2)
    assert client.get("/x").data == "ok"
    assert len(clock.sleeps) == 4
    assert [n.split(" (")[-1] for n in notes] == ["1/2)", "2/2)", "1/2)", "2/2)"]


def test_post_without_key_is_retried_on_refusal_since_nothing_was_sent() -> None:
    answers: list[BaseException | httpx.Response] = [
        ConnectionRefusedError(111, "Connection refused"),
        httpx.Response(201, json={"data": 1}),
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise _wrapped(answer, req)
        return answer

    client, _, _ = make_client(handler)
    assert client.request("POST", "/x", json_body={}).data == 1


def test_read_timeout_keeps_the_long_budget_and_post_safety() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=req)

    client, clock, _ = make_client(handler, retries=4)
    err = failure(lambda: client.get("/x"))
    assert "did not answer in time" in err.message and len(clock.sleeps) == 4

    client, clock, _ = make_client(handler, retries=4)
    failure(lambda: client.request("POST", "/x", json_body={}))
    assert clock.sleeps == []


def test_tls_error_after_the_request_went_out_is_not_treated_as_a_connect_failure() -> None:
    """An SSLError while reading means the POST may have arrived: never resend it."""
    calls: list[int] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        try:
            raise ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
        except ssl.SSLError as inner:
            raise httpx.ReadError("eof", request=req) from inner

    client, clock, _ = make_client(handler)
    failure(lambda: client.request("POST", "/x", json_body={}))
    assert calls == [1] and clock.sleeps == []


def test_proxy_refusing_the_tunnel_is_not_retried() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ProxyError("407 Proxy Authentication Required", request=req)

    client, clock, _ = make_client(handler)
    err = failure(lambda: client.get("/x"))
    assert err.code == "PROXY_ERROR" and "407" in err.message
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("cause", "kind", "retry"),
    [
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), "dns", "never"),
        (ConnectionRefusedError(111, "Connection refused"), "refused", "connect"),
        (OSError(101, "Network is unreachable"), "connect", "connect"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "connect", "connect"),
        (_cert_error(20, "unable to get local issuer certificate"), "tls_certificate", "never"),
    ],
)
def test_classification_follows_the_cause_chain(
    cause: BaseException, kind: str, retry: str
) -> None:
    req = httpx.Request("GET", "https://api.test/x")
    failure = classify_transport_error(_wrapped(cause, req))
    assert (failure.kind, failure.retry) == (kind, retry)


def test_ca_bundle_replaces_the_trusted_cas(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = load_ca_bundle(str(bundle))
    assert len(context.get_ca_certs()) == 1

    for path, reason in [
        (tmp_path / "missing.pem", "does not exist"),
        (tmp_path, "is a directory"),
    ]:
        with pytest.raises(CaBundleError) as err:
            load_ca_bundle(str(path))
        assert str(path) in str(err.value) and reason in str(err.value)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(CaBundleError, match="holds no PEM certificate"):
        load_ca_bundle(str(junk))


def test_a_bad_ssl_cert_file_is_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    err = failure(lambda: ApiClient("https://api.test"))
    assert err.exit_code == ExitCode.CONFIG
    assert f"CA bundle {missing} does not exist (from env SSL_CERT_FILE)" in err.message
    # The bundled sandbox reads nothing from the environment.
    ApiClient("http://127.0.0.1:1", trust_env=False).close()


# ---------------------------------------------------------------------- issue 7: hardening


def _token_answer(access: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "access_token": access,
            "refresh_token": f"r-{access}",
            "token_type": "bearer",
            "expires_in": 4_000_000_000,
        },
    )


def _credentials(client: ApiClient, cache: MemoryTokenCache | None = None) -> ClientCredentials:
    return ClientCredentials(
        "id", "sec", cache or MemoryTokenCache(), exchange=client.exchange_token, wall=client.wall
    )


def test_client_credentials_exchange_is_retried_after_503_and_a_lost_answer() -> None:
    """No Idempotency-Key, yet repeated: a second exchange only hands out another token."""
    answers: list[BaseException | httpx.Response] = [
        envelope(503, "SERVICE_UNAVAILABLE", **{"Retry-After": "0"}),
        httpx.ReadError("connection dropped after the request went out"),
        _token_answer("a1"),
    ]
    keys: list[str | None] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path != "/link/token":
            return httpx.Response(200, json={"data": req.headers["authorization"]})
        keys.append(req.headers.get("idempotency-key"))
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise httpx.ReadError(str(answer), request=req)
        return answer

    client, clock, notes = make_client(handler)
    client.auth = _credentials(client)
    assert client.get("/x").data == "Bearer a1"
    assert keys == [None, None, None]  # nothing the server would have to understand
    assert len(clock.sleeps) == 2
    assert notes[0].startswith("server answered 503, retrying")


def test_other_posts_without_a_key_are_still_not_repeated() -> None:
    calls: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(grant_fields(req))
        return envelope(503, "SERVICE_UNAVAILABLE")

    client, clock, _ = make_client(handler)
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": "r",
        "client_id": "i",
        "client_secret": "s",
    }
    failure(lambda: client.exchange_token(refresh))
    assert len(calls) == 1 and clock.sleeps == []


@pytest.mark.parametrize("lost", ["dropped", "502"])
def test_a_refresh_whose_answer_was_lost_starts_over_with_client_credentials(lost: str) -> None:
    grants: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path != "/link/token":
            return httpx.Response(200, json={"data": req.headers["authorization"]})
        grant = grant_fields(req)["grant_type"]
        grants.append(grant)
        if grant == "refresh_token":
            if lost == "dropped":
                # The server may have rotated the pair: the cached refresh token is spent.
                raise httpx.RemoteProtocolError("server disconnected", request=req)
            return httpx.Response(502, text="<html>bad gateway</html>")
        return _token_answer("fresh")

    client, _, _ = make_client(handler)
    cache = MemoryTokenCache()
    cache.save(
        {"access_token": "old", "refresh_token": "r-old", "expires_at": 1.0, "client_id": "id"}
    )
    client.auth = _credentials(client, cache)
    assert client.get("/x").data == "Bearer fresh"
    assert grants == ["refresh_token", "client_credentials"]  # the refresh is never repeated
    assert (cache.load() or {})["refresh_token"] == "r-fresh"


def test_a_lost_refresh_after_token_expired_also_starts_over() -> None:
    grants: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/link/token":
            grant = grant_fields(req)["grant_type"]
            grants.append(grant)
            if grant == "refresh_token":
                raise httpx.ReadTimeout("no answer", request=req)
            return _token_answer("fresh")
        if req.headers["authorization"] == "Bearer stale":
            return envelope(401, "TOKEN_EXPIRED")
        return httpx.Response(200, json={"data": req.headers["authorization"]})

    client, _, _ = make_client(handler, retries=0)
    cache = MemoryTokenCache()
    cache.save(
        {"access_token": "stale", "refresh_token": "r", "expires_at": None, "client_id": "id"}
    )
    client.auth = _credentials(client, cache)
    assert client.get("/x").data == "Bearer fresh"
    assert grants == ["refresh_token", "client_credentials"]


def test_a_refresh_that_never_reached_the_server_does_not_start_over() -> None:
    """Refused: nothing was sent, the refresh token is still good, and an exchange would
    meet the same closed port."""
    grants: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        grants.append(grant_fields(req)["grant_type"])
        raise _wrapped(ConnectionRefusedError(111, "Connection refused"), req)

    client, _, _ = make_client(handler, retries=0)
    cache = MemoryTokenCache()
    cache.save({"access_token": "old", "refresh_token": "r", "expires_at": 1.0, "client_id": "id"})
    client.auth = _credentials(client, cache)
    err = failure(lambda: client.get("/x"))
    assert err.exit_code == ExitCode.UNAVAILABLE and grants == ["refresh_token"]


def test_a_try_is_bounded_as_a_whole_not_per_read() -> None:
    """A handler that does not return stands for a server that drips its answer: the
    client gives up after its timeout while the handler is still busy."""
    release = threading.Event()
    entered = threading.Event()

    def handler(req: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(30)  # bounded, so a broken watchdog fails the test instead of hanging it
        return httpx.Response(200, json={"data": 1})

    client = ApiClient(
        "https://api.test",
        auth=StaticToken("t"),
        timeout=0.2,
        retry=RetryPolicy(max_retries=0),
        transport=httpx.MockTransport(handler),
    )
    try:
        err = failure(lambda: client.get("/x"))
        assert entered.is_set() and not release.is_set()  # given up while still waiting
        assert err.exit_code == ExitCode.UNAVAILABLE
        assert "did not answer in time" in err.message
        assert err.hint is not None and "--timeout" in err.hint
    finally:
        release.set()


def test_the_deadline_stops_retry_waits_and_sends_nothing_once_spent() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.url.path)
        return envelope(503, "SERVICE_UNAVAILABLE", **{"Retry-After": "10"})

    client, clock, notes = make_client(handler)
    client.deadline = clock.now + 5
    with pytest.raises(DeadlineExceededError) as raised:
        client.get("/x")
    # The 10 s wait would pass the deadline: given up at once, not slept through.
    assert calls == ["/x"] and clock.sleeps == [] and notes == []
    assert raised.value.sent is False and "SERVICE_UNAVAILABLE" not in raised.value.code
    err = to_cli_error(raised.value)
    assert err.exit_code == ExitCode.UNAVAILABLE and err.code == "DEADLINE_EXCEEDED"
    assert "--timeout" in (err.hint or "")

    clock.now += 10  # past the deadline: nothing more goes out
    with pytest.raises(DeadlineExceededError):
        client.get("/y")
    assert calls == ["/x"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 levels deep"),
        (
            b'{"data": {"key": "k", "meta": ' + b"[" * 500 + b"]" * 500 + b"}}",
            "nested more than 64 levels deep",
        ),
        (b"\xff\xfe not utf-8", "malformed JSON"),
    ],
)
def test_unreadable_success_bodies_are_malformed_responses(content: bytes, expected: str) -> None:
    client, _, _ = make_client(lambda req: httpx.Response(200, content=content))
    err = failure(lambda: client.get("/x"))
    assert err.code == "MALFORMED_RESPONSE" and err.exit_code == ExitCode.ERROR
    assert expected in err.message


def test_error_bodies_are_quoted_briefly_whatever_they_hold() -> None:
    huge = "k" * 100_000
    bodies: list[dict[str, Any]] = [
        {"error": {"code": huge, "message": huge, "details": {"fields": {huge: [huge]}}}},
        {"message": huge, "errors": {huge: [huge] * 50}},
        {"error": huge},
    ]
    for body in bodies:

        def handler(req: httpx.Request, body: dict[str, Any] = body) -> httpx.Response:
            return httpx.Response(422, json=body, headers={"X-Request-Id": "r" * 100_000})

        client, _, _ = make_client(handler, retries=0)
        err = failure(lambda: client.get("/x"))  # noqa: B023 - called at once
        assert err.code == "VALIDATION_FAILED" and err.exit_code == ExitCode.ERROR
        assert len(err.message) < 800 and err.request_id is None
    deep = b'{"error": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    client, _, _ = make_client(lambda req: httpx.Response(500, content=deep), retries=0)
    err = failure(lambda: client.get("/x"))
    assert err.code == "INTERNAL_ERROR" and "nested more than" in err.message


def test_a_url_httpx_cannot_build_is_a_usage_error_not_a_crash() -> None:
    client, _, _ = make_client(lambda req: httpx.Response(200, json={"data": {}}))
    err = failure(lambda: client.get("/api/system/syncs/" + "x" * 70_000))
    assert err.exit_code == ExitCode.USAGE and err.code == "INVALID_URL"
    assert len(err.message) < 200


def test_a_base_url_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(ClientSetupError) as raised:
        ApiClient("http://user:hunter2@127.0.0.1:1")
    assert "hunter2" not in str(raised.value) and raised.value.code == "CREDENTIALS_IN_URL"
    shown = to_cli_error(raised.value)
    assert shown.exit_code == ExitCode.CONFIG and "hunter2" not in f"{shown.message}{shown.hint}"


def test_a_timeout_cut_short_by_the_deadline_is_the_deadlines_error() -> None:
    """httpx's read timeout is set to what is left of the deadline: when it fires, the
    caller's time is up, and a POST that may have arrived says so (`sent`)."""

    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("silent", request=req)

    client, clock, _ = make_client(handler)
    client.deadline = clock.now + 5  # less than the 30 s timeout: the deadline binds
    with pytest.raises(DeadlineExceededError) as raised:
        client.request("POST", "/api/system/connections/k/syncs", json_body={})
    assert raised.value.sent and raised.value.method == "POST" and clock.sleeps == []


def test_a_retry_whose_first_attempt_is_still_processing_comes_again() -> None:
    """The first answer was lost; the retry meets 409 `in_progress` with Retry-After: the
    same request, so it is asked again (never for a key reused with another body)."""
    in_progress = httpx.Response(
        409,
        headers={"Retry-After": "1"},
        json={
            "error": {
                "code": "IDEMPOTENCY_KEY_REUSED",
                "message": "still processing",
                "details": {"reason": "in_progress"},
            }
        },
    )
    answers = [in_progress, httpx.Response(201, json={"data": {"id": 1}})]

    def handler(req: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    client, clock, _ = make_client(handler)
    assert client.request("POST", "/x", json_body={}, idempotency_key="k1").data == {"id": 1}
    assert clock.sleeps == [1.0]

    reused = httpx.Response(
        409,
        json={
            "error": {
                "code": "IDEMPOTENCY_KEY_REUSED",
                "message": "other body",
                "details": {"reason": "mismatch"},
            }
        },
    )
    client, clock, _ = make_client(lambda req: reused)
    err = failure(lambda: client.request("POST", "/x", json_body={}, idempotency_key="k1"))
    assert err.exit_code == ExitCode.CONFLICT and clock.sleeps == []


def test_a_refresh_grant_is_form_encoded_and_client_credentials_stay_json() -> None:
    """As Makini documents them: `refresh_token` form-encoded, `client_credentials` JSON;
    and --debug redacts the secrets of either."""
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return _token_answer("a1")

    traced: list[str] = []
    client, _, _ = make_client(handler)
    client.debug = traced.append
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": "r-secret",
        "client_id": "i",
        "client_secret": "s-secret",
    }
    client.exchange_token(refresh)
    client.exchange_token(
        {"grant_type": "client_credentials", "client_id": "i", "client_secret": "s-secret"}
    )
    form, as_json = seen
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(form.content.decode())) == refresh
    assert as_json.headers["content-type"] == "application/json"
    assert json.loads(as_json.content)["grant_type"] == "client_credentials"
    trace = "\n".join(traced)
    assert "grant_type=refresh_token" in trace
    assert "r-secret" not in trace and "s-secret" not in trace


def test_the_request_id_comes_from_the_error_body_first_then_the_header() -> None:
    def request_id_of(body: dict[str, Any], header: str | None) -> str | None:
        headers = {"X-Request-Id": header} if header else {}
        client, _, _ = make_client(
            lambda req: httpx.Response(404, json=body, headers=headers), retries=0
        )
        return failure(lambda: client.get("/x")).request_id

    in_body = {"error": {"code": "NOT_FOUND", "message": "m", "request_id": "req_body"}}
    assert request_id_of(in_body, "req_header") == "req_body"
    assert request_id_of(in_body, None) == "req_body"
    # No id in the body (or none that can be one): the header's.
    for body in (
        {"error": {"code": "NOT_FOUND", "message": "m"}},
        {"error": {"code": "NOT_FOUND", "message": "m", "request_id": 42}},
        {"error": {"code": "NOT_FOUND", "message": "m", "request_id": "r" * 500}},
        {"message": "Not found."},
    ):
        assert request_id_of(body, "req_header") == "req_header", body
    assert request_id_of({"message": "Not found."}, None) is None
