"""Benchmark: deliveries a second `makini webhooks listen` acknowledges on loopback.

Starts `makini webhooks listen --port 0` (a secret from the environment, output piped:
JSON lines) as a user runs it, reads its URL from stderr, then sends N signed deliveries,
each with its own X-Webhook-Id, from a few clients, each on its own keep-alive
connection, one request at a time (as a webhook sender does). Measured from the first
request to the last acknowledgement:

    acknowledged/s = N / elapsed                     # the goal: >= 1,000

Every delivery must come back 204 and appear as one `"verdict":"ok"` line on the
listener's stdout, or the run fails. For reference the same run times a bare loop, in
this process, that checks each delivery's signature (HMAC-SHA256 + base64, constant-time
compare): the floor of the work per delivery. Both are printed side by side, with the
ratio. The listener is stopped with SIGINT at the end and must exit 0.

Usage: python bench/webhook_listen.py [--deliveries 20000] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time

from makini_cli.webhooks import sign, verify_signature

SECRET = "whsec_MfKQ9r3V7xJ2nT8cLw5yHd1sPq6uZa4bEg0iXo3kRtY"
SECRET_ENV = "BENCH_WEBHOOK_SECRET"
URL = re.compile(r"http://127\.0\.0\.1:(\d+)")


def delivery(n: int) -> tuple[bytes, str]:
    """A body as the sandbox sends it (compact JSON) and its signature."""
    body = json.dumps(
        {
            "id": f"evt_{n:024x}",
            "event": "sync.completed",
            "created_at": "2026-11-30T03:00:00Z",
            "connection_key": "10000715260448",
            "body": {
                "sync_id": f"sync_{n:016x}",
                "type": "incremental",
                "trigger": "schedule",
                "scopes": ["assets", "work_orders"],
                "records_processed": n % 1000,
                "error": None,
            },
        },
        separators=(",", ":"),
    ).encode()
    return body, sign(SECRET, body)


def request(n: int, body: bytes, signature: str) -> bytes:
    head = (
        "POST /hooks/makini HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Webhook-Signature: {signature}\r\n"
        f"X-Webhook-Id: evt_{n:024x}\r\n"
        f"X-Webhook-Timestamp: {1795993200 + n}\r\n"
        "User-Agent: makini-sandbox/bench\r\n\r\n"
    )
    return head.encode() + body


async def send_all(port: int, requests: list[bytes], clients: int) -> tuple[float, int]:
    """Send the requests over `clients` keep-alive connections; (seconds, 204s)."""
    shares = [requests[i::clients] for i in range(clients)]
    acknowledged = 0

    async def client(share: list[bytes]) -> None:
        nonlocal acknowledged
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for raw in share:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 204 "):
                    raise RuntimeError(f"unexpected answer: {head[:80]!r}")
                acknowledged += 1
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(client(share) for share in shares))
    return time.perf_counter() - started, acknowledged


def verify_loop(items: list[tuple[bytes, str]]) -> float:
    started = time.perf_counter()
    for body, signature in items:
        if not verify_signature(SECRET, body, signature):
            raise RuntimeError("a signature did not verify")
    return time.perf_counter() - started


def start_listener() -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKINI_")}
    env[SECRET_ENV] = SECRET
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "makini_cli",
            "webhooks",
            "listen",
            "--port",
            "0",
            "--secret-env",
            SECRET_ENV,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                line = proc.stderr.readline()
                if not line:
                    break
                if found := URL.search(line):
                    return proc, int(found.group(1))
    finally:
        selector.close()
    proc.kill()
    raise SystemExit(f"the listener did not start: {proc.communicate()[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    n, clients = args.deliveries, args.clients
    warmup = 500

    items = [delivery(i) for i in range(warmup + n)]
    requests = [request(i, body, sig) for i, (body, sig) in enumerate(items)]

    proc, port = start_listener()
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
    reader.start()
    try:
        asyncio.run(send_all(port, requests[:warmup], clients))
        elapsed, acknowledged = asyncio.run(send_all(port, requests[warmup:], clients))
    finally:
        proc.send_signal(signal.SIGINT)
        # stderr only: the reader thread owns stdout (communicate() would take lines).
        assert proc.stderr is not None
        err = proc.stderr.read()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    reader.join(30)

    bare = verify_loop(items[warmup:])
    ok = sum(1 for line in lines if json.loads(line)["verdict"] == "ok")
    if acknowledged != n or ok != warmup + n or proc.returncode != 0:
        print(
            f"FAILED: {acknowledged}/{n} acknowledged, {ok}/{warmup + n} ok lines, "
            f"exit {proc.returncode}\n{err}",
            file=sys.stderr,
        )
        return 1
    served_rate = n / elapsed
    bare_rate = n / bare
    summary = err.strip().splitlines()[-1] if err.strip() else ""
    print(f"{n} signed deliveries, {clients} keep-alive clients, loopback (after {warmup} warm-up)")
    print(
        f"webhooks listen   {served_rate:>10,.0f} acknowledged/s  ({elapsed:.2f} s)  goal >= 1,000"
    )
    print(f"bare verify loop  {bare_rate:>10,.0f} checks/s        ({bare:.3f} s)  in-process")
    print(f"ratio bare/listen {bare_rate / served_rate:>10.1f}x")
    print(f"listener: {summary}; {len(lines)} JSON lines printed, exit {proc.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
