"""The one HTTP client every command goes through.

Owns timeouts, the User-Agent, admin authentication (with one transparent refresh),
retries with backoff, rate-limit pacing, error mapping and pagination. Commands never see
httpx; they call resource methods that call `request`/`paginate` here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from makini_cli import __version__
from makini_cli.api import redact
from makini_cli.api.auth import TokenProvider
from makini_cli.api.errors import ApiError, ApiUnavailableError, error_from_response
from makini_cli.api.retry import RETRY_STATUSES, RatePacer, RetryPolicy, parse_retry_after
from makini_cli.errors import AuthError, CliError

USER_AGENT = f"makini-cli/{__version__}"
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500

Notify = Callable[[str], None]
AuthMode = Literal["admin", "none"] | str  # any other string is a bearer token to send


def new_idempotency_key() -> str:
    return f"mk-{uuid.uuid4()}"


@dataclass
class ApiResponse:
    status: int
    headers: Mapping[str, str]
    body: Any
    request_id: str | None

    @property
    def data(self) -> Any:
        if isinstance(self.body, dict) and "data" in self.body:
            return self.body["data"]
        return self.body


class ApiClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: TokenProvider | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        notify: Notify | None = None,
        debug: Notify | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        display_url: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: what to call the server in messages (`sandbox` rather than its ephemeral port)
        self.display_url = display_url or self.base_url
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.notify = notify or (lambda _msg: None)
        self.debug = debug
        self.sleep = sleep
        self.monotonic = monotonic
        self.wall = wall
        self.pacer = RatePacer()
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        auth: AuthMode = "admin",
        idempotency_key: str | None = None,
        allow_status: tuple[int, ...] = (),
    ) -> ApiResponse:
        """Send one logical request, retrying as the policy allows.

        A POST is retried only when it carries an Idempotency-Key (the same key on every
        try), except for connection failures, where nothing reached the server.
        """
        method = method.upper()
        started = self.monotonic()
        retries = 0
        recovered = False
        while True:
            pause = self.pacer.reserve(self.monotonic())
            if pause > 0:
                self._trace(f"pacing: rate limit nearly spent, waiting {pause:.1f} s")
                self.sleep(pause)
            headers = {}
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            if auth == "admin":
                if self.auth is None:
                    raise AuthError(
                        "no credentials for this profile",
                        hint="run `makini auth login`, or set MAKINI_CLIENT_ID and "
                        "MAKINI_CLIENT_SECRET",
                    )
                headers["Authorization"] = f"Bearer {self.auth.token()}"
            elif auth != "none":
                headers["Authorization"] = f"Bearer {auth}"

            retry_after: float | None = None
            reason: str
            t0 = self.monotonic()
            try:
                resp = self._http.request(
                    method,
                    path,
                    params=_clean_params(params),
                    json=json_body if form is None else None,
                    data=dict(form) if form is not None else None,
                    headers=headers,
                )
            except httpx.TransportError as exc:
                self._trace(f"{method} {path} failed after {self._ms(t0)} ms: {type(exc).__name__}")
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                reason = _transport_reason(exc)
                if method == "POST" and idempotency_key is None and sent:
                    raise self._unreachable(reason, exc) from exc
                wait = self.retry.next_delay(retries + 1, None, self.monotonic() - started)
                if wait is None:
                    raise self._unreachable(reason, exc) from exc
                retries += 1
                self._announce(
                    f"{reason}, retrying in {_fmt(wait)} ({retries}/{self.retry.max_retries})"
                )
                self.sleep(wait)
                continue

            request_id = resp.headers.get("x-request-id")
            self._trace(
                f"{method} {resp.request.url} -> {resp.status_code} in {self._ms(t0)} ms"
                f" (request {request_id or '-'})"
                + (f" body={redact.body(resp.request.content)}" if resp.request.content else "")
            )
            self.pacer.observe(
                resp.headers.get("x-ratelimit-limit"),
                resp.headers.get("x-ratelimit-remaining"),
                self.monotonic(),
            )
            status = resp.status_code
            if 200 <= status < 300 or status in allow_status:
                return ApiResponse(status, resp.headers, _decode(resp, request_id), request_id)

            error = error_from_response(
                status, resp.content, resp.headers.get("content-type", ""), request_id
            )
            if status == 401 and auth == "admin" and self.auth is not None and not recovered:
                recovered = True
                self._trace(f"401 {error.code}: renewing the admin token once")
                if self.auth.recover(error.code):
                    continue
            if (
                status not in RETRY_STATUSES
                or (method == "POST" and idempotency_key is None)
                # The connected system is down, not the API: a retry in seconds won't help.
                or error.code == "SYSTEM_UNREACHABLE"
            ):
                raise error
            retry_after = parse_retry_after(resp.headers.get("retry-after"), self.wall())
            wait = self.retry.next_delay(retries + 1, retry_after, self.monotonic() - started)
            if wait is None:
                raise self._exhausted(error, retries)
            retries += 1
            reason = "rate limited" if status == 429 else f"server answered {status}"
            self._announce(
                f"{reason}, retrying in {_fmt(wait)} ({retries}/{self.retry.max_retries})"
            )
            self.sleep(wait)

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        per_page: int | None = None,
        auth: AuthMode = "admin",
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a list endpoint, one page in memory at a time.

        Follows `next_cursor` when a page carries one (Makini's FAQ describes cursor paging
        for some endpoints), otherwise `meta.current_page`/`last_page`.
        """
        if limit is not None and limit <= 0:
            return
        size = per_page or (min(limit, DEFAULT_PER_PAGE) if limit else DEFAULT_PER_PAGE)
        query: dict[str, Any] = dict(params or {})
        query["per_page"] = min(size, MAX_PER_PAGE)
        query.setdefault("page", 1)
        yielded = 0
        seen_pages = 0
        while True:
            page = self.request("GET", path, params=query, auth=auth)
            body = page.body if isinstance(page.body, dict) else {}
            items = body.get("data")
            if not isinstance(items, list):
                raise ApiError(
                    f"{path} did not answer a list",
                    code="MALFORMED_RESPONSE",
                    request_id=page.request_id,
                    hint="check the base URL points at a Makini API",
                )
            for item in items:
                yield item
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            seen_pages += 1
            cursor = body.get("next_cursor")
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            if cursor:
                query.pop("page", None)
                query["cursor"] = cursor
            elif meta and _int(meta.get("current_page")) < _int(meta.get("last_page")):
                query["page"] = _int(meta.get("current_page")) + 1
            else:
                return
            if not items or seen_pages > 100_000:  # a server that pages forever must not hang us
                return

    # ------------------------------------------------------------------ helpers

    def exchange_token(self, body: dict[str, str]) -> dict[str, Any]:
        """POST /link/token; wired into ClientCredentials as its exchange."""
        resp = self.request("POST", "/link/token", json_body=body, auth="none")
        if not isinstance(resp.body, dict):
            raise ApiError("the token endpoint answered no JSON object", code="MALFORMED_RESPONSE")
        return resp.body

    def _announce(self, message: str) -> None:
        self.notify(message)
        self._trace(message)

    def _trace(self, message: str) -> None:
        if self.debug:
            self.debug(message)

    def _ms(self, t0: float) -> int:
        return int((self.monotonic() - t0) * 1000)

    def _unreachable(self, reason: str, exc: Exception) -> CliError:
        return ApiUnavailableError(
            f"cannot reach {self.display_url}: {reason}",
            code="UNREACHABLE",
            hint="check the base URL and your network; `makini auth status` shows which is in use",
        )

    def _exhausted(self, error: CliError, retries: int) -> CliError:
        if retries:
            error.message = (
                f"{error.message} (gave up after {retries} retr{'y' if retries == 1 else 'ies'})"
            )
        if error.hint is None or error.code == "RATE_LIMIT_EXCEEDED":
            error.hint = "try again later, or raise --max-retries"
        return error


def _decode(resp: httpx.Response, request_id: str | None) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(
            f"the server answered HTTP {resp.status_code} with malformed JSON",
            code="MALFORMED_RESPONSE",
            http_status=resp.status_code,
            request_id=request_id,
            hint="check the base URL points at a Makini API; --debug shows the exchange",
        ) from exc


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: v for k, v in params.items() if v is not None}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{round(seconds)} s"


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    return f"network error ({type(exc).__name__})"
