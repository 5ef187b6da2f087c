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
    APIStatusError,
    ClientSetupError,
    MalformedResponseError,
    NotAuthenticatedError,
    error_from_response,
)
from makini_cli.api.retry import RETRY_STATUSES, RatePacer, RetryPolicy, parse_retry_after
from makini_cli.models.base import ApiModel

USER_AGENT = f"makini-cli/{__version__}"
M = TypeVar("M", bound=ApiModel)
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500

Notify = Callable[[str], None]
AuthMode = Literal["admin", "none"] | str  # any other string is a bearer token to send


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
        #: what to call the server in messages (`sandbox` rather than its ephemeral port)
        self.display_url = display_url or self.base_url
        self.ca_bundle = ca_bundle
        self._trust_store = _trust_store(verify, ca_bundle, trust_env)
        if ca_bundle and verify is True:
            verify = load_ca_bundle(ca_bundle)
        elif verify is True and trust_env and transport is None and os.environ.get(
            "SSL_CERT_FILE"
        ):
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
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
            verify=verify,
            trust_env=trust_env,
        )
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
    ) -> ApiResponse:
        """Send one logical request, retrying as the policy allows.

        A POST is retried only when it carries an Idempotency-Key (the same key on every
        try), except for connection failures, where nothing reached the server.
        """
        method = method.upper()
        started = self.monotonic()
        retries = 0
        # Connection failures count against their own short budget (RetryPolicy).
        connect_retries = 0
        connect_waited = 0.0
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
                    raise NotAuthenticatedError("no credentials for this profile")
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
                failure = classify_transport_error(exc)
                self._trace(
                    f"{method} {path} failed after {self._ms(t0)} ms: {type(exc).__name__}"
                    f" ({failure.kind}: {failure.reason})"
                )
                elapsed = self.monotonic() - started
                if failure.retry == "never":
                    raise self._transport_failure(failure) from exc
                if failure.retry == "connect":
                    wait = self.retry.next_connect_delay(
                        connect_retries + 1, connect_waited, elapsed
                    )
                    if wait is None:
                        raise self._transport_failure(failure, connect_retries) from exc
                    connect_retries += 1
                    connect_waited += wait
                    count = f"{connect_retries}/{self.retry.connect_limit}"
                else:
                    # The request may have reached the server: only safe to repeat when
                    # repeating cannot do it twice.
                    if method == "POST" and idempotency_key is None:
                        raise self._transport_failure(failure) from exc
                    wait = self.retry.next_delay(retries + 1, None, elapsed)
                    if wait is None:
                        raise self._transport_failure(failure, retries) from exc
                    retries += 1
                    count = f"{retries}/{self.retry.max_retries}"
                self._announce(f"{failure.reason}, retrying in {_fmt(wait)} ({count})")
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
                raise MalformedResponseError(
                    f"{path} did not answer a list",
                    request_id=page.request_id,
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
            raise MalformedResponseError("the token endpoint answered no JSON object")
        return resp.body

    def _announce(self, message: str) -> None:
        self.notify(message)
        self._trace(message)

    def _trace(self, message: str) -> None:
        if self.debug:
            self.debug(message)

    def _ms(self, t0: float) -> int:
        return int((self.monotonic() - t0) * 1000)

    def _transport_failure(
        self, failure: TransportFailure, retries: int = 0
    ) -> APIConnectionError:
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
        return resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedResponseError(
            f"the server answered HTTP {resp.status_code} with malformed JSON",
            status=resp.status_code,
            request_id=request_id,
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
                "hostname" if code in _X509_NAME_MISMATCH
                else "expired" if code == _X509_EXPIRED
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
                "WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"
            )
            reason = (
                "the server does not speak TLS on this port" if not_tls
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
