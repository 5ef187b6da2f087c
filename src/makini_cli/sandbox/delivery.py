"""The sender: posts the outbox's due deliveries and records every attempt.

Each attempt goes claim → send → settle:
1. `claim_due`, one short transaction: take due pending deliveries of enabled webhooks
   that no live sender holds; for each, write the attempt (`outcome_known` 0) and a
   claim (this runtime's owner and a lease), and read the webhook's URL and secret and
   the event's payload as they are now.
2. Send, with no transaction open: a POST of the payload as compact JSON, signed
   (`makini_cli.webhooks.signature`), given `SEND_TIMEOUT_SECONDS` real seconds in all;
   `X-Webhook-Timestamp` is the attempt's time on the sandbox clock. Redirects are not
   followed (not a 2xx: a failed attempt).
3. `settle`, another short transaction: the attempt's status code or error and
   duration; the delivery `succeeded` on a 2xx, else its next attempt is due
   `30 s × 2^(n−1)` (sandbox time; n: attempts in its window) after this one, but never
   after the window's end, 24 h after its first attempt; an attempt at or past that end
   that fails makes it `failed`.

Crashes. An attempt written but never settled means its sender stopped mid-send (a
`kill -9`, a power cut): the receiver may or may not have the payload. The claim of a
sender that is provably gone (same host, its process dead: `idempotency.Owner`) or
whose lease ran out is free, and the next claim marks that attempt interrupted and sends
again at once, with the same `X-Webhook-Id` (the event id), so a receiver can drop the
duplicate. A sender stopped gracefully (the end of a CLI run that hosted an embedded
sandbox, Ctrl-C) settles its attempts in flight as interrupted, with the usual backoff.

Two processes on one data dir never send the same attempt: claiming happens under the
database's write lock, and skips live claims. A claim is live while its lease runs
(`LEASE_SECONDS`, real seconds: a send is bounded in real time, and the sandbox clock
can run a million times faster or stand still) and its holder may still be running: on
another machine it cannot be told, in this process the running senders are known, and
of another process on this host its pid and start time tell (as for idempotency keys).

Waking. The sender polls the due index: every `BUSY_POLL_SECONDS` (or sooner, if the
next attempt is due sooner in real time) while deliveries are pending, every
`IDLE_POLL_SECONDS` when none are; routes that queue one (`test`, `retry`) wake it at
once. A poll is one read; only due work takes the write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.concurrency import run_in_threadpool

from makini_cli import __version__
from makini_cli.sandbox import events, idempotency
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.settings import is_loopback
from makini_cli.webhooks.signature import sign

logger = logging.getLogger("makini_cli.sandbox")

SEND_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 30.0
RETRY_WINDOW_SECONDS = 24 * 3_600.0
#: Real seconds a claim holds against a sender on another machine: a send, plus the
#: database waits before and after it.
LEASE_SECONDS = 60.0
BATCH = 8
BUSY_POLL_SECONDS = 0.25
IDLE_POLL_SECONDS = 1.0
USER_AGENT = f"makini-sandbox/{__version__}"
INTERRUPTED = "interrupted: the sender stopped before the answer came"
#: Real seconds between tries to record an outcome while the database stays busy.
SETTLE_RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0)
_MAX_ERROR_LENGTH = 500
# 30 s × 2^30 is some 1000 years: later attempts of a long outage wait the window's end.
_MAX_DOUBLINGS = 30

#: Owner ids of the senders running in this process: a claim of this pid under another
#: id is left by a sender that stopped (a sandbox stopped and started again in-process).
_RUNNING: set[str] = set()


@dataclass(frozen=True)
class Attempt:
    """One claimed attempt: what to send, where, and which rows to settle."""

    delivery_id: str
    attempt_seq: int
    event_id: str
    url: str
    secret: str
    body: bytes
    at: float  # sandbox time of the attempt

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Webhook-Signature": sign(self.secret, self.body),
            "X-Webhook-Id": self.event_id,
            "X-Webhook-Timestamp": str(int(self.at)),
            "User-Agent": USER_AGENT,
        }


def body_of(payload: dict[str, Any]) -> bytes:
    """The payload as `JSON.stringify` writes it: what is sent, and signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------------- claims


def _holder(owner: idempotency.Owner) -> str:
    return json.dumps(
        {"host": owner.host, "pid": owner.pid, "started": owner.started, "id": owner.instance}
    )


def _claim_free(row: sqlite3.Row, me: idempotency.Owner, real_now: float) -> bool:
    if row["claimed_by"] is None or row["claimed_until"] is None:
        return True
    if row["claimed_until"] <= real_now:
        return True
    try:
        holder = json.loads(row["claimed_by"])
    except ValueError:
        return True
    if holder.get("id") == me.instance:
        return False  # in flight here
    if (holder.get("host"), holder.get("pid"), holder.get("started")) == (
        me.host,
        me.pid,
        me.started,
    ):
        return holder.get("id") not in _RUNNING  # this process: it knows its senders
    # The rule idempotency judges its claims' owners by.
    return idempotency.owner_gone(holder.get("host"), holder.get("pid"), holder.get("started"), me)


def _ours(row: sqlite3.Row, me: idempotency.Owner) -> bool:
    """Whether `row`'s claim is ours or nobody's (a claim ours was taken over is not)."""
    if row["claimed_by"] is None:
        return True
    try:
        return bool(json.loads(row["claimed_by"]).get("id") == me.instance)
    except ValueError:
        return False


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the earliest pending delivery of an enabled webhook is due (None: none is)."""
    row = conn.execute(
        "SELECT MIN(d.next_attempt_at) FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.status = 'pending' AND w.enabled = 1 AND w.deleted_at IS NULL"
    ).fetchone()
    return None if row[0] is None else float(row[0])


def claim_due(
    conn: sqlite3.Connection,
    now: float,
    me: idempotency.Owner,
    real_now: float,
    limit: int = BATCH,
) -> list[Attempt]:
    """Claim up to `limit` deliveries due at sandbox time `now`, writing their attempts.
    Call inside a transaction; send after it commits."""
    rows = conn.execute(
        "SELECT d.*, w.url, w.secret FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1"
        " AND w.deleted_at IS NULL ORDER BY d.next_attempt_at, d.seq LIMIT ?",
        (now, limit * 8),
    ).fetchall()
    claimed: list[Attempt] = []
    for row in rows:
        if len(claimed) >= limit:
            break
        if not _claim_free(row, me, real_now):
            continue
        delivery_id = row["id"]
        payload = events.get_event(conn, row["event_id"])
        if payload is None:
            # Only a hand-edited database gets here: nothing left to send.
            conn.execute(
                "UPDATE deliveries SET status = 'failed', next_attempt_at = NULL,"
                " claimed_by = NULL, claimed_until = NULL, updated_at = ? WHERE id = ?",
                (now, delivery_id),
            )
            continue
        conn.execute(
            "UPDATE delivery_attempts SET error = ?, outcome_known = 1"
            " WHERE delivery_id = ? AND outcome_known = 0",
            (INTERRUPTED, delivery_id),
        )
        cursor = conn.execute(
            "INSERT INTO delivery_attempts (delivery_id, at) VALUES (?, ?)", (delivery_id, now)
        )
        assert cursor.lastrowid is not None
        # The first attempt of a window (the first ever, or after a retry by hand)
        # opens it: its time bounds the 24 h, its seq counts the window's attempts.
        conn.execute(
            "UPDATE deliveries SET claimed_by = ?, claimed_until = ?,"
            " window_start_seq = CASE WHEN first_attempt_at IS NULL THEN ?"
            " ELSE window_start_seq END,"
            " first_attempt_at = COALESCE(first_attempt_at, ?), updated_at = ? WHERE id = ?",
            (_holder(me), real_now + LEASE_SECONDS, cursor.lastrowid, now, now, delivery_id),
        )
        claimed.append(
            Attempt(
                delivery_id=delivery_id,
                attempt_seq=cursor.lastrowid,
                event_id=row["event_id"],
                url=row["url"],
                secret=row["secret"],
                body=body_of(payload),
                at=now,
            )
        )
    return claimed


def settle(
    conn: sqlite3.Connection,
    attempt: Attempt,
    me: idempotency.Owner,
    now: float,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int | None,
) -> str | None:
    """Record an attempt's outcome and what follows for its delivery (see the module's
    doc). Call inside a transaction. Answers the delivery's status (None: it is gone)."""
    conn.execute(
        "UPDATE delivery_attempts SET status_code = ?, error = ?, duration_ms = ?,"
        " outcome_known = 1 WHERE seq = ?",
        (status_code, error, duration_ms, attempt.attempt_seq),
    )
    row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (attempt.delivery_id,)).fetchone()
    if row is None:
        return None  # the sandbox was reset meanwhile
    if not _ours(row, me):
        return str(row["status"])  # our lease ran out and another sender took over
    if status_code is not None and 200 <= status_code < 300:
        status, next_at = "succeeded", None
    elif row["status"] != "pending":
        # Failed meanwhile (its webhook was deleted): it stays so.
        status, next_at = str(row["status"]), None
    else:
        # Set by the claim; a retry by hand meanwhile may have opened a new window.
        first = attempt.at if row["first_attempt_at"] is None else float(row["first_attempt_at"])
        end = first + RETRY_WINDOW_SECONDS
        if attempt.at >= end:
            status, next_at = "failed", None
        else:
            # Counted by seq from the attempt that opened the window, not by time: a
            # retry by hand at the very instant of the last attempt must not count it.
            start = row["window_start_seq"]
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id = ? AND seq >= ?",
                (attempt.delivery_id, attempt.attempt_seq if start is None else int(start)),
            ).fetchone()
            doublings = min(max(int(count) - 1, 0), _MAX_DOUBLINGS)
            status = "pending"
            next_at = min(attempt.at + FIRST_RETRY_SECONDS * 2**doublings, end)
    conn.execute(
        "UPDATE deliveries SET status = ?, next_attempt_at = ?, claimed_by = NULL,"
        " claimed_until = NULL, updated_at = ? WHERE id = ?",
        (status, next_at, now, attempt.delivery_id),
    )
    return status


# ---------------------------------------------------------------------- sending


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.ConnectError):
        kind = "connection failed"
    elif isinstance(exc, httpx.RemoteProtocolError):
        kind = "protocol error"
    else:
        kind = "request failed"
    detail = str(exc) or type(exc).__name__
    return f"{kind}: {detail}"[:_MAX_ERROR_LENGTH]


class Sender:
    """The sending loop of one sandbox process (`run`), started by the app's lifespan."""

    def __init__(self, runtime: Runtime, *, send_timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        self.runtime = runtime
        self.send_timeout = send_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._clients: dict[bool, httpx.AsyncClient] = {}

    def wake(self) -> None:
        """Look for due work now; safe from any thread (routes run in a thread pool)."""
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
                loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Send until cancelled. A failing step is logged, never the end of the loop."""
        self._loop = asyncio.get_running_loop()
        self._event = event = asyncio.Event()
        _RUNNING.add(self.runtime.owner.instance)
        try:
            async with self._closing_clients():
                while True:
                    event.clear()
                    try:
                        wait = await self.step()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        logger.exception("webhook sender step failed")
                        wait = IDLE_POLL_SECONDS
                    if wait > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(event.wait(), wait)
        finally:
            _RUNNING.discard(self.runtime.owner.instance)

    async def step(self) -> float:
        """Send what is due now; answers how long (real seconds) to wait before the next."""
        attempts, wait = await run_in_threadpool(self._claim)
        if attempts:
            outcomes = await asyncio.gather(
                *(self._send(attempt) for attempt in attempts), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                if isinstance(outcome, BaseException):
                    logger.error("webhook delivery failed", exc_info=outcome)
        return wait

    def _claim(self) -> tuple[list[Attempt], float]:
        runtime = self.runtime
        now = runtime.now()
        with runtime.store.connection() as conn:
            due = next_due(conn)
        if due is None:
            return [], IDLE_POLL_SECONDS
        if due > now:
            return [], min(BUSY_POLL_SECONDS, (due - now) / runtime.clock.speed)
        with runtime.store.transaction() as conn:
            # Wall-clock time for the lease by design: see the module's doc.
            attempts = claim_due(conn, now, runtime.owner, time.time())
        # Claimed: look again at once. Nothing claimable (all held elsewhere): poll.
        return attempts, 0.0 if attempts else BUSY_POLL_SECONDS

    async def _send(self, attempt: Attempt) -> None:
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            try:
                async with asyncio.timeout(self.send_timeout):
                    status_code = await self._post(attempt)
            except TimeoutError:
                error = f"timeout: no answer within {self.send_timeout:g} s"
            except httpx.HTTPError as exc:
                error = _describe(exc)
            except Exception as exc:  # noqa: BLE001 - a bad URL must fail the attempt, not the loop
                error = f"request failed: {type(exc).__name__}: {exc}"[:_MAX_ERROR_LENGTH]
        except asyncio.CancelledError:
            # Stopping (the end of a CLI run, Ctrl-C): settle it here and now, for the
            # store closes right after. The receiver may have it: the resend keeps its id.
            with contextlib.suppress(Exception):
                self._settle(attempt, None, INTERRUPTED, _elapsed_ms(started))
            raise
        duration_ms = _elapsed_ms(started)
        for pause in SETTLE_RETRY_PAUSES:
            try:
                await run_in_threadpool(self._settle, attempt, status_code, error, duration_ms)
                return
            except sqlite3.OperationalError:
                # Busy past the store's timeout: the outcome is known, keep it. Left
                # unsettled, our own claim would hold the delivery for the whole lease.
                logger.warning("could not record a webhook attempt yet; retrying", exc_info=True)
                await asyncio.sleep(pause)
        await run_in_threadpool(self._settle, attempt, status_code, error, duration_ms)

    def _settle(
        self, attempt: Attempt, status_code: int | None, error: str | None, duration_ms: int
    ) -> None:
        runtime = self.runtime
        with runtime.store.transaction() as conn:
            settle(
                conn,
                attempt,
                runtime.owner,
                runtime.now(),
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )

    async def _post(self, attempt: Attempt) -> int:
        client = self._client_for(attempt.url)
        request = client.build_request(
            "POST", attempt.url, content=attempt.body, headers=attempt.headers()
        )
        response = await client.send(request, stream=True)
        # The status is the answer; the body is the receiver's business.
        await response.aclose()
        return response.status_code

    def _client_for(self, url: str) -> httpx.AsyncClient:
        # A receiver on this machine is reached directly, whatever HTTP(S)_PROXY says;
        # others the way the environment says. Made on first use: building an SSL
        # context takes a while, and an embedded sandbox must not delay its CLI run.
        direct = is_loopback(urlsplit(url).hostname or "")
        client = self._clients.get(direct)
        if client is None:
            client = self._clients[direct] = httpx.AsyncClient(
                timeout=httpx.Timeout(self.send_timeout),
                follow_redirects=False,
                trust_env=not direct,
            )
        return client

    @contextlib.asynccontextmanager
    async def _closing_clients(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            clients, self._clients = list(self._clients.values()), {}
            for client in clients:
                with contextlib.suppress(Exception):
                    await client.aclose()


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
