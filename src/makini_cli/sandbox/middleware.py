"""The one middleware every request passes through.

In order, it:
1. gives the request an id (`X-Request-Id: req_…`, on every answer);
2. refuses a `Host` the server is not known by (421, `hosts.py`: DNS rebinding);
3. rate-limits it (token bucket per valid bearer token; per client host for everything
   else: no token, an unknown, expired or revoked one, and every `POST /link/token`, so
   guessing tokens or client secrets is limited too) and puts
   `X-RateLimit-Limit/Remaining/Reset` on every answer;
4. reads the body, refusing more than `max_body_bytes` (413 INVALID_REQUEST, counted
   as it arrives: a declared Content-Length above the limit is refused unread, and a
   chunked body is cut off at the limit) and JSON nested deeper than `max_json_depth`
   (400 INVALID_REQUEST; the JSON parsers recurse, and 100,000 levels crash them);
5. answers with an injected fault if one is armed for it, or with a random one
   (`--faults`, `chaos.py`);
6. in embedded mode, runs the scheduler step first;
7. honours `Idempotency-Key` on mutating POSTs under `/api/` (when extensions are on);
8. turns any unhandled exception into the 500 error envelope.
It reads the sandbox time once, with the rate limit, and keeps it in the ASGI scope's
state (`now_of`): the scheduler step, the idempotency window and the routes (`NowDep`)
all use that one value, so everything a request changes carries one timestamp.
An injected 5xx (an armed fault, or one `--faults` draws) and an unhandled exception
are recorded as a `system.error` event, in a transaction of their own; failing to
record one is logged, never a reason to change the answer.
Under `--no-extensions` the `/sandbox/*` control routes, `/sandbox/instance` included,
answer 404 like an unknown path unless the request carries the data dir's control token
(`control_token.py`). Before all that it notes the time of every request (`Activity`:
the background sandbox exits after an idle period) and answers `GET /sandbox/instance`
itself: who this server process is (instance id, pid, version, data dir), so a CLI run
can tell its background sandbox from a stale state file or another program on a reused
port. That answer skips the rate limit and fault injection on purpose: it must work, and
cost no database write, even when a test has exhausted the bucket or armed a fault. It
does pass the `Host` check, which comes first: a rebinding page must not learn the data
dir either, and the 421 carries no rate-limit headers since the request was never
admitted.
Route-level errors (ApiError, Starlette's 404/405, validation) get the same envelope from
the exception handlers in `app.py`; this middleware adds the headers to them.

Random faults that cut the connection (`reset`, `drop`) need the connection itself,
which ASGI does not offer: uvicorn's `receive` is a method of its request cycle, which
holds the transport. Without one (another server), the fault starts an answer and
leaves it unfinished, which makes the server close the connection too.

Real versus sandbox time: buckets refill on the sandbox clock, but clients wait in real
time, so `Retry-After` is real seconds (the sandbox wait divided by the clock speed,
rounded up, at least 1) and `X-RateLimit-Reset` is the real Unix time at which the
bucket is full again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import secrets
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from makini_cli import __version__
from makini_cli.sandbox import (
    chaos,
    control_token,
    events,
    faults,
    idempotency,
    ratelimit,
    scheduler,
    tokens,
)
from makini_cli.sandbox.clock import real_seconds
from makini_cli.sandbox.errors import default_code, envelope_bytes
from makini_cli.sandbox.hosts import HostPolicy, host_name, host_policy
from makini_cli.sandbox.runtime import Runtime

logger = logging.getLogger("makini_cli.sandbox")

CONTROL_PREFIX = "/sandbox/"
IDEMPOTENT_PREFIX = "/api/"
INSTANCE_PATH = "/sandbox/instance"
TOKEN_PATH = "/link/token"
#: Pieces a dripped answer is cut into (`--faults` mode `drip`).
DRIP_PIECES = 8
#: How long a cut connection may take to be noticed by the server before we move on.
SEVER_WAIT_SECONDS = 5.0
_SCAN_INLINE_BYTES = 64 * 1024
_NOT_JSON_BODIES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A JSON string, escapes included (linear: the alternatives never overlap).
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOW_KEY = "now"


@dataclass
class Activity:
    """Who this server process is, and when it last had something to do.

    `instance` is random per process: a pid can be reused by an unrelated program, an
    instance id cannot. `idle_exit` (seconds) is only set for the background sandbox.
    """

    idle_exit: float | None = None
    instance: str = field(default_factory=lambda: secrets.token_hex(12))
    started_at: float = field(default_factory=time.time)
    last_request: float = field(default_factory=time.monotonic)
    in_flight: int = 0

    def idle_seconds(self, *, own: int = 0) -> float:
        """Seconds since the last request ended; 0 while one is in progress (a long
        request is activity, however long ago it began). `own` requests in flight, the
        one asking, do not count."""
        return 0.0 if self.in_flight > own else time.monotonic() - self.last_request

    def describe(self, data_dir: Path) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "pid": os.getpid(),
            "version": __version__,
            "data_dir": str(data_dir.expanduser().resolve()),
            "started_at": self.started_at,
            "idle_exit": self.idle_exit,
            "idle_seconds": round(self.idle_seconds(own=1), 3),
        }


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.get("state") or {}
    return str(state.get("request_id") or new_request_id())


def now_of(scope: Scope) -> float | None:
    """The sandbox time this request was given (None: not read yet)."""
    state: dict[str, Any] = scope.get("state") or {}
    now = state.get(_NOW_KEY)
    return None if now is None else float(now)


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token.strip())
            return None
    return None


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: dict[str, Any] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    body = envelope_bytes(code, message, request_id, details)
    await send_bytes(send, status, body, [("content-type", "application/json"), *(headers or [])])


class SandboxMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        runtime: Runtime,
        *,
        embedded: bool,
        activity: Activity | None = None,
        hosts: HostPolicy | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.embedded = embedded
        self.activity = activity or Activity()
        settings = runtime.settings
        self.hosts = hosts or host_policy(None, settings.allowed_hosts)
        self.chaos = chaos.Chaos(settings.chaos) if settings.chaos is not None else None
        #: None: the control routes are open to admin tokens (extensions on); else the
        #: token a request must carry for them to exist at all (see control_token.py).
        self.control_token = (
            None if settings.extensions else control_token.ensure_token(settings.data_dir)
        )

    def _hidden(self, scope: Scope, path: str) -> bool:
        """Whether `path` is a control route this request may not even see."""
        if self.control_token is None or not path.startswith(CONTROL_PREFIX):
            return False
        given = _header(scope, control_token.HEADER.lower().encode())
        return not control_token.matches(given, self.control_token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        activity = self.activity
        activity.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            activity.in_flight -= 1
            activity.last_request = time.monotonic()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        added: list[tuple[str, str]] = [("X-Request-Id", request_id)]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in added:
                    headers[name] = value
            await send(message)

        try:
            await self._handle(scope, receive, send_with_headers, request_id, added)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            message = "The sandbox failed to handle this request; see its log."
            await run_in_threadpool(
                self._record_error, now_of(scope), "INTERNAL_ERROR", message, request_id
            )
            if started:
                raise
            await send_error(send_with_headers, 500, "INTERNAL_ERROR", message, request_id)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        added: list[tuple[str, str]],
    ) -> None:
        method, path = str(scope["method"]), str(scope["path"])
        host = _header(scope, b"host")
        if not self.hosts.allows(host):
            name = host_name(host or "")
            await send_error(
                send,
                421,
                "INVALID_REQUEST",
                f"This sandbox does not answer for the host {name!r}, only for localhost "
                "and the address it serves on (a guard against DNS rebinding). To reach it "
                f"by that name, start it with --allowed-host {name}.",
                request_id,
                details={"host": name},
            )
            return
        hidden = self._hidden(scope, path)
        if path == INSTANCE_PATH and method == "GET" and not hidden:
            body = json.dumps(self.activity.describe(self.runtime.settings.data_dir)).encode()
            await send_bytes(send, 200, body, [("content-type", "application/json")])
            return
        token = bearer_token(scope)
        now, decision, per = await run_in_threadpool(self._take_rate, scope, token, path)
        scope["state"][_NOW_KEY] = now
        clock = self.runtime.clock
        added += [
            ("X-RateLimit-Limit", str(decision.limit)),
            ("X-RateLimit-Remaining", str(decision.remaining)),
            ("X-RateLimit-Reset", str(math.ceil(time.time() + decision.full_in / clock.speed))),
        ]
        if not decision.allowed:
            wait = real_seconds(clock, decision.retry_in)
            await send_error(
                send,
                429,
                "RATE_LIMIT_EXCEEDED",
                f"Too many requests for this {per}; retry in {wait} s.",
                request_id,
                details={"limit_per_minute": decision.limit, "retry_after": wait},
                headers=[("Retry-After", str(wait))],
            )
            return
        if hidden:
            # As Makini answers a path it does not serve: the app's own 404.
            await send_error(
                send, 404, "NOT_FOUND", f"No such resource: {method} {path}.", request_id
            )
            return
        received = await self._read_body(scope, receive, send, request_id)
        if received is None:
            return
        connection_receive, receive = receive, _replaying(received, receive)
        app = self.app
        drop = False
        if not path.startswith(CONTROL_PREFIX):
            fault = await run_in_threadpool(self._take_fault, method, path)
            if fault is not None:
                await self._fault_answer(send, fault, request_id, now)
                return
            plan = self.chaos.plan if self.chaos is not None else None
            mode = self.chaos.draw(path) if self.chaos is not None else None
            if mode is not None and plan is not None:
                logger.info("--faults: %s for %s %s", mode, method, path)
                if mode in chaos.STATUS_MODES:
                    await self._fault_answer(send, _chaos_fault(int(mode), plan), request_id, now)
                    return
                if mode == "reset":
                    # Before handling: nothing happened, and the client cannot know that.
                    await _sever(connection_receive, send, reset=True)
                    return
                if mode == "latency":
                    app = _delayed(app, plan.latency)
                elif mode == "drip":
                    send = _dripping(send, plan.drip)
                elif mode == "drop":
                    drop, outer_send = True, send
                    send = _swallow
        if self.embedded:
            await run_in_threadpool(scheduler.advance, self.runtime.store, now)
        key = _header(scope, idempotency.HEADER.encode())
        if (
            key is not None
            and self.runtime.settings.extensions
            and method == "POST"
            and path.startswith(IDEMPOTENT_PREFIX)
        ):
            await self._idempotent(scope, receive, send, request_id, key, token, received, app, now)
        else:
            await app(scope, receive, send)
        if drop:
            # After handling: the work is done (and an idempotent answer recorded), and
            # the client hears nothing.
            await _sever(connection_receive, outer_send, reset=False)

    def _take_rate(
        self, scope: Scope, token: str | None, path: str
    ) -> tuple[float, ratelimit.RateDecision, str]:
        """The request's sandbox time, read here once, and its rate-limit decision."""
        runtime = self.runtime
        now = runtime.now()
        with runtime.store.transaction() as conn:
            # A bucket per valid token; anything else shares its client's bucket, or every
            # made-up bearer string would get a fresh one and guessing would be free.
            principal = None
            if token is not None and path != TOKEN_PATH:
                principal = tokens.peek_principal(conn, now, token)
            if principal is not None:
                bucket, per = "token:" + principal.token_hash, "token"
            else:
                client = scope.get("client")
                bucket, per = "host:" + (str(client[0]) if client else "unknown"), "client"
            limit = runtime.settings.rate_limit_per_minute
            return now, ratelimit.take(conn, bucket, now, limit), per

    async def _fault_answer(
        self, send: Send, fault: faults.Fault, request_id: str, now: float
    ) -> None:
        if fault.status >= 500:
            code, message = faults.describe(fault)
            await run_in_threadpool(self._record_error, now, code, message, request_id)
        headers, body = faults.render_fault(fault, request_id)
        await send_bytes(send, fault.status, body, headers)

    def _record_error(self, now: float | None, code: str, message: str, request_id: str) -> None:
        """A `system.error` event, in its own transaction; a failure is only logged."""
        try:
            at = self.runtime.now() if now is None else now
            with self.runtime.store.transaction() as conn:
                body = {"code": code, "message": message, "request_id": request_id}
                events.record(conn, at, "system.error", None, body)
        except Exception:
            logger.exception("could not record the system.error of %s", request_id)

    def _take_fault(self, method: str, path: str) -> faults.Fault | None:
        # Most requests meet no fault: look before taking the write lock.
        with self.runtime.store.connection() as conn:
            if not faults.any_armed(conn):
                return None
        with self.runtime.store.transaction() as conn:
            return faults.take_fault(conn, method, path)

    async def _read_body(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> bytes | None:
        """The whole body, or None once the request has been answered (or abandoned).

        Read here, once, so that its size and depth are checked before any parser sees
        it; routes and the idempotency check get it replayed."""
        settings = self.runtime.settings
        limit = settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            # Refused unread: uvicorn discards what the client still sends.
            await _too_large(send, request_id, limit)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away: nobody to answer
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > limit:
                await _too_large(send, request_id, limit)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        depth = settings.max_json_depth
        too_deep = False
        if content_type not in _NOT_JSON_BODIES:
            # A scan of a large body takes some tens of ms: off the event loop, then.
            too_deep = (
                await run_in_threadpool(json_too_deep, body, depth)
                if len(body) > _SCAN_INLINE_BYTES
                else json_too_deep(body, depth)
            )
        if too_deep:
            await send_error(
                send,
                400,
                "INVALID_REQUEST",
                f"The JSON body is nested deeper than {settings.max_json_depth} levels.",
                request_id,
                details={"max_depth": settings.max_json_depth},
            )
            return None
        return body

    async def _idempotent(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        key: str,
        token: str | None,
        body: bytes,
        app: ASGIApp,
        now: float,
    ) -> None:
        if not 0 < len(key) <= idempotency.MAX_KEY_LENGTH:
            await send_error(
                send,
                400,
                "INVALID_REQUEST",
                f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_LENGTH} characters.",
                request_id,
            )
            return
        runtime = self.runtime
        store = runtime.store

        def peek() -> tokens.Principal | None:
            with store.connection() as conn:
                return tokens.peek_principal(conn, now, token)

        principal = await run_in_threadpool(peek)
        if principal is None:
            # Not authenticated: the route answers 401/403 and nothing is recorded.
            await app(scope, receive, send)
            return
        claim = idempotency.Claim(principal.idempotency_subject, key)
        print_ = claim.fingerprint(
            str(scope["method"]), str(scope["path"]), scope.get("query_string", b"").decode(), body
        )

        def begin() -> idempotency.Outcome | idempotency.StoredAnswer:
            with store.transaction() as conn:
                return idempotency.begin(
                    conn,
                    claim.subject,
                    claim.lookup,
                    print_,
                    now,
                    owner=runtime.owner,
                    # Wall-clock: the lease bounds the request's real life (idempotency.py).
                    real_now=time.time(),
                )

        outcome = await run_in_threadpool(begin)
        if isinstance(outcome, idempotency.StoredAnswer):
            answer = claim.unseal(outcome.body)
            if answer is None:
                # Only a record altered behind the sandbox's back: the key found it, so
                # the same key sealed it.
                await send_error(
                    send,
                    409,
                    "IDEMPOTENCY_KEY_REUSED",
                    "The first answer to this Idempotency-Key cannot be read back; "
                    "send the request with a new key.",
                    request_id,
                    details={"reason": "unreadable"},
                )
                return
            await send_bytes(
                send,
                outcome.status,
                answer,
                [*outcome.headers, (idempotency.REPLAYED_HEADER, "true")],
            )
            return
        if outcome != "proceed":
            in_progress = outcome == "in_progress"
            await send_error(
                send,
                409,
                "IDEMPOTENCY_KEY_REUSED",
                "A request with this Idempotency-Key is still being processed; retry shortly."
                if in_progress
                else "This Idempotency-Key was already used with a different request.",
                request_id,
                details={"reason": outcome},
                headers=[("Retry-After", "1")] if in_progress else [],
            )
            return
        await self._run_and_record(scope, receive, send, claim, app)

    async def _run_and_record(
        self, scope: Scope, receive: Receive, send: Send, claim: idempotency.Claim, app: ASGIApp
    ) -> None:
        store, owner = self.runtime.store, self.runtime.owner
        status: int | None = None
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        settled = False

        def settle() -> None:
            with store.transaction() as conn:
                if status is not None and status < 500:
                    sealed = claim.seal(b"".join(chunks))
                    answer = idempotency.StoredAnswer(status, headers, sealed)
                    idempotency.finish(conn, claim.subject, claim.lookup, answer, owner=owner)
                else:
                    idempotency.abandon(conn, claim.subject, claim.lookup, owner=owner)

        async def capture(message: Message) -> None:
            nonlocal status, settled
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                )
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    # Recorded before the answer's last bytes go out: a client that sends
                    # the same key again as soon as it has the answer gets it replayed,
                    # never a 409 "still being processed" for work already done.
                    await run_in_threadpool(settle)
                    settled = True
            await send(message)

        try:
            await app(scope, receive, capture)
        except BaseException:
            if not settled:
                status = None
                await run_in_threadpool(settle)
            raise
        if not settled:
            await run_in_threadpool(settle)


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether `body`, read as JSON, nests arrays and objects deeper than `limit`.

    A scan, not a parse: brackets inside strings do not count, and a body that is not
    JSON at all only trips it if its brackets would."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case, without a pass in Python
    depth = 0
    for byte in _JSON_STRING.sub(b'""', body).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    await send_error(
        send,
        413,
        "INVALID_REQUEST",
        f"The request body is larger than the sandbox accepts ({limit} bytes).",
        request_id,
        details={"max_bytes": limit},
    )


def _chaos_fault(status: int, plan: chaos.ChaosPlan) -> faults.Fault:
    # A gateway in front of an API answers 502/504 with its own HTML page.
    return faults.Fault(
        id=0,
        path_prefix="/",
        method=None,
        status=status,
        remaining=1,
        body="html" if status in (502, 504) else "envelope",
        code=default_code(status),
        retry_after=float(plan.retry_after) if status in (429, 503) else None,
    )


def _delayed(app: ASGIApp, seconds: float) -> ASGIApp:
    async def delayed(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return delayed


def _dripping(send: Send, seconds: float) -> Send:
    async def drip(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        pieces = max(1, min(DRIP_PIECES, len(body)))
        size = -(-len(body) // pieces)
        for index in range(pieces):
            await asyncio.sleep(seconds / pieces)
            last = index == pieces - 1
            await send(
                {
                    "type": "http.response.body",
                    "body": body[index * size : (index + 1) * size],
                    "more_body": more or not last,
                }
            )

    return drip


async def _swallow(message: Message) -> None:
    """A `send` that sends nothing: the answer of a request whose connection drops."""


async def _sever(receive: Receive, send: Send, *, reset: bool) -> None:
    """Cut the connection without an answer: a TCP reset, or an orderly close."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.Transport):
        # No transport to cut (not uvicorn): an unfinished answer makes the server close.
        await send({"type": "http.response.start", "status": 502, "headers": []})
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger on, timeout 0: close() then sends RST instead of FIN.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    # Wait until uvicorn has seen the connection go, or it would answer "returned without
    # a response" with a 500 of its own into the closed socket (and log an error).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SEVER_WAIT_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass


def _replaying(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
