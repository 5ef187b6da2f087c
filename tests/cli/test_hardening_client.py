"""Issue 7, the API client's side: a token exchange that meets a 503, a server that
answers a byte at a time, answers of the wrong shape, and base URLs that are not usable
(or hold a password). Each ends in its documented error, never "a bug in makini".

Servers here are the test's own, on 127.0.0.1, started and stopped by each test: the
sandbox cannot drip an answer, nor send a body of every wrong shape. Where the whole
point is that the command *ends*, it runs as a subprocess under a generous timeout, so a
regression fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Sandbox
from tests.inproc import Result
from tests.inproc import invoke as run

HOST = "127.0.0.1"
KEY = "12345678901234"
#: far beyond any subprocess run here; only a command that does not end reaches it
BOUND_S = 15.0


def makini(*argv: str, env: dict[str, str], timeout: float = BOUND_S) -> Result:
    """`makini ARGV` in a fresh process (the test's isolated environment plus `env`);
    subprocess.TimeoutExpired if it has not ended after `timeout` seconds."""
    proc = subprocess.run(
        [sys.executable, "-m", "makini_cli", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, list(argv))


def one_error_line(result: Result) -> str:
    """The run's error: one line, short, and not the crash report of an unexpected error."""
    assert "bug in makini" not in result.stderr, result
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result
    assert len(lines[0]) < 600, lines[0][:600]
    return lines[0]


# ---------------------------------------------------------------------- servers


@contextmanager
def drip_server(phase: str) -> Iterator[str]:
    """A server that never finishes an answer: it reads the request, then sends its
    answer one byte per 0.5 s. `phase` "body": headers at once, then the body drips;
    "headers": the status line and headers drip, so no response exists yet."""
    stop = threading.Event()
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.2)
    threads: list[threading.Thread] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                seen = b""
                while b"\r\n\r\n" not in seen:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    seen += chunk
                if phase == "body":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 100000\r\n\r\n{")
                    drip = b" "
                else:
                    drip = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100000
                for i in range(100000):
                    if stop.wait(0.5):
                        return
                    conn.sendall(drip[i:i + 1] if phase == "headers" else drip)
            except OSError:
                return  # the client gave up and closed: what it should do

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=serve, args=(conn,), daemon=True)
            threads.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://{HOST}:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for worker in threads:
            worker.join(5)


Route = Callable[[str, str], tuple[int, bytes] | None]


@contextmanager
def http_server(route: Route) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server answering `route(method, path)` -> (status, JSON body bytes); None: the
    answers any API needs first (a token, the capabilities). Yields its URL and the
    requests it received (method, path, headers)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            received.append({"method": self.command, "path": self.path,
                             "headers": dict(self.headers)})
            answer = route(self.command, self.path)
            if answer is None:
                answer = _basics(self.path)
            status, body = answer
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _basics(path: str) -> tuple[int, bytes]:
    if path.startswith("/link/token"):
        return 200, json.dumps({"access_token": "at", "refresh_token": "rt",
                                "token_type": "bearer", "expires_in": 4_000_000_000}).encode()
    if path.startswith("/api/system/capabilities"):
        return 200, b'{"data": {"extensions": ["syncs", "status"]}}'
    return 404, b'{"error": {"code": "NOT_FOUND", "message": "no such route"}}'


@contextmanager
def stalling_proxy(upstream: str, stall: Callable[[str, str], bool]) -> Iterator[str]:
    """A proxy to `upstream`: every request is forwarded, and the answers to those that
    `stall(method, path)` picks are dripped a byte per 0.5 s instead of relayed (the
    server did the work; the client never hears of it)."""
    stop = threading.Event()
    forward = httpx.Client(base_url=upstream, timeout=30)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "connection")}
            resp = forward.request(self.command, self.path, content=body, headers=headers)
            if stall(self.command, self.path):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                try:
                    while not stop.wait(0.5):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up
                return
            self.send_response(resp.status_code)
            for name, value in resp.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                        "content-encoding", "date", "server"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(resp.content)))
            self.end_headers()
            self.wfile.write(resp.content)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
        forward.close()


# ---------------------------------------------------------------------- 1. token exchange


def test_a_token_exchange_that_meets_503s_is_retried(sandbox: Sandbox) -> None:
    """The CI path (MAKINI_CLIENT_ID/SECRET) exchanges credentials on every run: two 503s
    on /link/token are retried like any idempotent call, and the command succeeds."""
    sandbox.admin_token()  # the test's own token, before the fault is armed
    sandbox.control("POST", "faults", {"path_prefix": "/link/token", "method": "POST",
                                       "status": 503, "count": 2, "retry_after": 0})
    result = run("connections", "list", env=sandbox.env)
    assert result.code == 0, result
    assert result.stderr.count("server answered 503, retrying") == 2
    assert result.jsonl()
    assert sandbox.client_secret not in result.stderr


# ---------------------------------------------------------------------- 2. --timeout


@pytest.mark.parametrize("phase", ["body", "headers"])
def test_a_server_that_drips_cannot_stretch_the_timeout(phase: str) -> None:
    """--timeout bounds a whole try. httpx's own timeout bounds each read, and a byte
    every 0.5 s resets it: this command would run for hours; now it ends after about a
    second (the subprocess's timeout fails the test if it does not end)."""
    with drip_server(phase) as url:
        result = makini("--timeout", "1", "--max-retries", "0", "connections", "list",
                        env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
    assert result.code == 5, result
    line = one_error_line(result)
    assert "did not answer in time" in line and "--timeout" in line


def test_sync_run_timeout_bounds_a_start_the_server_never_answers() -> None:
    """Exit 5, not 8: no answer came, so no sync is known to have started, and exit 8
    promises a job that goes on. (The HTTP timeout is 30 s here: only --timeout 2s, the
    command's, can end it this soon.)"""
    with drip_server("body") as url:
        result = makini("sync", "run", KEY, "--timeout", "2s", "-o", "json",
                        env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
    assert result.code == 5, result
    assert "bug in makini" not in result.stderr
    error = result.error()
    assert "the time allowed ran out" in error["message"] and "--timeout" in error["hint"]
    outcome = result.json()
    assert outcome["outcome"] == "error" and outcome["sync"] is None
    assert outcome["error"]["code"] == "DEADLINE_EXCEEDED"


def test_sync_run_timeout_bounds_a_poll_in_flight(sandbox: Sandbox) -> None:
    """Once the sync has started, a poll cut short by --timeout is the timeout outcome:
    exit 8, the sync goes on, and the run says how to follow it."""
    sandbox.quiet_schedules()
    key = sandbox.keys_by_health()["online"][0]

    def polls(method: str, path: str) -> bool:
        return method == "GET" and path.startswith("/api/system/syncs/")

    with stalling_proxy(sandbox.url, polls) as url:
        result = makini("sync", "run", key, "--full", "--timeout", "2s", "-o", "json",
                        env={**sandbox.env, "MAKINI_BASE_URL": url})
    assert result.code == 8, result
    outcome = result.json()
    assert outcome["outcome"] == "timeout" and outcome["sync"]["status"] in ("queued", "running")
    assert f"makini sync watch {outcome['sync']['id']}" in result.stderr


def test_sync_run_timeout_bounds_a_start_whose_answer_never_comes(sandbox: Sandbox) -> None:
    """The start reached the server, its answer did not reach us: exit 5 (no sync is
    known to run), and the error says the sync may have started, and where to look."""
    sandbox.quiet_schedules()
    key = sandbox.keys_by_health()["online"][0]
    start = f"/api/system/connections/{key}/syncs"
    with stalling_proxy(sandbox.url, lambda method, path: (method, path) == ("POST", start)) as url:
        result = makini("sync", "run", key, "--full", "--timeout", "2s",
                        env={**sandbox.env, "MAKINI_BASE_URL": url})
    assert result.code == 5, result
    line = one_error_line(result)
    assert "[DEADLINE_EXCEEDED]" in line and f"makini sync list {key}" in line
    started = sandbox.api("GET", f"{start}?per_page=5").json()["data"]
    assert started and started[0]["status"] in ("queued", "running")  # it did start


# ---------------------------------------------------------------------- 3. odd answers

HUGE = "k" * 100_000
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (200, b"", "answered nothing"),
        (200, b"null", "answered nothing"),
        (200, b"[1, 2]", "answered list"),
        (200, b'"a string"', "answered str"),
        (200, b'{"data": ["not", "an", "object"]}', "answered list"),
        (200, DEEP, "nested more than 64 levels deep"),
        # Decodes, but pydantic refuses to serialise it: rejected before it gets there.
        (200, b'{"data": {"key": "k", "user_metadata": ' + b"[" * 500 + b"]" * 500 + b"}}",
         "nested more than 64 levels deep"),
        (200, b"\xff\xfe{", "malformed JSON"),
    ],
    ids=["empty", "null", "list", "string", "data-list", "100000-deep", "500-deep",
         "not-utf8"],
)
@pytest.mark.parametrize("command", ["get", "list"])
def test_an_answer_of_the_wrong_shape_is_a_malformed_response(
    command: str, status: int, body: bytes, text: str
) -> None:
    argv = ("connections", "get", KEY) if command == "get" else ("connections", "list")

    def route(method: str, path: str) -> tuple[int, bytes] | None:
        return (status, body) if path.startswith("/api/system/connections") else None

    with http_server(route) as (url, _):
        result = run(*argv, env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
    assert result.code == 1, result
    line = one_error_line(result)
    assert "[MALFORMED_RESPONSE]" in line
    if command == "get" or "nested" in text or "JSON" in text:
        assert text in line
    else:  # no list, or items that are no objects
        assert "did not answer a list" in line or "a Connection object was expected" in line


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": HUGE, "message": HUGE, "details": {"fields": {HUGE: [HUGE]}}}},
        {"message": HUGE, "errors": {HUGE: [HUGE]}},
        {"error": HUGE},
        {"error": json.loads(b"[" * 60 + b"]" * 60)},
    ],
    ids=["envelope", "laravel", "string", "nested"],
)
def test_an_error_body_of_any_size_is_one_short_line(body: dict[str, Any]) -> None:
    encoded = json.dumps(body).encode()

    def route(method: str, path: str) -> tuple[int, bytes] | None:
        return (422, encoded) if path.startswith("/api/system/connections") else None

    with http_server(route) as (url, _):
        result = run("connections", "get", KEY, env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
        as_json = run("connections", "get", KEY, "-o", "json",
                      env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
    assert result.code == 1, result
    assert "[VALIDATION_FAILED]" in one_error_line(result)
    assert as_json.code == 1 and len(as_json.stderr) < 1000
    assert as_json.error()["code"] == "VALIDATION_FAILED"


def test_a_100000_character_key_in_an_object_is_kept() -> None:
    """Valid JSON, if odd: the models keep unknown fields, so `-o json` prints it whole."""
    connection = {"key": KEY, "name": "n", "status": "active", "health": "online", HUGE: 1}

    def route(method: str, path: str) -> tuple[int, bytes] | None:
        if path.startswith(f"/api/system/connections/{KEY}"):
            return 200, json.dumps({"data": connection}).encode()
        return None

    with http_server(route) as (url, _):
        env = {"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"}
        as_json = run("connections", "get", KEY, "-o", "json", env=env)
        table = run("connections", "get", KEY, env=env, tty=True)
    assert as_json.code == 0, as_json
    assert as_json.json()[HUGE] == 1
    assert table.code == 0, table


def test_a_path_too_long_to_send_is_a_usage_error() -> None:
    with http_server(lambda method, path: None) as (url, received):
        result = run("sync", "get", "sync_" + "x" * 70_000,
                     env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
    assert result.code == 2, result
    assert "URL too long" in one_error_line(result)
    assert not [r for r in received if "/syncs/" in r["path"]]


BAD_URLS = ["http://[::1", "http://[::1]:99999", "http://a..b", "http://999.1.1.1",
            "http://xn--zz.example", "http://host:port", "http://exa mple.com"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_an_unusable_base_url_is_usage_from_a_flag_and_config_from_env_or_profile(
    url: str, tmp_path: Path
) -> None:
    flag = run("--base-url", url, "connections", "list", env={"MAKINI_TOKEN": "t"})
    assert flag.code == 2, flag
    assert "invalid base_url" in one_error_line(flag)
    env = run("connections", "list", env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
    assert env.code == 3, env
    assert "env MAKINI_BASE_URL" in one_error_line(env)
    config = Path(os.environ["MAKINI_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        f'active_profile = "odd"\n\n[profiles.odd]\nbase_url = {json.dumps(url)}\n')
    profile = run("connections", "list", env={"MAKINI_TOKEN": "t"})
    assert profile.code == 3, profile
    assert "profile odd" in one_error_line(profile)


def test_every_base_url_settings_accept_is_one_httpx_accepts() -> None:
    """The settings check is httpx-free (start-up stays light), so hold it to httpx's."""
    from makini_cli.config.settings import coerce
    from makini_cli.errors import CliError

    candidates = [*BAD_URLS, "http://[::1]:8080", "http://[fe80::1%eth0]", "https://bücher.de",
                  "http://ex_ample.com/base/", "https://api.makini.io", "http://a.", "http://[zz]",
                  "http://a/%zz", "http://a/é", "http://h:0", "http://.a", "http://a*b",
                  "http://" + "b" * 64 + ".com", "http://x\u200b.com", "https://a.b?q",
                  "http://a.b#f", "http://u@h", "http://h:65535"]
    for candidate in candidates:
        try:
            url = coerce("base_url", candidate, "flag")
        except CliError:
            continue
        with httpx.Client(base_url=url) as client:
            client.build_request("GET", "/api/system/connections")
            assert client.base_url.host


# ---------------------------------------------------------------------- 4. passwords


PASSWORD = "PASS-w0rd"


def test_a_base_url_with_a_password_is_refused_and_the_password_never_shown(
    tmp_path: Path,
) -> None:
    outputs: list[Result] = []
    with http_server(lambda method, path: None) as (server, received):
        url = server.replace("http://", f"http://admin:{PASSWORD}@")
        flags: list[tuple[str, ...]] = [
            ("--base-url", url, "connections", "list"),
            ("--debug", "--base-url", url, "connections", "list"),
            ("-o", "json", "--base-url", url, "connections", "list"),
            ("--base-url", url, "auth", "status"),
            ("profile", "create", "leaky", "--base-url", url),
            ("config", "set", "base_url", url),
        ]
        for argv in flags:
            result = run(*argv, env={"MAKINI_TOKEN": "t"})
            assert result.code == 2, result
            outputs.append(result)
        configured: list[tuple[str, ...]] = [
            ("connections", "list"), ("--debug", "connections", "list"), ("auth", "status"),
            ("config", "list", "--show-origin")]
        for argv in configured:
            result = run(*argv, env={"MAKINI_BASE_URL": url, "MAKINI_CLIENT_ID": "id",
                                     "MAKINI_CLIENT_SECRET": "s"})
            assert result.code == 3, result
            outputs.append(result)
        config = Path(os.environ["MAKINI_CONFIG_DIR"])
        config.mkdir(parents=True, exist_ok=True)
        (config / "config.toml").write_text(
            f'active_profile = "leaky"\n\n[profiles.leaky]\nbase_url = "{url}"\n')
        for argv in configured[:3]:
            result = run(*argv, env={"MAKINI_TOKEN": "t"})
            assert result.code == 3, result
            outputs.append(result)
    for result in outputs:
        assert PASSWORD not in result.stdout + result.stderr, result
        assert "bug in makini" not in result.stderr
    refused = outputs[0].stderr
    assert "credentials do not belong in the URL" in refused and "auth login" in refused
    assert "http://***@127.0.0.1:" in refused
    # Nothing was sent with them: no Basic auth, no request at all.
    assert received == []
    assert PASSWORD not in (config / "config.toml").read_text().replace(url, "")
