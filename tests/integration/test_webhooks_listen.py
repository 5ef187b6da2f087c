"""`makini webhooks listen` as a real process: a real socket, real signals, a real pty.

Everything else about the listener is tested in this process (tests/cli)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import selectors
import signal
import subprocess
import sys
import time
from typing import IO, Any

import httpx
import pytest

from makini_cli.webhooks import sign

SECRET = "whsec_MfKQ9r3V7xJ2nT8cLw5yHd1sPq6uZa4bEg0iXo3kRtY"
URL = re.compile(r"http://127\.0\.0\.1:\d+")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def start(*args: str, **popen: Any) -> subprocess.Popen[str]:
    env = dict(os.environ, WEBHOOK_SECRET=SECRET)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "makini_cli",
            "webhooks",
            "listen",
            "--port",
            "0",
            "--secret-env",
            "WEBHOOK_SECRET",
            *args,
        ],
        env=env,
        text=True,
        **popen,
    )


def read_line_with(stream: IO[str], pattern: re.Pattern[str], deadline: float) -> str:
    """The first line of `stream` that matches, read before `deadline`."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                line = stream.readline()
                if not line:
                    break
                if pattern.search(line):
                    return line
    finally:
        selector.close()
    raise AssertionError(f"no line matching {pattern.pattern!r}")


def deliveries() -> list[tuple[bytes, dict[str, str]]]:
    body = json.dumps(
        {
            "id": "evt_000000000000000000000001",
            "event": "ping",
            "created_at": "2026-11-30T03:00:00Z",
            "connection_key": None,
            "body": {"message": "ping from makini sandbox", "webhook_id": "wh_0000000000000001"},
        },
        separators=(",", ":"),
    ).encode()
    good = {
        "X-Webhook-Signature": sign(SECRET, body),
        "X-Webhook-Id": "evt_000000000000000000000001",
        "Content-Type": "application/json",
    }
    forged = dict(
        good,
        **{
            "X-Webhook-Signature": sign("whsec_wrong", body),
            "X-Webhook-Id": "evt_000000000000000000000002",
        },
    )
    return [(body, good), (body, good), (body, forged)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_it_cleanly_with_a_count(signum: signal.Signals) -> None:
    proc = start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        deadline = time.monotonic() + 30
        found = URL.search(read_line_with(proc.stderr, URL, deadline))
        assert found is not None
        with httpx.Client(timeout=10) as client:
            statuses = [
                client.post(found.group(0) + "/hooks", content=body, headers=headers).status_code
                for body, headers in deliveries()
            ]
        # Piped: JSON lines only, one per delivery, each flushed as it came.
        lines = [json.loads(proc.stdout.readline()) for _ in range(3)]
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert statuses == [204, 204, 401]
    assert [line["verdict"] for line in lines] == ["ok", "duplicate", "forged"]
    assert out == ""
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "stopped: received 3, ok 1, rejected 1, duplicates 1, forwarded 0"
    )


def test_on_a_terminal_the_url_comes_first_then_a_line_per_delivery() -> None:
    main, child = pty.openpty()
    proc = start(
        "--color", "always", stdin=subprocess.DEVNULL, stdout=child, stderr=subprocess.PIPE
    )
    os.close(child)
    assert proc.stderr is not None
    seen = ""
    try:
        read_line_with(proc.stderr, URL, time.monotonic() + 30)
        deadline = time.monotonic() + 30
        while URL.search(seen) is None and time.monotonic() < deadline:
            if select.select([main], [], [], 0.5)[0]:
                seen += os.read(main, 4096).decode()
        found = URL.search(seen)
        assert found is not None
        body, headers = deliveries()[0]
        assert httpx.post(found.group(0), content=body, headers=headers).status_code == 204
        while "evt_000000000000000000000001" not in seen and time.monotonic() < deadline:
            if select.select([main], [], [], 0.5)[0]:
                seen += os.read(main, 4096).decode()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(main)
    lines = [ANSI.sub("", line) for line in seen.replace("\r", "").splitlines() if line.strip()]
    assert URL.fullmatch(lines[0])
    assert lines[1].split()[1:4] == ["ok", "ping", "-"]
    assert "\x1b[32mok" in seen  # the verdict in colour
    assert proc.returncode == 0 and "Traceback" not in err
