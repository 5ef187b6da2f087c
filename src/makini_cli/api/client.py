"""The one HTTP client every command goes through.

Owns timeouts, the User-Agent, admin authentication (with one transparent refresh),
retries with backoff, rate-limit pacing, error mapping and pagination. Commands never see
httpx; they call resource methods that call `request`/`paginate` here.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from makini_cli import __version__
from makini_cli.api import redact
from makini_cli.api._httpx import httpx
from makini_cli.api.auth import TokenProvider
from makini_cli.api.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ClientSetupError,
    DeadlineExceededError,
    InvalidRequestURLError,
    MalformedResponseError,
    NotAuthenticatedError,
    error_from_response,
    load_json,
    request_id_from,
)
from makini_cli.api.retry import RETRY_STATUSES, RatePacer, RetryPolicy, parse_retry_after
from makini_cli.models.base import ApiModel

USER_AGENT = f"makini-cli/{__version__}"
M = TypeVar("M", bound=ApiModel)
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500

Notify = Callable[[str], None]
AuthMode = Literal["admin", "none"] | str  # any other string is a bearer token to send

#: The watchdog gives httpx's own timeouts this head start, so that a connection that
#: cannot be made is still reported (and retried) as one, not as a slow answer.
WATCHDOG_GRACE_S = 0.25


def new_idempotency_key() -> str:
    return f"mk-{uuid.uuid4()}"


class CaBundleError(ValueError):
    """A CA bundle that cannot be used; the caller knows where the path came from."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"CA bundle {path} {reason}")
        self.path = path
        self.reason = reason


def load_ca_bundle(path: str) -> ssl.SSLContext:
    """An SSL context that trusts exactly the CAs in the PEM file at `path`.

    Only that file, like curl's --cacert and SSL_CERT_FILE: the bundle is meant as the whole
    trust store (behind a TLS-inspecting proxy every certificate is the company CA's).
    """
    try:
        return ssl.create_default_context(cafile=path)
    except FileNotFoundError as exc:
        raise CaBundleError(path, "does not exist") from exc
    except IsADirectoryError as exc:
        raise CaBundleError(
            path, "is a directory, not a PEM file (SSL_CERT_DIR takes a directory)"
        ) from exc
    except PermissionError as exc:
        raise CaBundleError(path, "cannot be read (permission denied)") from exc
    except ssl.SSLError as exc:
        raise CaBundleError(path, "holds no PEM certificate") from exc
    except OSError as exc:
        raise CaBundleError(path, f"cannot be read ({exc.strerror or exc})") from exc


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


@dataclass
class Page:
    """One page of a list: its items and the envelope's `meta` (empty when it had none)."""

    items: list[Any]
    meta: Mapping[str, Any]
    request_id: str | None

    @property
    def total(self) -> int | None:
        """`meta.total`: how many items the whole list holds, when the server says."""
        value = self.meta.get("total")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Fetches one page of a list: (path, query) → the answer (see `ApiClient.pages`).
PageGetter = Callable[[str, Mapping[str, Any]], ApiResponse]


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
        verify: ssl.SSLContext | bool = True,
        ca_bundle: str | None = None,
        trust_env: bool = True,
    ) -> None:
        """`ca_bundle` (a PEM file) replaces the trusted CAs unless `verify` is already a
        context (the caller loaded the bundle itself to report a bad file its own way).
        `trust_env=False` ignores HTTP(S)_PROXY and SSL_CERT_FILE: for the bundled sandbox,
        which is this process's own loopback server and must never go through a proxy.
        """
        self.base_url = base_url.rstrip("/")
        _refuse_credentials_in(self.base_url)
        #: what to call the server in messages (`sandbox` rather than its ephemeral port)
        self.display_url = display_url or self.base_url
        #: seconds one try may take as a whole, headers and body (`--timeout`)
        self.timeout = timeout
        #: `self.monotonic()` time by which every request must be over (`sync run
        #: --timeout`), or None; tries are cut short and retries given up to keep it
        self.deadline: float | None = None
        self.ca_bundle = ca_bundle
        self._trust_store = _trust_store(verify, ca_bundle, trust_env)
        if ca_bundle and verify is True:
            verify = load_ca_bundle(ca_bundle)
        elif verify is True and trust_env and transport is None and os.environ.get("SSL_CERT_FILE"):
            # What httpx would load itself, but a bad file there is a crash without a word
            # about SSL_CERT_FILE.
            try:
                verify = load_ca_bundle(os.environ["SSL_CERT_FILE"])
            except CaBundleError as exc:
                raise ClientSetupError(
                    f"{exc} (from env SSL_CERT_FILE)",
                    code="CA_BUNDLE_UNUSABLE",
                    setting="SSL_CERT_FILE",
                ) from exc
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.notify = notify or (lambda _msg: None)
        self.debug = debug
        self.sleep = sleep
        self.monotonic = monotonic
        self.wall = wall
        self.pacer = RatePacer()
        try:
            self._http = httpx.Client(
                base_url=self.base_url,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                transport=transport,
                follow_redirects=False,
                verify=verify,
                trust_env=trust_env,
            )
        except (httpx.InvalidURL, UnicodeError) as exc:
            # Settings check base URLs first (config.settings.coerce); this is for callers
            # that build a client another way. The URL is not repeated: it may be anything.
            raise ClientSetupError(
                f"the base URL is not a valid URL ({type(exc).__name__})",
                code="INVALID_BASE_URL",
                setting="the base URL",
            ) from None
        #: the proxy (from the environment) our requests go through, credentials removed,
        #: and the variable that set it
        self.proxy: str | None = None
        self.proxy_variable = "HTTP_PROXY/HTTPS_PROXY/ALL_PROXY"
        found = _proxy_for(self._http) if trust_env and transport is None else None
        if found:
            self.proxy, self.proxy_variable = found
            self._trace(
                f"requests to {self.base_url} go through the proxy {self.proxy}"
                f" (from {self.proxy_variable})"
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
        safe: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send one logical request, retrying as the policy allows.

        A POST is retried only when it carries an Idempotency-Key (the same key on every
        try), except for connection failures, where nothing reached the server. `safe`
        says a POST may be repeated without one: doing it twice does no harm (a
        client-credentials token exchange only hands out another token).

        Each try is bounded as a whole by `timeout` (see `_attempt`), and everything,
        tries and waits, by `deadline` when one is set. `headers`: extra headers (the
        sandbox's control token); secret ones must be in `redact.SECRET_HEADERS`.
        """
        method = method.upper()
        extra_headers = dict(headers or {})
        repeatable = method != "POST" or idempotency_key is not None or safe
        started = self.monotonic()
        retries = 0
        # Connection failures count against their own short budget (RetryPolicy).
        connect_retries = 0
        connect_waited = 0.0
        recovered = False
        #: what the last try met, for the error when the deadline stops the next one
        last: APIError | None = None
        while True:
            pause = self.pacer.reserve(self.monotonic())
            if pause > 0:
                self._check_deadline(pause, method, path, last)
                self._trace(f"pacing: rate limit nearly spent, waiting {pause:.1f} s")
                self.sleep(pause)
            budget, bound = self._budget(method, path, last)
            sent = dict(extra_headers)
            if idempotency_key:
                sent["Idempotency-Key"] = idempotency_key
            if auth == "admin":
                if self.auth is None:
                    raise NotAuthenticatedError("no credentials for this profile")
                sent["Authorization"] = f"Bearer {self.auth.token()}"
            elif auth != "none":
                sent["Authorization"] = f"Bearer {auth}"

            retry_after: float | None = None
            reason: str
            t0 = self.monotonic()
            try:
                request = self._http.build_request(
                    method,
                    path,
                    params=_clean_params(params),
                    json=json_body if form is None else None,
                    data=dict(form) if form is not None else None,
                    headers=sent,
                    timeout=httpx.Timeout(budget, connect=min(budget, 10.0)),
                )
            except httpx.InvalidURL as exc:
                raise InvalidRequestURLError(
                    f"cannot send {method} {_short(path)}: {exc}", method=method, path=path
                ) from None
            failure: TransportFailure | None = None
            cause: BaseException | None = None
            try:
                resp = self._attempt(request, budget)
            except httpx.TransportError as exc:
                failure, cause = classify_transport_error(exc), exc
            except _Overdue as exc:
                failure = TransportFailure(
                    "timeout", "the server did not answer in time", "request"
                )
                cause = exc
            except UnicodeError as exc:
                # Below httpx, a host name the IDNA codec cannot encode (`a..b`) escapes
                # unwrapped from the name lookup: as hopeless as a name that does not exist.
                failure = TransportFailure("dns", f"invalid host name ({exc})", "never")
                cause = exc
            if failure is not None:
                self._trace(
                    f"{method} {path} failed after {self._ms(t0)} ms: {type(cause).__name__}"
                    f" ({failure.kind}: {failure.reason})"
                )
                if bound and failure.kind == "timeout":
                    # Cut short by the deadline (the watchdog's, or httpx's read timeout
                    # set to what was left), not by --timeout: the caller's time is up.
                    raise self._deadline_error(method, path, sent=True) from None
                elapsed = self.monotonic() - started
                if failure.retry == "never":
                    raise self._transport_failure(failure) from cause
                if failure.retry == "connect":
                    wait = self.retry.next_connect_delay(
                        connect_retries + 1, connect_waited, elapsed
                    )
                    if wait is None:
                        raise self._transport_failure(failure, connect_retries) from cause
                    connect_retries += 1
                    connect_waited += wait
                    count = f"{connect_retries}/{self.retry.connect_limit}"
                else:
                    # The request may have reached the server: only safe to repeat when
                    # repeating cannot do it twice.
                    if not repeatable:
                        raise self._transport_failure(failure) from cause
                    wait = self.retry.next_delay(retries + 1, None, elapsed)
                    if wait is None:
                        raise self._transport_failure(failure, retries) from cause
                    retries += 1
                    count = f"{retries}/{self.retry.max_retries}"
                last = self._transport_failure(failure, retries)
                self._check_deadline(wait, method, path, last)
                self._announce(f"{failure.reason}, retrying in {_fmt(wait)} ({count})")
                self.sleep(wait)
                continue

            request_id = _request_id(resp)
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
                status,
                resp.content,
                resp.headers.get("content-type", ""),
                request_id,
                method=method,
                path=path,
            )
            if status == 401 and auth == "admin" and self.auth is not None and not recovered:
                recovered = True
                self._trace(f"401 {error.code}: renewing the admin token once")
                if self.auth.recover(error.code):
                    continue
            # A retry whose first attempt is still being processed (its answer was lost on
            # the way back) is asked to come again shortly: that is the same request.
            still_processing = (
                error.code == "IDEMPOTENCY_KEY_REUSED"
                and error.details.get("reason") == "in_progress"
                and idempotency_key is not None
            )
            if (
                (status not in RETRY_STATUSES and not still_processing)
                or not repeatable
                # The connected system is down, not the API: a retry in seconds won't help.
                or error.code == "SYSTEM_UNREACHABLE"
            ):
                raise error
            retry_after = parse_retry_after(resp.headers.get("retry-after"), self.wall())
            wait = self.retry.next_delay(retries + 1, retry_after, self.monotonic() - started)
            if wait is None:
                raise self._exhausted(error, retries)
            self._check_deadline(wait, method, path, error)
            last = error
            retries += 1
            reason = "rate limited" if status == 429 else f"server answered {status}"
            self._announce(
                f"{reason}, retrying in {_fmt(wait)} ({retries}/{self.retry.max_retries})"
            )
            self.sleep(wait)

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def request_as(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        """`request`, with the answer's `data` validated into `model` (as an SDK's
        `cast_to=`): resources get typed objects, and a malformed answer is one error."""
        resp = self.request(method, path, **kwargs)
        return cast_to(model, resp.data, path=path, request_id=resp.request_id)

    def get_as(self, model: type[M], path: str, **kwargs: Any) -> M:
        return self.request_as(model, "GET", path, **kwargs)

    def paginate_as(self, model: type[M], path: str, **kwargs: Any) -> Iterator[M]:
        """`paginate`, each item validated into `model`."""
        for item in self.paginate(path, **kwargs):
            yield cast_to(model, item, path=path, request_id=None)

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        per_page: int | None = None,
        auth: AuthMode = "admin",
        send: PageGetter | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a list endpoint, one page in memory at a time.

        Follows `next_cursor` when a page carries one (Makini's FAQ describes cursor paging
        for some endpoints), otherwise `meta.current_page`/`last_page`. `send` fetches each
        page instead of a GET with `auth` (a connection token renewed on the way).
        """
        for page in self.pages(
            path, params=params, limit=limit, per_page=per_page, auth=auth, send=send
        ):
            yield from page.items

    def pages(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        per_page: int | None = None,
        auth: AuthMode = "admin",
        send: PageGetter | None = None,
    ) -> Iterator[Page]:
        """`paginate` a page at a time: each page's items (the last cut to `limit`) and
        its `meta`, for a caller that works per page (a CSV header from the first page, a
        "showing N of M" note)."""
        if limit is not None and limit <= 0:
            return
        size = per_page or (min(limit, DEFAULT_PER_PAGE) if limit else DEFAULT_PER_PAGE)
        query: dict[str, Any] = dict(params or {})
        query["per_page"] = min(size, MAX_PER_PAGE)
        query.setdefault("page", 1)
        yielded = 0
        seen_pages = 0
        while True:
            if send is None:
                page = self.request("GET", path, params=query, auth=auth)
            else:
                page = send(path, dict(query))
            body = page.body if isinstance(page.body, dict) else {}
            items = body.get("data")
            if not isinstance(items, list):
                raise MalformedResponseError(
                    f"{path} did not answer a list",
                    request_id=page.request_id,
                )
            found = body.get("meta")
            meta: dict[str, Any] = found if isinstance(found, dict) else {}
            if limit is not None and yielded + len(items) >= limit:
                yield Page(items[: limit - yielded], meta, page.request_id)
                return
            yield Page(items, meta, page.request_id)
            yielded += len(items)
            seen_pages += 1
            cursor = body.get("next_cursor")
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
        """POST /link/token; wired into ClientCredentials as its exchange.

        A client-credentials grant is repeated like a GET: a second exchange only hands
        out another token, and a CI job does one every run, so a 503 or a lost answer
        must not end it. A refresh grant is not: it invalidates the pair it refreshes, so
        a repeat of one that did arrive is refused; ClientCredentials starts over with
        client credentials instead (api/auth.py).
        """
        # Makini documents the refresh grant form-encoded (like the authorization-code
        # one) and shows the client-credentials grant as JSON: each is sent as documented.
        refresh = body.get("grant_type") == "refresh_token"
        resp = self.request(
            "POST",
            "/link/token",
            json_body=None if refresh else body,
            form=body if refresh else None,
            auth="none",
            safe=body.get("grant_type") == "client_credentials",
        )
        if not isinstance(resp.body, dict):
            raise MalformedResponseError("the token endpoint answered no JSON object")
        return resp.body

    # ------------------------------------------------------------------ one try

    def _budget(self, method: str, path: str, last: APIError | None) -> tuple[float, bool]:
        """Seconds the next try may take, and whether the deadline (not `timeout`) is what
        limits it. No time left: the deadline's error, without sending anything."""
        if self.deadline is None:
            return self.timeout, False
        left = self.deadline - self.monotonic()
        if left <= 0:
            raise self._deadline_error(method, path, sent=False, last=last)
        return (left, True) if left < self.timeout else (self.timeout, False)

    def _check_deadline(self, wait: float, method: str, path: str, last: APIError | None) -> None:
        """Give up now rather than wait past the deadline for a try that cannot finish."""
        if self.deadline is not None and self.monotonic() + wait >= self.deadline:
            raise self._deadline_error(method, path, sent=False, last=last)

    def _deadline_error(
        self, method: str, path: str, *, sent: bool, last: APIError | None = None
    ) -> DeadlineExceededError:
        what = f"; last: {last.message}" if last is not None and not sent else ""
        return DeadlineExceededError(
            f"gave up waiting for {self.display_url}: the time allowed ran out{what}",
            url=self.display_url,
            sent=sent,
            method=method,
            path=path,
        )

    def _attempt(self, request: httpx.Request, budget: float) -> httpx.Response:
        """Send `request` and read its whole answer, in at most `budget` seconds.

        httpx's timeouts bound each network operation, not the request: a server that
        sends a byte a second never trips a read timeout, and `--timeout 2` would last as
        long as the server likes. Reading in this thread and checking a clock between
        chunks would not do either: the headers are read inside httpcore, where no
        check can run, and one slow read still blocks for a whole read timeout.

        So the try runs in a helper thread, and this thread waits for it at most
        `budget` (plus a grace that lets httpx report its own connect and read timeouts,
        which say more). Past that, the try is abandoned: once its answer has begun, its
        socket is shut down so that the helper ends at once; a try still waiting for
        headers ends by httpx's own per-read timeout, or with the process (a daemon
        thread). Waiting on an Event also leaves Ctrl-C free to interrupt the wait.
        """
        lock = threading.Lock()
        done = threading.Event()
        state: dict[str, Any] = {"response": None, "finished": False, "abandoned": False}
        outcome: list[httpx.Response | BaseException] = []

        def run() -> None:
            try:
                resp = self._http.send(request, stream=True)
                with lock:
                    abandoned = state["abandoned"]
                    state["response"] = resp
                if abandoned:
                    resp.close()
                    return
                try:
                    resp.read()
                finally:
                    # Under the lock: once finished, the connection goes back to the pool
                    # and another request may own it; the watchdog must not touch it then.
                    with lock:
                        state["finished"] = True
                    resp.close()
                outcome.append(resp)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                outcome.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=run, name="makini-http", daemon=True)
        worker.start()
        try:
            finished = done.wait(budget + WATCHDOG_GRACE_S)
        except BaseException:  # Ctrl-C while waiting: the try is abandoned all the same
            _abandon(lock, state)
            raise
        if not finished:
            _abandon(lock, state)
            # It may have finished reading just as it was abandoned: that answer is as
            # good. Any error it ends with now is the shutdown's, not the server's.
            if not (done.wait(0.05) and outcome and isinstance(outcome[0], httpx.Response)):
                raise _Overdue(budget)
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _announce(self, message: str) -> None:
        self.notify(message)
        self._trace(message)

    def _trace(self, message: str) -> None:
        if self.debug:
            self.debug(message)

    def _ms(self, t0: float) -> int:
        return int((self.monotonic() - t0) * 1000)

    def _transport_failure(self, failure: TransportFailure, retries: int = 0) -> APIConnectionError:
        """The error for a request that never got an HTTP answer."""
        url = self.display_url
        proxy = self.proxy
        gave_up = (
            f" (gave up after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
        )
        kind = failure.kind

        def error(message: str, code: str) -> APIConnectionError:
            return APIConnectionError(
                message,
                kind=kind,
                url=url,
                detail=failure.detail,
                proxy=proxy,
                proxy_variable=self.proxy_variable,
                retries=retries,
                code=code,
            )

        # Behind a proxy, connecting and resolving names is the proxy's job towards the
        # server and ours only towards the proxy: a failure there is the proxy's.
        if proxy and kind in ("dns", "refused", "connect_timeout", "connect"):
            what = "resolve the proxy's host" if kind == "dns" else "reach the proxy"
            return error(
                f"cannot {what} {proxy} for {url}: {failure.reason}{gave_up}", "PROXY_UNREACHABLE"
            )
        if kind == "dns":
            host = self._http.base_url.host
            return error(
                f"cannot resolve host {host} (DNS lookup failed: {failure.reason})",
                "DNS_LOOKUP_FAILED",
            )
        if kind == "tls_certificate":
            if failure.detail == "hostname":
                return error(
                    f"TLS certificate of {url} is not valid for this host: {failure.reason}",
                    "TLS_CERTIFICATE_INVALID",
                )
            if failure.detail == "expired":
                return error(f"TLS certificate of {url} has expired", "TLS_CERTIFICATE_INVALID")
            return error(
                f"TLS certificate of {url} is not trusted: {failure.reason} "
                f"(checked against {self._trust_store})",
                "TLS_CERTIFICATE_UNTRUSTED",
            )
        if kind == "tls":
            return error(
                f"TLS handshake with {url} failed: {failure.reason}", "TLS_HANDSHAKE_FAILED"
            )
        if kind == "proxy":
            return error(
                f"the proxy {proxy or '(from the environment)'} would not connect to {url}: "
                f"{failure.reason}",
                "PROXY_ERROR",
            )
        if kind == "unsupported":
            return error(f"cannot reach {url}: {failure.reason}", "UNREACHABLE")
        return error(f"cannot reach {url}: {failure.reason}{gave_up}", "UNREACHABLE")

    def _exhausted(self, error: APIStatusError, retries: int) -> APIStatusError:
        if retries:
            error.message = (
                f"{error.message} (gave up after {retries} retr{'y' if retries == 1 else 'ies'})"
            )
        return error


def cast_to(model: type[M], data: Any, *, path: str, request_id: str | None) -> M:
    """`data` as a `model`, or a MalformedResponseError saying what was wrong with it."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise MalformedResponseError(
            f"{path} answered {type(data).__name__ if data is not None else 'nothing'} where "
            f"a {model.__name__} object was expected",
            request_id=request_id,
            path=path,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "the object"
        raise MalformedResponseError(
            f"{path} answered a {model.__name__} that does not fit the API: {where}: "
            f"{first.get('msg')}",
            request_id=request_id,
            path=path,
        ) from exc


def _decode(resp: httpx.Response, request_id: str | None) -> Any:
    if not resp.content:
        return None
    try:
        return load_json(resp.content)
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"the server answered HTTP {resp.status_code} with malformed JSON",
            status=resp.status_code,
            request_id=request_id,
        ) from exc
    except ValueError as exc:  # UnicodeDecodeError, or nesting no API answer has
        raise MalformedResponseError(
            f"the server answered HTTP {resp.status_code} with "
            + ("malformed JSON" if isinstance(exc, UnicodeDecodeError) else str(exc)),
            status=resp.status_code,
            request_id=request_id,
        ) from None


def _request_id(resp: httpx.Response) -> str | None:
    return request_id_from(resp.headers.get("x-request-id"))


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class _Overdue(Exception):
    """A try that took longer than its budget (ApiClient._attempt)."""

    def __init__(self, budget: float) -> None:
        super().__init__(f"no complete answer within {budget:.1f} s")


def _abandon(lock: threading.Lock, state: dict[str, Any]) -> None:
    """Mark a try abandoned and, if its answer has begun and is still being read, shut
    its socket down so the helper thread's blocked read returns now.

    `shutdown` on a duplicate of the descriptor: it acts on the socket the two share,
    wakes a read blocked in another thread (closing would not), and leaves the TLS
    object of the original untouched for httpcore to close as after any read error."""
    with lock:
        state["abandoned"] = True
        resp = state["response"]
        if resp is None or state["finished"]:
            return
        stream = resp.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket) or sock.fileno() < 0:
            return
        try:
            with socket.fromfd(sock.fileno(), sock.family, sock.type) as twin:
                twin.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the peer: the read has returned or will


def _refuse_credentials_in(base_url: str) -> None:
    """httpx turns `user:password@` in a base URL into Basic auth (not our Bearer token)
    and every message that names the URL would show the password. Settings refuse such
    URLs already; this catches any other way in, without repeating the URL."""
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(base_url).netloc
    except ValueError:
        return  # not a URL at all: httpx.Client says so
    if "@" in netloc:
        raise ClientSetupError(
            "the base URL holds credentials (user:password@); credentials do not belong in the URL",
            code="CREDENTIALS_IN_URL",
            setting="the base URL (use `makini auth login` or MAKINI_CLIENT_SECRET)",
        )


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


@dataclass(frozen=True)
class TransportFailure:
    """What kind of failure a request without an HTTP answer met, and whether to retry.

    `retry`: "never" (retrying cannot help: a name that does not resolve, a certificate
    that is not trusted), "connect" (nothing reached the server: the short connection
    budget), "request" (the request may have reached it: the normal budget, POST only with
    an Idempotency-Key).
    """

    kind: str  # dns, tls_certificate, tls, proxy, refused, connect_timeout, connect, ...
    reason: str
    retry: Literal["never", "connect", "request"]
    detail: str = ""


#: OpenSSL's X509_V_ERR_* codes that a CA bundle cannot fix
_X509_EXPIRED = 10
_X509_NAME_MISMATCH = (62, 64)  # host name, IP address


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: httpx → httpcore → the OSError or SSLError."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_transport_error(exc: httpx.TransportError) -> TransportFailure:
    """Classify by the exception types httpx wraps, never by message text."""
    if isinstance(exc, httpx.ProxyError):
        # The proxy answered CONNECT with an error status (407, 403, 502…).
        return TransportFailure("proxy", str(exc) or "proxy error", "never")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return TransportFailure("unsupported", str(exc), "never")
    if isinstance(exc, httpx.ConnectTimeout):
        return TransportFailure("connect_timeout", "connection timed out", "connect")
    if isinstance(exc, httpx.ConnectError):
        # Name lookup, TCP connect and the TLS handshake all happen before a byte of the
        # request is sent, so only here may a cause say "retry safely" or "never retry";
        # the same SSLError during a read comes after the request went out.
        return _classify_connect_error(list(_causes(exc)))
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure("timeout", "the server did not answer in time", "request")
    return TransportFailure("network", f"network error ({type(exc).__name__})", "request")


def _classify_connect_error(causes: list[BaseException]) -> TransportFailure:
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = str(cause.verify_message or cause.reason or "certificate verify failed")
            code = cause.verify_code
            detail = (
                "hostname"
                if code in _X509_NAME_MISMATCH
                else "expired"
                if code == _X509_EXPIRED
                else ""
            )
            return TransportFailure("tls_certificate", reason.rstrip("."), "never", detail)
        if isinstance(cause, socket.gaierror):
            return TransportFailure("dns", str(cause.strerror or cause), "never")
        # The peer hung up mid-handshake: a server restarting or a flaky middlebox.
        if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return TransportFailure(
                "connect", "connection closed during the TLS handshake", "connect"
            )
        if isinstance(cause, ssl.SSLError):
            # What OpenSSL says when the answer to its hello is plain HTTP.
            not_tls = cause.reason in (
                "WRONG_VERSION_NUMBER",
                "RECORD_LAYER_FAILURE",
                "PACKET_LENGTH_TOO_LONG",
            )
            reason = (
                "the server does not speak TLS on this port"
                if not_tls
                else str(cause.reason or cause).lower().replace("_", " ")
            )
            return TransportFailure("tls", reason, "never", "not_tls" if not_tls else "")
        if isinstance(cause, ConnectionRefusedError):
            return TransportFailure("refused", "connection refused", "connect")
    for cause in causes[1:]:
        if isinstance(cause, OSError) and cause.strerror:
            # Network or host unreachable: as hopeless or as passing as a refusal.
            return TransportFailure("connect", cause.strerror.lower(), "connect")
    return TransportFailure("connect", "could not connect", "connect")


def _trust_store(verify: ssl.SSLContext | bool, ca_bundle: str | None, trust_env: bool) -> str:
    """Which CAs httpx checks certificates against, as the TLS error names them."""
    if ca_bundle:
        return ca_bundle
    if isinstance(verify, ssl.SSLContext):
        return "the caller's SSL context"
    # The same order httpx.create_ssl_context reads them in.
    if trust_env and os.environ.get("SSL_CERT_FILE"):
        return f"SSL_CERT_FILE {os.environ['SSL_CERT_FILE']}"
    if trust_env and os.environ.get("SSL_CERT_DIR"):
        return f"SSL_CERT_DIR {os.environ['SSL_CERT_DIR']}"
    return "certifi's CA bundle"


def _proxy_for(http: httpx.Client) -> tuple[str, str] | None:
    """The proxy httpx picked from the environment for this client's base URL, if any,
    and the variable it came from.

    httpx offers no public way to ask which transport serves a URL, and re-implementing
    its NO_PROXY rules would drift from what it really does; so ask it, and on any change
    of its internals say nothing rather than something wrong.
    """
    try:
        url = http.base_url
        proxied = http._transport_for_url(url) is not http._transport
    except Exception:  # noqa: BLE001 - only the messages lose the proxy's name
        return None
    if not proxied:
        return None
    found = urllib.request.getproxies()
    scheme = url.scheme if found.get(url.scheme) else "all"
    variable = f"{scheme.upper()}_PROXY"
    raw = found.get(scheme)
    if not raw:
        return "(set in the environment)", variable
    try:
        proxy = httpx.URL(raw if "://" in raw else f"http://{raw}")
    except httpx.InvalidURL:
        return "(set in the environment)", variable
    # Never print a proxy password.
    port = f":{proxy.port}" if proxy.port else ""
    return f"{proxy.scheme}://{proxy.host}{port}", variable
