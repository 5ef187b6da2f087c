"""`makini webhooks listen` and `makini webhooks verify`, in this process.

The listener runs in a thread through its Python API on 127.0.0.1 (ephemeral port) and
gets real HTTP deliveries; forwarding goes to a small receiver the test runs. `verify`
runs through `main(argv)` (tests/inproc.py). Waits are deadlines for something to
happen, never assertions about how long it took.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import queue
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.errors import OutputClosed
from makini_cli.output.deliveries import DeliveryLines
from makini_cli.output.render import Renderer
from makini_cli.webhooks import sign
from makini_cli.webhooks.listener import (
    Counts,
    Delivery,
    ForwardPolicy,
    Listener,
    ListenerThread,
)
from tests.inproc import invoke

SECRET = "whsec_MfKQ9r3V7xJ2nT8cLw5yHd1sPq6uZa4bEg0iXo3kRtY"
WAIT = 10.0  # seconds before a test gives up on something that should happen
JSON_KEYS = ["received_at", "id", "event", "connection_key", "verdict", "forwarded"]


def payload(n: int = 1, event: str = "sync.completed") -> dict[str, Any]:
    return {
        "id": f"evt_{n:024x}",
        "event": event,
        "created_at": "2026-11-30T03:00:00Z",
        "connection_key": "10000715260448",
        "body": {"sync_id": f"sync_{n}", "records_processed": n, "error": None},
    }


def body_of(data: object) -> bytes:
    """What the sandbox sends: JSON.stringify's bytes."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def headers_for(body: bytes, delivery_id: str | None, secret: str = SECRET) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign(secret, body),
        "X-Webhook-Timestamp": "1795993200",
        "User-Agent": "makini-sandbox/test",
    }
    if delivery_id is not None:
        headers["X-Webhook-Id"] = delivery_id
    return headers


@dataclass
class Running:
    url: str
    thread: ListenerThread
    client: httpx.Client
    records: queue.Queue[Delivery] = field(default_factory=queue.Queue)
    warnings: list[str] = field(default_factory=list)

    def post(
        self, data: object, *, delivery_id: str | None = "auto", secret: str = SECRET
    ) -> httpx.Response:
        """A delivery signed as the sandbox signs it."""
        body = data if isinstance(data, bytes) else body_of(data)
        if delivery_id == "auto":
            delivery_id = data["id"] if isinstance(data, dict) else None
        return self.client.post(
            self.url, content=body, headers=headers_for(body, delivery_id, secret)
        )

    def next(self) -> Delivery:
        return self.records.get(timeout=WAIT)

    def stop(self) -> Counts:
        return self.thread.stop()


@contextmanager
def listening(**options: Any) -> Iterator[Running]:
    records: queue.Queue[Delivery] = queue.Queue()
    warnings: list[str] = []
    options.setdefault("secret", SECRET)
    listener = Listener(on_delivery=records.put, on_warning=warnings.append, **options)
    with ListenerThread(listener) as thread, httpx.Client(timeout=WAIT) as client:
        yield Running(thread.url, thread, client, records, warnings)


# ---------------------------------------------------------------------- verdicts


def test_a_genuine_delivery_is_acknowledged_and_recorded() -> None:
    with listening() as run:
        assert run.url.startswith("http://127.0.0.1:")
        resp = run.post(payload(1))
        assert resp.status_code == 204
        got = run.next()
        counts = run.stop()
    assert got.verdict == "ok"
    assert got.id == payload(1)["id"]
    assert got.event == "sync.completed"
    assert got.connection_key == "10000715260448"
    assert got.forwarded is None
    assert got.received_at.endswith("Z")
    assert list(got.to_json()) == JSON_KEYS
    assert counts == Counts(received=1, ok=1)


def test_forged_and_unsigned_deliveries_are_refused() -> None:
    with listening() as run:
        forged = run.post(payload(1), secret="whsec_notthesecret")
        body = body_of(payload(2))
        unsigned = run.client.post(run.url, content=body, headers={"X-Webhook-Id": "evt_2"})
        empty = run.client.post(
            run.url, content=body, headers={"X-Webhook-Signature": "", "X-Webhook-Id": "evt_3"}
        )
        got = [run.next() for _ in range(3)]
        counts = run.stop()
    assert (forged.status_code, unsigned.status_code, empty.status_code) == (401, 401, 401)
    assert [d.verdict for d in got] == ["forged", "unsigned", "unsigned"]
    assert got[0].reason is not None and "signature does not match" in got[0].reason
    assert counts == Counts(received=3, rejected=3)


def test_a_resent_delivery_is_acknowledged_but_marked_duplicate() -> None:
    with listening() as run:
        first = run.post(payload(7))
        again = run.post(payload(7))
        other = run.post(payload(8))
        got = [run.next() for _ in range(3)]
        counts = run.stop()
    assert [first.status_code, again.status_code, other.status_code] == [204, 204, 204]
    assert [d.verdict for d in got] == ["ok", "duplicate", "ok"]
    assert counts == Counts(received=3, ok=2, duplicates=1)


def test_without_the_header_the_payload_id_dedupes() -> None:
    with listening() as run:
        run.post(payload(3), delivery_id=None)
        run.post(payload(3), delivery_id=None)
        got = [run.next().verdict for _ in range(2)]
        run.stop()
    assert got == ["ok", "duplicate"]


def test_a_forged_delivery_cannot_use_up_a_genuine_id() -> None:
    with listening() as run:
        run.post(payload(5), secret="whsec_attacker")
        genuine = run.post(payload(5))
        got = [run.next().verdict for _ in range(2)]
        run.stop()
    assert genuine.status_code == 204
    assert got == ["forged", "ok"]


def test_signed_but_not_a_json_object_is_bad_json() -> None:
    with listening() as run:
        not_json = run.post(b"not json at all", delivery_id="evt_x")
        a_list = run.post(b"[1,2,3]", delivery_id="evt_y")
        got = [run.next().verdict for _ in range(2)]
        counts = run.stop()
    assert (not_json.status_code, a_list.status_code) == (400, 400)
    assert got == ["bad_json", "bad_json"]
    assert counts.rejected == 2 and counts.ok == 0


def test_without_a_secret_every_delivery_is_unverified() -> None:
    with listening(secret=None) as run:
        signed = run.post(payload(1))
        body = body_of(payload(2))
        unsigned = run.client.post(run.url, content=body)
        got = [run.next().verdict for _ in range(2)]
        run.stop()
    assert (signed.status_code, unsigned.status_code) == (204, 204)
    assert got == ["unverified", "unverified"]


def test_fields_other_than_strings_do_not_break_the_record() -> None:
    with listening() as run:
        run.post({"id": 12, "event": ["x"], "connection_key": None}, delivery_id=None)
        got = run.next()
        run.stop()
    assert (got.verdict, got.id, got.event, got.connection_key) == ("ok", "12", None, None)


# ---------------------------------------------------------------------- HTTP


def raw_exchange(url: str, request: bytes, *, read_until_close: bool = True) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if not read_until_close:
                break
        return b"".join(chunks)


def delivery_request(n: int, *, connection: str | None = None, expect: bool = False) -> bytes:
    body = body_of(payload(n))
    lines = [
        "POST /hooks/makini HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        f"X-Webhook-Signature: {sign(SECRET, body)}",
        f"X-Webhook-Id: {payload(n)['id']}",
    ]
    if connection:
        lines.append(f"Connection: {connection}")
    if expect:
        lines.append("Expect: 100-continue")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_keep_alive_serves_several_deliveries_on_one_connection() -> None:
    with listening() as run:
        # Three requests in one write; the last asks to close, so the read ends.
        reply = raw_exchange(
            run.url,
            delivery_request(1) + delivery_request(2) + delivery_request(3, connection="close"),
        )
        got = [run.next().verdict for _ in range(3)]
        run.stop()
    assert reply.count(b"HTTP/1.1 204 No Content\r\n") == 3
    assert reply.endswith(b"Connection: close\r\n\r\n")
    assert got == ["ok", "ok", "ok"]


def test_expect_100_continue_is_honoured() -> None:
    with listening() as run:
        reply = raw_exchange(run.url, delivery_request(1, connection="close", expect=True))
        run.stop()
    assert reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"411"),
        (b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", b"413"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", b"400"),
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"POST / HTTP/2.0\r\n\r\n", b"505"),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
    ],
)
def test_requests_that_are_no_delivery_get_their_status(
    request_bytes: bytes, status: bytes
) -> None:
    with listening() as run:
        reply = raw_exchange(run.url, request_bytes)
        counts = run.stop()
    assert reply.split(b" ")[1] == status
    assert counts.received == 0


def test_get_says_what_the_url_is_for() -> None:
    with listening() as run:
        resp = run.client.get(run.url)
        run.stop()
    assert resp.status_code == 200
    assert "POST webhook deliveries" in resp.text


# ---------------------------------------------------------------------- forwarding


@dataclass
class Target:
    """A receiver for forwarded deliveries; answers from `statuses` (then 204)."""

    url: str
    received: queue.Queue[tuple[dict[str, str], bytes]]
    statuses: list[int]
    hold: threading.Event | None = None


@contextmanager
def forward_target(statuses: list[int] | None = None, hold: bool = False) -> Iterator[Target]:
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    plan = list(statuses or [])
    gate = threading.Event() if hold else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put(({k: v for k, v in self.headers.items()}, body))
            if gate is not None:
                gate.wait(WAIT)
            status = plan.pop(0) if plan else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Target(f"http://127.0.0.1:{server.server_address[1]}/hooks", received, plan, gate)
    finally:
        if gate is not None:
            gate.set()
        server.shutdown()
        server.server_close()


FAST = ForwardPolicy(attempts=3, first_delay=0.01, max_delay=0.05)


def test_a_verified_delivery_is_forwarded_with_its_headers_and_body() -> None:
    with forward_target() as target, listening(forward_to=target.url, policy=FAST) as run:
        data = payload(1)
        sent = body_of(data)
        run.post(data)
        headers, body = target.received.get(timeout=WAIT)
        got = run.next()
        counts = run.stop()
    assert body == sent
    assert headers["X-Webhook-Signature"] == sign(SECRET, sent)
    assert headers["X-Webhook-Id"] == data["id"]
    assert headers["X-Webhook-Timestamp"] == "1795993200"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "makini-sandbox/test"
    assert got.forwarded is True and got.verdict == "ok"
    assert counts.forwarded == 1


def test_duplicates_and_rejected_deliveries_are_not_forwarded() -> None:
    with forward_target() as target, listening(forward_to=target.url, policy=FAST) as run:
        run.post(payload(1))
        first = run.next()
        run.post(payload(1))
        run.post(payload(2), secret="whsec_wrong")
        later = [run.next() for _ in range(2)]
        counts = run.stop()
    assert first.forwarded is True
    assert [(d.verdict, d.forwarded) for d in later] == [("duplicate", False), ("forged", False)]
    assert target.received.qsize() == 1
    assert counts == Counts(received=3, ok=1, rejected=1, duplicates=1, forwarded=1)


def test_a_failing_target_is_retried_until_it_takes_the_delivery() -> None:
    with (
        forward_target([503, 502]) as target,
        listening(forward_to=target.url, policy=FAST) as run,
    ):
        run.post(payload(1))
        got = run.next()
        run.stop()
    assert got.forwarded is True
    assert target.received.qsize() == 3
    assert run.warnings == []


def test_a_refusal_is_final_and_said_once() -> None:
    with forward_target([404]) as target, listening(forward_to=target.url, policy=FAST) as run:
        run.post(payload(1))
        got = run.next()
        counts = run.stop()
    assert got.forwarded is False and got.verdict == "ok"
    assert target.received.qsize() == 1
    assert counts.forward_failed == 1 and counts.forwarded == 0
    assert len(run.warnings) == 1 and "404 (not retried)" in run.warnings[0]


def test_retries_are_bounded() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    with listening(forward_to=f"http://127.0.0.1:{port}/", policy=FAST) as run:
        run.post(payload(1))
        got = run.next()
        run.stop()
    assert got.forwarded is False
    assert got.reason is not None and "after 3 attempts" in got.reason
    assert "cannot connect" in run.warnings[0]


def test_forwarding_never_holds_up_the_acknowledgements() -> None:
    with (
        forward_target(hold=True) as target,
        listening(forward_to=target.url, policy=FAST) as run,
    ):
        run.post(payload(1))
        target.received.get(timeout=WAIT)  # the target now holds the first forward
        # Answered while that forward still hangs (the client gives up after WAIT).
        later = [run.post(payload(n)).status_code for n in range(2, 6)]
        assert target.hold is not None
        target.hold.set()
        got = {run.next().id for _ in range(5)}
        counts = run.stop()
    assert later == [204] * 4
    assert got == {payload(n)["id"] for n in range(1, 6)}
    assert counts.forwarded == 5


def test_stopping_settles_forwards_still_under_way() -> None:
    with (
        forward_target(hold=True) as target,
        listening(forward_to=target.url, policy=FAST, grace=0.1) as run,
    ):
        run.post(payload(1))
        target.received.get(timeout=WAIT)
        counts = run.stop()  # the target still holds the forward
        got = run.next()
    assert got.forwarded is False
    assert got.reason == "not forwarded: stopped before it could be forwarded"
    assert counts.forward_failed == 1 and counts.ok == 1


# ---------------------------------------------------------------------- output


def make_delivery(**changes: Any) -> Delivery:
    fields: dict[str, Any] = {
        "received_at": "2026-11-30T03:00:00.250Z",
        "id": "evt_000000000000000000000001",
        "event": "sync.completed",
        "connection_key": "10000715260448",
        "verdict": "ok",
        "forwarded": None,
    }
    fields.update(changes)
    return Delivery(**fields)


def show(delivery: Delivery, *, json_lines: bool, color: bool = False) -> str:
    out = io.StringIO()
    renderer = Renderer(explicit_mode=None, stdout=out, stdout_is_tty=not json_lines)
    DeliveryLines(renderer, json_lines=json_lines, color=color)(delivery)
    return out.getvalue()


def test_json_lines_carry_exactly_the_documented_fields() -> None:
    line = show(make_delivery(forwarded=True), json_lines=True)
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == {
        "received_at": "2026-11-30T03:00:00.250Z",
        "id": "evt_000000000000000000000001",
        "event": "sync.completed",
        "connection_key": "10000715260448",
        "verdict": "ok",
        "forwarded": True,
    }


def test_a_line_for_people() -> None:
    line = show(make_delivery(forwarded=True), json_lines=False)
    assert line.count("\n") == 1
    for part in ("ok", "sync.completed", "10000715260448", "evt_000000000000000000000001"):
        assert part in line
    assert "→ forwarded" in line
    assert "\x1b" not in line
    painted = show(make_delivery(verdict="forged", reason="wrong"), json_lines=False, color=True)
    assert "\x1b[31mforged" in painted and "(wrong)" in painted


def test_sender_text_cannot_forge_lines_or_drive_the_terminal() -> None:
    hostile = make_delivery(event="x\n12:00:00  ok  fake\x1b]0;title\x07", id="evt_\x1b[2J")
    line = show(hostile, json_lines=False, color=True)
    assert line.count("\n") == 1
    assert "\x1b]0" not in line and "\x1b[2J" not in line
    data = json.loads(show(hostile, json_lines=True))
    assert data["event"] == "x\n12:00:00  ok  fake\x1b]0;title\x07"  # exact, as data


def test_a_reader_going_away_stops_the_listener() -> None:
    def gone(delivery: Delivery) -> None:
        raise OutputClosed()

    listener = Listener(secret=SECRET, on_delivery=gone)
    thread = ListenerThread(listener)
    thread.start()
    body = body_of(payload(1))
    httpx.post(thread.url, content=body, headers=headers_for(body, "evt_1"), timeout=WAIT)
    with pytest.raises(OutputClosed):
        thread.stop()


def test_the_summary_line() -> None:
    counts = Counts(received=5, ok=3, rejected=1, duplicates=1, forwarded=2, forward_failed=1)
    assert counts.summary() == (
        "received 5, ok 3, rejected 1, duplicates 1, forwarded 2, not forwarded 1"
    )
    assert "not forwarded" not in Counts(received=1, ok=1).summary()


# ---------------------------------------------------------------------- the commands

BODY = body_of(payload(1))
SIGNATURE = sign(SECRET, BODY)


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(BODY)
    return path


def verify(*args: str, secret: str | None = SECRET, stdin: str = "") -> Any:
    env = {"WEBHOOK_SECRET": secret} if secret is not None else {"WEBHOOK_SECRET": None}
    return invoke(
        "webhooks", "verify", "--secret-env", "WEBHOOK_SECRET", *args, env=env, input=stdin
    )


def test_verify_a_genuine_delivery(body_file: Path) -> None:
    result = verify("--signature", SIGNATURE, "--body", str(body_file))
    assert result.code == 0, result
    assert result.stdout == ""
    from_stdin = verify("--signature", SIGNATURE, stdin=BODY.decode())
    assert from_stdin.code == 0, from_stdin
    as_json = verify("--signature", SIGNATURE, "--body", str(body_file), "-o", "json")
    assert as_json.json() == {"valid": True, "reason": None, "message": None, "hint": None}


HEX = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("signature", "body", "code", "words"),
    [
        (sign("whsec_other", BODY), BODY, "SIGNATURE_MISMATCH", "secret"),
        (SIGNATURE, json.dumps(payload(1), indent=2).encode(), "BODY_RESERIALISED", "compacted"),
        (HEX, BODY, "SIGNATURE_HEX", "hex"),
        (SIGNATURE[:30], BODY, "SIGNATURE_TRUNCATED", "30 of its 44"),
        ("not base64 at all!", BODY, "SIGNATURE_NOT_BASE64", "not base64"),
        ("", BODY, "SIGNATURE_MISSING", "no signature"),
    ],
)
def test_verify_explains_each_failure_in_one_line_with_exit_9(
    tmp_path: Path, signature: str, body: bytes, code: str, words: str
) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(body)
    result = verify("--signature", signature, "--body", str(path))
    assert result.code == 9, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"[{code}]; " in lines[0] and words in lines[0]
    as_json = verify("--signature", signature, "--body", str(path), "-o", "json")
    assert as_json.code == 9
    verdict = as_json.json()
    assert verdict["valid"] is False and verdict["hint"]
    assert as_json.error()["code"] == code and as_json.error()["exit_code"] == 9


def test_verify_reads_the_secret_from_a_file_and_warns_when_others_can_read_it(
    tmp_path: Path, body_file: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    args = ["webhooks", "verify", "--secret-file", str(secret_file), "--signature", SIGNATURE]
    private = invoke(*args, "--body", str(body_file))
    assert private.code == 0 and "warning" not in private.stderr, private
    if os.name == "posix":
        secret_file.chmod(0o644)
        shared = invoke(*args, "--body", str(body_file))
        assert shared.code == 0
        assert "warning:" in shared.stderr and "chmod 600" in shared.stderr
    unreadable = invoke(*args[:3], str(tmp_path / "nope"), *args[4:], "--body", str(body_file))
    assert unreadable.code == 2 and "cannot read --secret-file" in unreadable.stderr


def test_verify_never_takes_the_secret_from_argv(body_file: Path) -> None:
    as_name = invoke(
        "webhooks",
        "verify",
        "--secret-env",
        SECRET,
        "--signature",
        SIGNATURE,
        "--body",
        str(body_file),
    )
    assert as_name.code == 2
    assert SECRET not in as_name.stderr and "name of an environment variable" in as_name.stderr
    unset = verify("--signature", SIGNATURE, "--body", str(body_file), secret=None)
    assert unset.code == 3 and "WEBHOOK_SECRET is not set" in unset.stderr
    none = invoke("webhooks", "verify", "--signature", SIGNATURE, "--body", str(body_file))
    assert none.code == 2 and "--secret-env" in none.stderr


def test_verify_without_a_body_to_read(tmp_path: Path) -> None:
    missing = verify("--signature", SIGNATURE, "--body", str(tmp_path / "absent.json"))
    assert missing.code == 2 and "cannot read --body" in missing.stderr
    at_terminal = invoke(
        "webhooks",
        "verify",
        "--secret-env",
        "WEBHOOK_SECRET",
        "--signature",
        SIGNATURE,
        env={"WEBHOOK_SECRET": SECRET},
        tty=True,
    )
    assert at_terminal.code == 2 and "stdin is a terminal" in at_terminal.stderr


def test_listen_refuses_an_exposed_address_without_a_secret() -> None:
    result = invoke("webhooks", "listen", "--host", "0.0.0.0", "--port", "0")  # noqa: S104
    assert result.code == 2
    assert "refusing to listen on 0.0.0.0 without a secret" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-o", "csv"], "not csv"),
        (["-o", "json"], "not json (one document)"),
        (["--forward-to", "ftp://example.test/"], "not an http:// or https:// URL"),
        (["--forward-to", "http://user:pw@localhost/"], "credentials"),
    ],
)
def test_listen_usage_errors(args: list[str], words: str) -> None:
    result = invoke("webhooks", "listen", "--port", "0", *args)
    assert result.code == 2, result
    assert words in result.stderr


def test_listen_on_a_taken_port_says_so() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = str(taken.getsockname()[1])
        result = invoke(
            "webhooks",
            "listen",
            "--port",
            port,
            "--secret-env",
            "WEBHOOK_SECRET",
            env={"WEBHOOK_SECRET": SECRET},
        )
    finally:
        taken.close()
    assert result.code == 2
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in result.stderr
