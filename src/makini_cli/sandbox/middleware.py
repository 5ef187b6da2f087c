"""The one middleware every request passes through.

In order, it:
1. gives the request an id (`X-Request-Id: req_…`, on every answer);
2. rate-limits it (token bucket per bearer token, per client host when anonymous) and
   puts `X-RateLimit-Limit/Remaining/Reset` on every answer;
3. answers with an injected fault if one is armed for it;
4. in embedded mode, runs the scheduler step first;
5. honours `Idempotency-Key` on mutating POSTs under `/api/` (when extensions are on);
6. turns any unhandled exception into the 500 error envelope.
Before all that it notes the time of every request (`Activity`: the background sandbox
exits after an idle period) and answers `GET /sandbox/instance` itself: who this server
process is (instance id, pid, version, data dir), so a CLI run can tell its background
sandbox from a stale state file or another program on a reused port. That answer skips
the rate limit and fault injection on purpose: it must work, and cost no database write,
even when a test has exhausted the bucket or armed a fault.
Route-level errors (ApiError, Starlette's 404/405, validation) get the same envelope from
the exception handlers in `app.py`; this middleware adds the headers to them.

Real versus sandbox time: buckets refill on the sandbox clock, but clients wait in real
time, so `Retry-After` is real seconds (the sandbox wait divided by the clock speed,
rounded up, at least 1) and `X-RateLimit-Reset` is the real Unix time at which the
bucket is full again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from makini_cli import __version__
from makini_cli.sandbox import faults, idempotency, ratelimit, scheduler, tokens
from makini_cli.sandbox.clock import real_seconds
from makini_cli.sandbox.errors import envelope_bytes
from makini_cli.sandbox.runtime import Runtime

logger = logging.getLogger("makini_cli.sandbox")

CONTROL_PREFIX = "/sandbox/"
IDEMPOTENT_PREFIX = "/api/"
INSTANCE_PATH = "/sandbox/instance"


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
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.embedded = embedded
        self.activity = activity or Activity()

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
            if started:
                raise
            await send_error(
                send_with_headers,
                500,
                "INTERNAL_ERROR",
                "The sandbox failed to handle this request; see its log.",
                request_id,
            )

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        added: list[tuple[str, str]],
    ) -> None:
        method, path = str(scope["method"]), str(scope["path"])
        if path == INSTANCE_PATH and method == "GET":
            body = json.dumps(self.activity.describe(self.runtime.settings.data_dir)).encode()
            await send_bytes(send, 200, body, [("content-type", "application/json")])
            return
        token = bearer_token(scope)
        decision = await run_in_threadpool(self._take_rate, scope, token)
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
                f"Too many requests for this token; retry in {wait} s.",
                request_id,
                details={"limit_per_minute": decision.limit, "retry_after": wait},
                headers=[("Retry-After", str(wait))],
            )
            return
        if not path.startswith(CONTROL_PREFIX):
            fault = await run_in_threadpool(self._take_fault, method, path)
            if fault is not None:
                headers, body = faults.render_fault(fault, request_id)
                await send_bytes(send, fault.status, body, headers)
                return
        if self.embedded:
            await run_in_threadpool(scheduler.advance, self.runtime.store, self.runtime.now())
        key = _header(scope, idempotency.HEADER.encode())
        if (
            key is not None
            and self.runtime.settings.extensions
            and method == "POST"
            and path.startswith(IDEMPOTENT_PREFIX)
        ):
            await self._idempotent(scope, receive, send, request_id, key, token)
            return
        await self.app(scope, receive, send)

    def _take_rate(self, scope: Scope, token: str | None) -> ratelimit.RateDecision:
        if token is not None:
            bucket = "token:" + tokens.hash_token(token)
        else:
            client = scope.get("client")
            bucket = "host:" + (str(client[0]) if client else "unknown")
        with self.runtime.store.transaction() as conn:
            return ratelimit.take(
                conn, bucket, self.runtime.now(), self.runtime.settings.rate_limit_per_minute
            )

    def _take_fault(self, method: str, path: str) -> faults.Fault | None:
        # Most requests meet no fault: look before taking the write lock.
        with self.runtime.store.connection() as conn:
            if not faults.any_armed(conn):
                return None
        with self.runtime.store.transaction() as conn:
            return faults.take_fault(conn, method, path)

    async def _idempotent(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        key: str,
        token: str | None,
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
        body = await _read_body(receive)
        replay_receive = _replaying(body, receive)
        store, now = self.runtime.store, self.runtime.now()

        def peek() -> tokens.Principal | None:
            with store.connection() as conn:
                return tokens.peek_principal(conn, now, token)

        principal = await run_in_threadpool(peek)
        if principal is None:
            # Not authenticated: the route answers 401/403 and nothing is recorded.
            await self.app(scope, replay_receive, send)
            return
        subject = principal.idempotency_subject
        print_ = idempotency.fingerprint(
            str(scope["method"]), str(scope["path"]), scope.get("query_string", b"").decode(), body
        )

        def begin() -> idempotency.Outcome | idempotency.StoredAnswer:
            with store.transaction() as conn:
                return idempotency.begin(conn, subject, key, print_, now)

        outcome = await run_in_threadpool(begin)
        if isinstance(outcome, idempotency.StoredAnswer):
            await send_bytes(
                send,
                outcome.status,
                outcome.body,
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
        await self._run_and_record(scope, replay_receive, send, subject, key)

    async def _run_and_record(
        self, scope: Scope, receive: Receive, send: Send, subject: str, key: str
    ) -> None:
        store = self.runtime.store
        status: int | None = None
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                )
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        def settle() -> None:
            with store.transaction() as conn:
                if status is not None and status < 500:
                    answer = idempotency.StoredAnswer(status, headers, b"".join(chunks))
                    idempotency.finish(conn, subject, key, answer)
                else:
                    idempotency.abandon(conn, subject, key)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            status = None
            await run_in_threadpool(settle)
            raise
        await run_in_threadpool(settle)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
