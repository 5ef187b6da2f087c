"""A seeded HTTP fault proxy between the CLI and a sandbox, for the resilience invariants
of cli-guide §5 (issue 7).

The proxy listens on 127.0.0.1 (an ephemeral port) and forwards each request to the
upstream sandbox, or instead, at `rate`, meets it with one fault:

- `rate_limited`     429 with `Retry-After: 0` (sometimes 1); the sandbox never sees it
- `bad_gateway`      502 HTML page, as a load balancer answers; with or without Retry-After
- `unavailable`      503 JSON error envelope; with or without Retry-After
- `gateway_timeout`  504 plain text; with or without Retry-After
- `latency`          forwarded after 50–300 ms
- `drip`             forwarded, and the answer sent a few bytes at a time with small pauses
- `reset`            the request is read, then the socket reset (RST) without forwarding:
                     the server never saw it
- `drop`             forwarded, the server's answer read, then the socket closed without a
                     byte of it: the server did the work and the client cannot know; the
                     dangerous case for a POST without an Idempotency-Key

Determinism: what happens to the n-th request (in arrival order, counted under a lock) is a
pure function of `(seed, n)` (`plan`). The CLI sends its requests one after another, so a
given command line meets the same faults on every run; where requests race (polling a sync
whose progress depends on real time) the numbering, and so the faults, may shift.

One request per connection (every answer says `Connection: close`): a client never has a
half-used keep-alive connection the proxy might silently drop, so every failure it sees is
one this proxy chose and recorded.
"""

from __future__ import annotations

import http
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

HOST = "127.0.0.1"

#: faults the client must recover from by retrying (or cannot, and must say so)
FAILING_MODES: tuple[str, ...] = (
    "rate_limited", "bad_gateway", "unavailable", "gateway_timeout", "reset", "drop",
)
#: faults that only slow an answer down: no retry is needed, none may be made to fail
SLOW_MODES: tuple[str, ...] = ("latency", "drip")
FAULT_MODES: tuple[str, ...] = FAILING_MODES + SLOW_MODES
#: what a request met when no fault was drawn, or it was on a spared path
CLEAN = "clean"
SPARED = "spared"

_STATUS = {"rate_limited": 429, "bad_gateway": 502, "unavailable": 503, "gateway_timeout": 504}
# Hop-by-hop headers (RFC 9110 §7.6.1) and the framing this proxy redoes itself.
_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host",
    "content-length", "content-encoding", "accept-encoding",
})
#: how long a client may take to send its request, and the upstream to answer it
IO_TIMEOUT_S = 10.0
UPSTREAM_TIMEOUT_S = 30.0
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Plan:
    """What the proxy does with one request; drawn by `FaultProxy.plan`."""

    mode: str
    retry_after: str | None = None
    delay: float = 0.0
    #: for `drip`: (chunk size, pause in seconds) of each piece, cycled over the answer
    drip: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Exchange:
    """One request as the proxy handled it: `status` is what the client was answered
    (None when it got a closed connection instead)."""

    index: int
    method: str
    path: str
    mode: str
    status: int | None


@dataclass(frozen=True)
class _Armed:
    mode: str
    method: str | None
    path: str | None


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


class FaultProxy:
    """Start with `start()` (or as a context manager); `url` is what the CLI is pointed at.

    `rate` and `modes` may be changed between commands. `spare` lists path prefixes that
    are always forwarded untouched (still counted), to keep one invariant's test from
    failing on another's known gap. `inject` arms a fault for the next matching request,
    whatever the draw: a test that must cover one case (a dropped answer to a POST) does
    not depend on the seed happening to produce it.
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 7,
        rate: float = 0.3,
        modes: Sequence[str] = FAULT_MODES,
        spare: Sequence[str] = (),
    ) -> None:
        unknown = set(modes) - set(FAULT_MODES)
        if unknown:
            raise ValueError(f"unknown fault modes: {sorted(unknown)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.upstream = upstream.rstrip("/")
        self.seed = seed
        self.rate = rate
        self.modes = tuple(modes)
        self.spare = tuple(spare)
        self._lock = threading.Lock()
        self._next_index = 0
        self._exchanges: list[Exchange] = []
        self._armed: list[_Armed] = []
        self._stop = threading.Event()
        self._workers: set[threading.Thread] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self.url = ""

    # ------------------------------------------------------------------ life cycle

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(64)
        # accept() wakes up this often to notice stop(); closing a socket another thread
        # is blocked in accept() on does not reliably wake it.
        listener.settimeout(0.05)
        self._listener = listener
        # The sandbox is this process's own loopback server: never through an env proxy.
        self._http = httpx.Client(
            base_url=self.upstream,
            trust_env=False,
            timeout=UPSTREAM_TIMEOUT_S,
            follow_redirects=False,
        )
        self.url = f"http://{HOST}:{listener.getsockname()[1]}"
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="fault-proxy-accept", daemon=True
        )
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def faults(self, rate: float, modes: Sequence[str] = FAULT_MODES) -> Iterator[FaultProxy]:
        """Another fault rate and set of modes for the commands inside the block."""
        saved = self.rate, self.modes
        self.rate, self.modes = rate, tuple(modes)
        try:
            yield self
        finally:
            self.rate, self.modes = saved

    def inject(self, mode: str, *, method: str | None = None, path: str | None = None) -> None:
        """The next request of `method` to `path` (either may be None: any) meets `mode`."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode: {mode}")
        with self._lock:
            self._armed.append(_Armed(mode, method and method.upper(), path))

    def armed(self) -> list[tuple[str, str | None, str | None]]:
        """Injected faults no request has met yet."""
        with self._lock:
            return [(a.mode, a.method, a.path) for a in self._armed]

    # ------------------------------------------------------------------ records

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def counts(self) -> Counter[str]:
        """How many requests met each mode (`clean` and `spared` included)."""
        return Counter(x.mode for x in self.exchanges)

    def met(self, modes: Sequence[str], *, method: str | None = None,
            path: str | None = None) -> list[Exchange]:
        """The requests (of `method` to `path`, when given) that met one of `modes`."""
        return [
            x for x in self.exchanges
            if x.mode in modes
            and (method is None or x.method == method)
            and (path is None or x.path == path)
        ]

    def summary(self) -> str:
        """Counts per mode, for an assertion message."""
        return ", ".join(f"{mode}={n}" for mode, n in sorted(self.counts().items()))

    # ------------------------------------------------------------------ the draw

    def plan(self, index: int, path: str = "/", *, forced: str | None = None) -> Plan:
        """What happens to request number `index`: a pure function of the seed and the index
        (and of `rate`/`modes`/`spare` as they are set), unless a fault was `forced` on it."""
        # A string seed is hashed with SHA-512, the same in every process (PYTHONHASHSEED
        # does not enter into it). Whether and which fault are drawn even when the request
        # is spared or forced, so the details drawn after them come from the same stream.
        rng = random.Random(f"fault-proxy/{self.seed}/{index}")
        faulted = rng.random() < self.rate and bool(self.modes)
        mode = rng.choice(self.modes) if self.modes else CLEAN
        if forced is not None:
            mode = forced
        elif any(path.startswith(prefix) for prefix in self.spare):
            return Plan(SPARED)
        elif not faulted:
            return Plan(CLEAN)
        if mode == "rate_limited":
            # Mostly 0 so the suite stays fast; now and then 1, as the sandbox itself says.
            return Plan(mode, retry_after="1" if rng.random() < 0.1 else "0")
        if mode in _STATUS:
            # Half without Retry-After: the client's own backoff, not the server's word.
            return Plan(mode, retry_after="0" if rng.random() < 0.5 else None)
        if mode == "latency":
            return Plan(mode, delay=rng.uniform(0.05, 0.3))
        if mode == "drip":
            pieces = tuple((rng.randint(1, 48), rng.uniform(0.0005, 0.003)) for _ in range(8))
            return Plan(mode, drip=pieces)
        return Plan(mode)

    # ------------------------------------------------------------------ serving

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                sock, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(
                target=self._serve, args=(sock,), name="fault-proxy-conn", daemon=True
            )
            with self._lock:
                self._workers.add(worker)
            worker.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            with sock:
                sock.settimeout(IO_TIMEOUT_S)
                self._handle(sock)
        except OSError:
            pass  # the client hung up first: nothing to answer, nothing to record
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _handle(self, sock: socket.socket) -> None:
        try:
            request = _read_request(sock)
        except ValueError as exc:
            sock.sendall(_response(400, [("Content-Type", "text/plain")], str(exc).encode()))
            return
        if request is None:
            return  # connected and closed without a request
        with self._lock:
            index = self._next_index
            self._next_index += 1
            forced = self._take_armed(request)
        plan = self.plan(index, request.path, forced=forced)

        def record(status: int | None) -> None:
            with self._lock:
                self._exchanges.append(
                    Exchange(index, request.method, request.path, plan.mode, status)
                )

        if plan.mode == "reset":
            record(None)
            _reset(sock)
            return
        if plan.mode in _STATUS:
            status = _STATUS[plan.mode]
            record(status)
            sock.sendall(_fault_response(status, plan.retry_after, index))
            return
        if plan.delay:
            time.sleep(plan.delay)
        raw, status = self._forward(request)
        if plan.mode == "drop":
            # The upstream has answered (its work is done, its idempotency record settled
            # as far as it ever will be before answering); the client gets a closed socket.
            record(None)
            sock.shutdown(socket.SHUT_RDWR)
            return
        record(status)
        if plan.mode == "drip":
            _drip(sock, raw, plan.drip)
        else:
            sock.sendall(raw)

    def _take_armed(self, request: _Request) -> str | None:
        """The first injected fault `request` matches, disarmed (call under the lock)."""
        for armed in self._armed:
            if (armed.method is None or armed.method == request.method) and (
                armed.path is None or armed.path == request.path
            ):
                self._armed.remove(armed)
                return armed.mode
        return None

    def _forward(self, request: _Request) -> tuple[bytes, int]:
        """The upstream's answer to `request`, framed for the client; a 502 of our own
        when the upstream cannot be reached (which no test means to provoke)."""
        assert self._http is not None
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP]
        try:
            resp = self._http.request(
                request.method, request.target, headers=headers, content=request.body
            )
        except httpx.HTTPError as exc:
            body = f"fault proxy: upstream failed: {type(exc).__name__}".encode()
            return _response(502, [("Content-Type", "text/plain")], body), 502
        kept = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _HOP]
        return _response(resp.status_code, kept, resp.content), resp.status_code


def _read_request(sock: socket.socket) -> _Request | None:
    """One HTTP/1.1 request: head, then a Content-Length body (all this CLI sends)."""
    with sock.makefile("rb") as rfile:
        line = rfile.readline(MAX_HEAD_BYTES)
        if not line:
            return None
        try:
            method, target, _version = line.decode("latin-1").split()
        except ValueError:
            raise ValueError("malformed request line") from None
        headers: list[tuple[str, str]] = []
        size = len(line)
        while True:
            line = rfile.readline(MAX_HEAD_BYTES)
            size += len(line)
            if size > MAX_HEAD_BYTES:
                raise ValueError("request head too large")
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ValueError("malformed header line")
            headers.append((name.strip(), value.strip()))
        fields = {k.lower(): v for k, v in headers}
        if "chunked" in fields.get("transfer-encoding", "").lower():
            raise ValueError("chunked request bodies are not supported by the fault proxy")
        length = int(fields.get("content-length") or 0)
        body = rfile.read(length) if length else b""
        if len(body) != length:
            return None  # the client hung up mid-body
    return _Request(method.upper(), target, headers, body)


def _response(status: int, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _fault_response(status: int, retry_after: str | None, index: int) -> bytes:
    """A fault answered by the proxy, in the shapes real gateways answer them: the API's
    JSON envelope (429, 503), an HTML page (502), plain text (504)."""
    headers = [("X-Request-Id", f"proxy_{index}")]
    if retry_after is not None:
        headers.append(("Retry-After", retry_after))
    if status == 502:
        headers.append(("Content-Type", "text/html"))
        body = b"<html><body><h1>502 Bad Gateway</h1><p>fault proxy</p></body></html>"
    elif status == 504:
        headers.append(("Content-Type", "text/plain"))
        body = b"upstream request timeout (fault proxy)"
    else:
        code = "RATE_LIMIT_EXCEEDED" if status == 429 else "SERVICE_UNAVAILABLE"
        kind = "rate_limit_error" if status == 429 else "api_error"
        headers.append(("Content-Type", "application/json"))
        body = json.dumps({"error": {
            "code": code, "type": kind, "message": f"injected by the fault proxy ({status})",
            "request_id": f"proxy_{index}", "details": {},
        }}).encode()
    return _response(status, headers, body)


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0): a connection reset."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _drip(sock: socket.socket, raw: bytes, pieces: Sequence[tuple[int, float]]) -> None:
    """Send `raw` in small pieces with pauses; past the first KiB (the head and the start
    of the body) the rest goes at once, so a long list does not take seconds."""
    sent = 0
    turn = 0
    while sent < min(len(raw), 1024):
        size, pause = pieces[turn % len(pieces)]
        sock.sendall(raw[sent:sent + size])
        sent += size
        turn += 1
        time.sleep(pause)
    sock.sendall(raw[sent:])
