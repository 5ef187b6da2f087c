"""A local receiver for webhook deliveries: what `makini webhooks listen` runs.

Standard library only on the receiving path (asyncio streams and a small HTTP/1.1
parser: keep-alive, Content-Length, `Expect: 100-continue`), so it runs without the
sandbox extra; httpx is imported only to forward. Each POST, on any path, is one
delivery: its signature is checked in constant time over the raw body, and it is
answered at once: 204 when genuine (a duplicate `X-Webhook-Id` too, marked and not
forwarded again), 401 when forged or unsigned, 400 when signed but not a JSON object.
Forwarding runs beside the acknowledgements, never in front of them.

`Listener.run()` serves until its stop event is set; `serve_until_signalled()` runs it
in the foreground until Ctrl-C or SIGTERM; `ListenerThread` runs it in a thread (tests,
and anyone embedding a receiver).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from makini_cli.binding import bind, socket_url
from makini_cli.webhooks.signature import explain_failure, verify_signature

if TYPE_CHECKING:
    import httpx

Verdict = Literal["ok", "unverified", "forged", "unsigned", "duplicate", "bad_json"]

#: Larger bodies are refused (413): a delivery is a small JSON document.
MAX_BODY = 1024 * 1024
#: The request line and headers together, as the sandbox allows.
MAX_HEAD = 64 * 1024
#: A keep-alive connection with no request for this long is closed.
IDLE_SECONDS = 75.0
#: Time to send a body once its headers have come (a stalled sender is cut off).
BODY_SECONDS = 30.0
#: On shutdown: how long requests being answered and forwards under way may take.
GRACE_SECONDS = 5.0
#: How long a refused sender may go on sending before its connection is closed anyway.
LINGER_SECONDS = 2.0
#: Delivery ids remembered for de-duplication (the oldest are forgotten first).
DEDUPE_SIZE = 100_000

#: Headers that describe one connection, not the delivery: never forwarded.
HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
    }
)

_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}

#: What a GET or HEAD answers: people open the URL in a browser to see it is up.
_GREETING = b"makini webhooks listen: POST webhook deliveries to this URL\n"


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Delivery:
    """One POST received. `forwarded` is None without --forward-to, else whether it was
    relayed (a 2xx from the target). `reason` says, for people, why it was rejected or
    not forwarded; it is not part of the JSON line."""

    received_at: str
    id: str | None
    event: str | None
    connection_key: str | None
    verdict: Verdict
    forwarded: bool | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at,
            "id": self.id,
            "event": self.event,
            "connection_key": self.connection_key,
            "verdict": self.verdict,
            "forwarded": self.forwarded,
        }


@dataclass
class Counts:
    received: int = 0
    ok: int = 0
    rejected: int = 0
    duplicates: int = 0
    forwarded: int = 0
    forward_failed: int = 0

    def summary(self) -> str:
        text = (
            f"received {self.received}, ok {self.ok}, rejected {self.rejected}, "
            f"duplicates {self.duplicates}, forwarded {self.forwarded}"
        )
        if self.forward_failed:
            text += f", not forwarded {self.forward_failed}"
        return text


@dataclass(frozen=True)
class ForwardPolicy:
    """How hard a delivery is relayed: `attempts` in all, waiting `first_delay` seconds
    after the first failure and doubling up to `max_delay`. 408, 425, 429 and 5xx
    answers and network errors are retried; any other answer is final."""

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 8.0
    timeout: float = 10.0
    #: forwards in flight at once
    concurrency: int = 8

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        wait: float = min(self.max_delay, self.first_delay * 2.0 ** (failures - 1))
        if retry_after is not None:
            wait = min(self.max_delay, max(wait, retry_after))
        return wait


RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})





class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Request:
    method: str
    version: str
    #: (name as sent, value) in order, for forwarding
    raw_headers: list[tuple[str, str]]
    #: lower-cased name → value (repeated headers joined with ", ")
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def parse_head(head: bytes) -> _Request:
    """The request line and headers (`head` ends with the blank line)."""
    lines = head.lstrip(b"\r\n").split(b"\r\n")
    try:
        method, _target, version = lines[0].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest(400, "malformed request line") from None
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(505, "only HTTP/1.1 and HTTP/1.0 are spoken here")
    raw: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name_bytes, sep, value_bytes = line.partition(b":")
        if not sep or not name_bytes or name_bytes != name_bytes.strip() or line[:1] in b" \t":
            raise _BadRequest(400, "malformed header line")
        name = name_bytes.decode("latin-1")
        value = value_bytes.strip(b" \t").decode("latin-1")
        raw.append((name, value))
        key = name.lower()
        if key in headers:
            if key == "content-length" and headers[key] != value:
                raise _BadRequest(400, "conflicting Content-Length headers")
            if key != "content-length":
                headers[key] = f"{headers[key]}, {value}"
        else:
            headers[key] = value
    return _Request(method, version, raw, headers)


def _response(status: int, body: bytes = b"", *, close: bool = False, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
    if status != 204:
        head += f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + extra + "\r\n").encode("ascii") + body


#: The answers to a delivery, built once: the acknowledgement is the hot path.
_ACK = {False: _response(204), True: _response(204, close=True)}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _text(value: Any) -> str | None:
    """A payload field as text for the record: strings as they are, numbers as written."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


class Listener:
    """Receives, verifies, de-duplicates and (optionally) forwards deliveries.

    `secret` None checks no signatures: every delivery is `unverified` (and accepted).
    `on_delivery` is called once per POST, in the event loop's thread, when its outcome
    is final: at once, or once its forward has succeeded or been given up. If it raises,
    the listener stops and `run()` raises that error. `on_warning` hears, in one line,
    about forwards given up.
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None,
        on_delivery: Callable[[Delivery], None],
        forward_to: str | None = None,
        on_warning: Callable[[str], None] | None = None,
        policy: ForwardPolicy | None = None,
        max_body: int = MAX_BODY,
        dedupe_size: int = DEDUPE_SIZE,
        grace: float = GRACE_SECONDS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self.forward_to = forward_to
        self.on_delivery = on_delivery
        self.on_warning = on_warning or (lambda message: None)
        self.policy = policy or ForwardPolicy()
        self.max_body = max_body
        self.dedupe_size = dedupe_size
        self.grace = grace
        self.clock = clock or (lambda: datetime.now(UTC))
        self.counts = Counts()
        self.url = ""
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._closing = False
        self._failure: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._idle: set[asyncio.Task[Any]] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._forwards: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._client: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------ serving

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        stop: asyncio.Event,
        on_ready: Callable[[str], None] | None = None,
        sock: socket.socket | None = None,
    ) -> Counts:
        """Serve until `stop` is set, then finish what is under way (within `grace`
        seconds) and return the counts. Raises BindError when the address is taken."""
        self._stop = stop
        sock = sock or bind(host, port)
        try:
            if self.forward_to:
                self._client = self._forward_client(self.forward_to)
                self._slots = asyncio.Semaphore(self.policy.concurrency)
            server = await asyncio.start_server(self._connection, sock=sock, limit=MAX_HEAD)
        except BaseException:
            sock.close()
            raise
        try:
            self.url = socket_url(sock)
            if on_ready is not None:
                on_ready(self.url)
            await stop.wait()
        finally:
            await self._shut_down(server)
        if self._failure is not None:
            raise self._failure
        return self.counts

    def _forward_client(self, url: str) -> httpx.AsyncClient:
        from urllib.parse import urlsplit

        import httpx

        from makini_cli import __version__
        from makini_cli.sandbox.settings import is_loopback

        return httpx.AsyncClient(
            timeout=self.policy.timeout,
            limits=httpx.Limits(max_connections=self.policy.concurrency),
            headers={"User-Agent": f"makini-cli/{__version__}"},
            # A proxy configured for the internet has no business with a local app.
            trust_env=not is_loopback(urlsplit(url).hostname or ""),
        )

    async def _shut_down(self, server: asyncio.Server) -> None:
        self._closing = True
        server.close()
        # Connections waiting for their next request go now; those answering one finish
        # it (with Connection: close) within the grace period.
        for task in list(self._idle):
            task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        for tasks in (self._handlers, self._forwards):
            pending = [t for t in tasks if not t.done()]
            if pending:
                await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await server.wait_closed()

    def abort(self) -> None:
        """A second Ctrl-C: no grace for what is under way."""
        self.grace = 0.0
        for task in [*self._handlers, *self._forwards]:
            task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while not self._closing:
                self._idle.add(task)
                try:
                    async with asyncio.timeout(IDLE_SECONDS):
                        head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    await self._refuse(reader, writer, 431, "headers too large")
                    return
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                finally:
                    self._idle.discard(task)
                if not await self._request(head, reader, writer):
                    return
        except asyncio.CancelledError:
            pass  # shutting down: the connection closes below
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the sender went away, or stalled, mid-request
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, writer: asyncio.StreamWriter, response: bytes) -> None:
        writer.write(response)
        await writer.drain()

    async def _refuse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        text: str,
        extra: str = "",
    ) -> None:
        """Answer with an error and close, reading (and dropping) what the sender still
        sends until it closes too: closing on unread data would reset the connection,
        and the sender would lose the answer."""
        await self._answer(writer, _response(status, f"{text}\n".encode(), close=True, extra=extra))
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(LINGER_SECONDS):
                while await reader.read(65536):
                    pass

    async def _request(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; whether the connection stays open for the next."""
        try:
            request = parse_head(head)
        except _BadRequest as exc:
            await self._refuse(reader, writer, exc.status, str(exc))
            return False
        headers = request.headers
        if "transfer-encoding" in headers:
            await self._refuse(reader, writer, 411, "send the body with a Content-Length")
            return False
        length_text = headers.get("content-length", "0")
        if not (length_text.isascii() and length_text.isdigit() and len(length_text) < 16):
            await self._refuse(reader, writer, 400, "bad Content-Length")
            return False
        length = int(length_text)
        if length > self.max_body:
            await self._refuse(reader, writer, 413, "body too large")
            return False
        if length and headers.get("expect", "").lower() == "100-continue":
            await self._answer(writer, _CONTINUE)
        body = b""
        if length:
            async with asyncio.timeout(BODY_SECONDS):
                body = await reader.readexactly(length)
        keep = request.keep_alive and not self._closing
        if request.method == "POST":
            self._deliver(request, body, writer, keep)
            await writer.drain()
            return keep
        if request.method in ("GET", "HEAD"):
            response = _response(200, _GREETING, close=not keep)
            if request.method == "HEAD":
                response = response[: -len(_GREETING)]
            await self._answer(writer, response)
            return keep
        await self._refuse(
            reader, writer, 405, "POST deliveries here", extra="Allow: GET, HEAD, POST\r\n"
        )
        return False

    # ------------------------------------------------------------------ deliveries

    def _deliver(
        self, request: _Request, body: bytes, writer: asyncio.StreamWriter, keep: bool
    ) -> None:
        """Check one delivery, answer it, then report or forward it."""
        self.counts.received += 1
        received_at = utc_stamp(self.clock())
        headers = request.headers
        signature = headers.get("x-webhook-signature")
        verdict: Verdict
        if self.secret is None:
            verdict = "unverified"
        elif not signature:
            verdict = "unsigned"
        elif verify_signature(self.secret, body, signature):
            verdict = "ok"
        else:
            verdict = "forged"
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        fields = payload if isinstance(payload, dict) else {}
        delivery_id = headers.get("x-webhook-id") or _text(fields.get("id"))
        accepted = verdict in ("ok", "unverified")
        if accepted and not isinstance(payload, dict):
            verdict = "bad_json"
        elif accepted and delivery_id is not None:
            if delivery_id in self._seen:
                verdict = "duplicate"
            else:
                self._seen[delivery_id] = None
                if len(self._seen) > self.dedupe_size:
                    self._seen.popitem(last=False)
        if verdict in ("ok", "unverified", "duplicate"):
            writer.write(_ACK[not keep])
        elif verdict == "bad_json":
            writer.write(_response(400, b"the body is not a JSON object\n", close=not keep))
        elif verdict == "unsigned":
            writer.write(_response(401, b"X-Webhook-Signature is missing\n", close=not keep))
        else:
            writer.write(_response(401, b"the signature does not match\n", close=not keep))
        # Everything below happens after the answer is on its way.
        delivery = Delivery(
            received_at=received_at,
            id=delivery_id,
            event=_text(fields.get("event")),
            connection_key=_text(fields.get("connection_key")),
            verdict=verdict,
            forwarded=None if self.forward_to is None else False,
        )
        if verdict in ("ok", "unverified"):
            self.counts.ok += 1
        elif verdict == "duplicate":
            self.counts.duplicates += 1
            delivery.reason = "already received" + (
                ": not forwarded again" if self.forward_to is not None else ""
            )
        else:
            self.counts.rejected += 1
            delivery.reason = self._why(verdict, body, signature)
        if self.forward_to is not None and verdict in ("ok", "unverified"):
            task = asyncio.get_running_loop().create_task(
                self._forward(delivery, request.raw_headers, body)
            )
            self._forwards.add(task)
            task.add_done_callback(self._forwards.discard)
            return
        self._emit(delivery)

    def _why(self, verdict: Verdict, body: bytes, signature: str | None) -> str:
        if verdict == "bad_json":
            return "signed, but the body is not a JSON object"
        if verdict == "unsigned":
            return "no X-Webhook-Signature header"
        assert self.secret is not None
        failure = explain_failure(self.secret, body, signature)
        return failure.message if failure is not None else "the signature does not match"

    def _emit(self, delivery: Delivery) -> None:
        if self._failure is not None:
            return
        try:
            self.on_delivery(delivery)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            self._failure = exc
            if self._stop is not None:
                self._stop.set()

    # ------------------------------------------------------------------ forwarding

    async def _forward(self, delivery: Delivery, raw: list[tuple[str, str]], body: bytes) -> None:
        assert self._slots is not None
        reason: str | None = "stopped before it could be forwarded"
        try:
            async with self._slots:
                reason = await self._relay(raw, body)
        finally:
            delivery.forwarded = reason is None
            if reason is None:
                self.counts.forwarded += 1
            else:
                self.counts.forward_failed += 1
                delivery.reason = f"not forwarded: {reason}"
                self.on_warning(
                    f"delivery {delivery.id or '(no id)'} was not forwarded to "
                    f"{self.forward_to}: {reason}"
                )
            self._emit(delivery)

    async def _relay(self, raw: list[tuple[str, str]], body: bytes) -> str | None:
        """POST the delivery to the target, retrying; None when it was taken, else why not."""
        import httpx

        assert self._client is not None and self.forward_to is not None
        headers = [(name, value) for name, value in raw if name.lower() not in HOP_BY_HOP]
        policy = self.policy
        reason = "not tried"
        for attempt in range(1, policy.attempts + 1):
            retry_after: float | None = None
            try:
                resp = await self._client.post(self.forward_to, content=body, headers=headers)
            except httpx.TransportError as exc:
                reason = _transport_reason(exc)
            else:
                await resp.aclose()
                if 200 <= resp.status_code < 300:
                    return None
                reason = f"it answered {resp.status_code}"
                if resp.status_code not in RETRYABLE:
                    return f"{reason} (not retried)"
                value = resp.headers.get("retry-after", "")
                retry_after = float(value) if value.isascii() and value.isdigit() else None
            if attempt < policy.attempts:
                await asyncio.sleep(policy.delay(attempt, retry_after))
        return f"{reason}, after {policy.attempts} attempts"


def _transport_reason(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return f"the connection failed ({type(exc).__name__})"


# ---------------------------------------------------------------------- runners


def serve_until_signalled(
    listener: Listener,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> Counts:
    """Serve in the foreground until Ctrl-C or SIGTERM, then stop cleanly and return the
    counts. A second signal skips the grace period for what is under way."""
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in handled}

    async def main() -> Counts:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def signalled() -> None:
            if stop.is_set():
                listener.abort()
            stop.set()

        for sig in handled:
            # Not on Windows, nor outside the main thread: Ctrl-C then raises as usual.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, signalled)
        return await listener.run(host, port, stop=stop, on_ready=on_ready)

    try:
        return asyncio.run(main())
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)


class ListenerThread:
    """A listener in a daemon thread with its own event loop, on 127.0.0.1 and a free
    port by default: `with ListenerThread(listener) as running: running.url`. Stopped
    (and the counts final) on exit, or by `stop()`."""

    def __init__(self, listener: Listener, host: str = "127.0.0.1", port: int = 0) -> None:
        self.listener = listener
        self.host = host
        self.port = port
        self.url = ""
        self.counts: Counts | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ListenerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 15.0) -> str:
        sock = bind(self.host, self.port)  # here, so a taken port fails in the caller
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="makini-webhooks-listen", daemon=True
        )
        self._thread.start()
        self._ready.wait(timeout)
        if self.error is not None:
            raise self.error
        if not self.url:
            raise RuntimeError("the listener did not start")
        return self.url

    def _run(self, sock: socket.socket) -> None:
        async def main() -> Counts:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(url: str) -> None:
                self.url = url
                self._ready.set()

            return await self.listener.run(stop=self._stop, on_ready=ready, sock=sock)

        try:
            self.counts = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported by start() and stop()
            self.error = exc
        finally:
            self._ready.set()

    def stop(self, timeout: float = 30.0) -> Counts:
        """Stop serving, let what is under way finish, and return the counts."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended on its own
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        if self.counts is None:
            raise RuntimeError("the listener did not stop")
        return self.counts
