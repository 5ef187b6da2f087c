"""Hardening (issue 7): abandoned idempotency claims, request limits, exposed servers,
secrets at rest, one-line startup errors, and random faults (`serve --faults`)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message

from makini_cli.sandbox import chaos, idempotency
from makini_cli.sandbox.chaos import ChaosPlan, ChaosSpecError, parse_spec
from makini_cli.sandbox.hosts import host_name, host_policy
from makini_cli.sandbox.middleware import json_too_deep
from makini_cli.sandbox.runtime import Runtime
from makini_cli.sandbox.server import EmbeddedSandbox
from makini_cli.sandbox.settings import (
    DEMO_CLIENT_ID,
    SandboxConfigError,
    SandboxSettings,
    check_exposure,
    is_loopback,
)
from makini_cli.sandbox.store import DB_FILENAME, MIGRATIONS, Store
from tests.inproc import invoke
from tests.integration.cli import run

from .conftest import ACTIVE_KEY, assert_error, bearer, token_pair

SUBJECT = f"admin:{DEMO_CLIENT_ID}"
NEW_CONNECTION = {
    "name": "Fiix plant 9",
    "email": "ops@example.com",
    "provider": "fiix",
    "credentials": {"api": "https://fiix.example.com", "login": "a", "password": "b"},
}
#: TEST-NET-1: no machine has it, so nothing is ever bound there, even without the fix.
UNREACHABLE_HOST = "192.0.2.1"
STRONG_SECRET = "a-strong-sandbox-secret-0123456789"


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    """Another live process on this machine: a second sandbox process, as far as a claim
    can tell."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def _owner(pid: int, *, started: str | None = None, instance: str = "other") -> idempotency.Owner:
    me = idempotency.Owner.current()
    return idempotency.Owner(me.host, pid, started, instance)


def _claim(store: Store, key: str, owner: idempotency.Owner, real_now: float = 1_000.0) -> Any:
    with store.transaction() as conn:
        return idempotency.begin(conn, SUBJECT, key, "print", 0.0, owner=owner, real_now=real_now)


# ---------------------------------------------------------------------- 1. abandoned claims


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path: Path, dead_pid: int) -> None:
    store = Store.open(tmp_path / "data")
    me = idempotency.Owner.current("me")
    assert _claim(store, "k", _owner(dead_pid)) == "proceed"
    assert _claim(store, "k", me) == "proceed"
    # Now it is ours, and we are alive: the next request with the key waits.
    assert _claim(store, "k", _owner(dead_pid, instance="late")) == "in_progress"
    store.close()


def test_a_live_processs_claim_is_kept_until_it_dies(
    tmp_path: Path, live_process: subprocess.Popen[bytes]
) -> None:
    # Two live processes on one data dir (serve + an embedded sandbox) never steal.
    store = Store.open(tmp_path / "data")
    pid = live_process.pid
    started = idempotency._process_started(pid)
    assert _claim(store, "k", _owner(pid, started=started)) == "proceed"
    assert _claim(store, "k", idempotency.Owner.current("me")) == "in_progress"
    live_process.kill()
    live_process.wait(timeout=30)
    assert _claim(store, "k", idempotency.Owner.current("me")) == "proceed"
    store.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_reused_pid_does_not_keep_a_claim(
    tmp_path: Path, live_process: subprocess.Popen[bytes]
) -> None:
    store = Store.open(tmp_path / "data")
    # The pid is alive, but its process started at another time than the claim's owner.
    assert _claim(store, "k", _owner(live_process.pid, started="1")) == "proceed"
    assert _claim(store, "k", idempotency.Owner.current("me")) == "proceed"
    store.close()


def test_a_claim_from_another_machine_lasts_its_lease(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    far = idempotency.Owner("another-host.example", 4242, None, "far")
    assert _claim(store, "k", far, real_now=1_000.0) == "proceed"
    me = idempotency.Owner.current("me")
    almost = 1_000.0 + idempotency.LEASE_SECONDS - 1
    assert _claim(store, "k", me, real_now=almost) == "in_progress"
    assert _claim(store, "k", me, real_now=1_000.0 + idempotency.LEASE_SECONDS) == "proceed"
    store.close()


def test_opening_a_data_dir_releases_what_dead_processes_left(
    tmp_path: Path, dead_pid: int
) -> None:
    settings = SandboxSettings(tmp_path / "data")
    first = Runtime.open(settings)
    now = first.now()
    with first.store.transaction() as conn:
        for key, owner in (("dead", _owner(dead_pid)), ("live", first.owner)):
            idempotency.begin(conn, SUBJECT, key, "print", now, owner=owner)
    second = Runtime.open(settings)
    with second.store.connection() as conn:
        left = [row["key"] for row in conn.execute("SELECT key FROM idempotency")]
    assert left == ["live"]
    first.store.close()
    second.store.close()


def test_a_retry_after_a_crash_proceeds_instead_of_waiting_a_day(
    tmp_path: Path, dead_pid: int
) -> None:
    settings = SandboxSettings(tmp_path / "data")
    key, body = "crash-retry", [{"key": "after_crash", "value": "yes"}]
    path = f"/api/system/connections/{ACTIVE_KEY}/metadata"
    claim = idempotency.Claim(SUBJECT, key)
    # As a killed server leaves it: its claim pending, with a lease still running.
    runtime = Runtime.open(settings)
    with runtime.store.transaction() as conn:
        print_ = claim.fingerprint("POST", path, "", json.dumps(body).encode())
        idempotency.begin(
            conn, SUBJECT, claim.lookup, print_, runtime.now(), owner=_owner(dead_pid)
        )
    with (
        EmbeddedSandbox(settings, embedded=False) as sandbox,
        httpx.Client(base_url=sandbox.base_url, timeout=10) as client,
    ):
        headers = {**bearer(token_pair(client)["access_token"]), "Idempotency-Key": key}
        retried = client.post(path, json=body, headers=headers)
        assert retried.status_code == 200, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        assert client.post(path, json=body, headers=headers).headers["Idempotent-Replayed"]
    runtime.store.close()


def test_an_idempotent_answer_is_recorded_before_its_last_bytes_go_out(tmp_path: Path) -> None:
    """A client that sends the same key again the moment it has the answer must get it
    replayed, never "still being processed": so the record is done before the answer's
    last bytes leave. Checked at the ASGI `send` of the final body message."""
    from makini_cli.sandbox import tokens
    from makini_cli.sandbox.app import create_app

    app = create_app(SandboxSettings(tmp_path / "data"), embedded=True)
    runtime = app.state.runtime
    with runtime.store.transaction() as conn:
        pair = tokens.issue_pair(conn, runtime.now(), "admin", DEMO_CLIENT_ID)
    body = json.dumps([{"key": "at_once", "value": "yes"}]).encode()
    path = f"/api/system/connections/{ACTIVE_KEY}/metadata"
    states: list[str] = []
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            with runtime.store.connection() as conn:
                states.extend(row[0] for row in conn.execute("SELECT state FROM idempotency"))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {pair.access_token}".encode()),
            (b"idempotency-key", b"at-once-1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    runtime.store.close()
    assert statuses == [200]
    assert states == ["done"]


# ---------------------------------------------------------------------- 2. request limits


def test_a_body_above_the_limit_is_refused_by_its_declared_length(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    big = b"x" * (2 * 1024 * 1024)
    refused = client.post("/link/token", content=big, headers={"Content-Type": "text/plain"})
    error = assert_error(refused, 413, "INVALID_REQUEST")
    assert error["type"] == "invalid_request_error"
    assert error["details"] == {"max_bytes": 1024 * 1024}
    refused = client.post("/api/system/connections", content=big, headers=admin)
    assert_error(refused, 413, "INVALID_REQUEST")
    # The connection stays usable: what the client still sent was read and discarded.
    assert client.get("/api/system/client", headers=admin).status_code == 200


def test_a_chunked_body_is_cut_off_at_the_limit(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 4 MiB in all, without a Content-Length
            yield b"[" * 65_536

    refused = client.post("/api/system/connections", content=chunks(), headers=admin)
    assert "content-length" not in refused.request.headers
    assert_error(refused, 413, "INVALID_REQUEST")
    assert client.get("/api/system/client", headers=admin).status_code == 200


def test_a_body_at_the_limit_is_read(make_sandbox: Callable[..., httpx.Client]) -> None:
    client = make_sandbox("small", max_body_bytes=200, embedded=False)
    fields = {"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID}
    body = json.dumps({**fields, "client_secret": "sandbox-secret", "pad": ""}).encode()
    body = body.replace(b'"pad": ""', b'"pad": "' + b"p" * (200 - len(body)) + b'"')
    assert len(body) == 200
    assert client.post("/link/token", content=body).status_code == 200
    assert_error(client.post("/link/token", content=body + b" "), 413, "INVALID_REQUEST")


def test_deeply_nested_json_is_a_bad_request_not_a_crash(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    # Without a token, on the one route that parses its own body.
    anonymous = client.post(
        "/link/token", content=deep, headers={"Content-Type": "application/json"}
    )
    error = assert_error(anonymous, 400, "INVALID_REQUEST")
    assert error["details"] == {"max_depth": 64}
    # With a token and an Idempotency-Key, whose fingerprint parses the body too.
    keyed = {**admin, "Idempotency-Key": "deep", "Content-Type": "application/json"}
    assert_error(
        client.post("/api/system/connections", content=deep, headers=keyed), 400, "INVALID_REQUEST"
    )
    # 64 levels are fine (the route then says what is wrong with the content).
    nested = b"[" * 64 + b"]" * 64
    answer = client.post("/api/system/connections", content=nested, headers=keyed)
    assert answer.status_code == 422, answer.text


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert not json_too_deep(b'{"a": "' + b"[" * 500 + b'"}', 64)
    assert not json_too_deep(b'{"a": "\\"' + b"[" * 500 + b'"}', 64)
    assert not json_too_deep(b"[" + b"[]," * 500 + b"[]]", 64)
    assert json_too_deep(b"[" * 65 + b"]" * 65, 64)
    assert not json_too_deep(b"[" * 64 + b"]" * 64, 64)
    assert json_too_deep(b'{"a":' * 65 + b"1" + b"}" * 65, 64)


# ---------------------------------------------------------------------- 3. exposure


def test_a_non_loopback_bind_needs_a_strong_secret(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    refused = invoke(
        "sandbox", "serve", "--host", UNREACHABLE_HOST, "--port", "0", "--data-dir", data
    )
    assert refused.code == 2, refused
    assert "refusing to serve on 192.0.2.1" in refused.stderr
    assert "demo secret" in refused.stderr and "MAKINI_SANDBOX_CLIENT_SECRET" in refused.stderr
    short = invoke(
        "sandbox",
        "serve",
        "--host",
        UNREACHABLE_HOST,
        "--port",
        "0",
        "--data-dir",
        data,
        env={"MAKINI_SANDBOX_CLIENT_SECRET": "twelve-chars"},
    )
    assert short.code == 2 and "shorter than 16" in short.stderr, short
    # A strong secret gets past the check (and then meets the address nobody has).
    strong = invoke(
        "sandbox",
        "serve",
        "--host",
        UNREACHABLE_HOST,
        "--port",
        "0",
        "--data-dir",
        data,
        env={"MAKINI_SANDBOX_CLIENT_SECRET": STRONG_SECRET},
    )
    assert strong.code == 2, strong
    assert "cannot listen on 192.0.2.1:0" in strong.stderr and "refusing" not in strong.stderr


def test_exposure_rules() -> None:
    demo = SandboxSettings(Path("unused"))
    check_exposure(demo, "127.0.0.1")
    check_exposure(demo, "::1")
    check_exposure(demo, "localhost")
    for host in ("0.0.0.0", "::", "192.168.1.5", "sandbox.example"):  # noqa: S104
        with pytest.raises(SandboxConfigError):
            check_exposure(demo, host)
    check_exposure(SandboxSettings(Path("unused"), client_secret=STRONG_SECRET), "0.0.0.0")  # noqa: S104
    assert is_loopback("127.8.9.10") and is_loopback("[::1]") and is_loopback("app.localhost")
    assert not is_loopback("localhost.example.com")
    with pytest.raises(ValueError):
        SandboxSettings(Path("unused"), client_secret="short")


@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (("--client-secret", "a"), {}, 2, "--client-secret is shorter than 8 characters"),
        (("--client-secret", ""), {}, 2, "--client-secret is empty"),
        ((), {"MAKINI_SANDBOX_CLIENT_SECRET": ""}, 3, "MAKINI_SANDBOX_CLIENT_SECRET is empty"),
        ((), {"MAKINI_SANDBOX_CLIENT_SECRET": "abc"}, 3, "shorter than 8 characters"),
        (("--client-id", ""), {}, 2, "--client-id is empty"),
    ],
)
def test_weak_or_empty_credentials_are_refused(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], code: int, says: str
) -> None:
    # A subprocess with a timeout: without the check these would serve until killed.
    result = run(
        "sandbox",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        *args,
        env=env,
        timeout=60,
    )
    assert result.code == code, result
    assert says in result.stderr
    assert not (tmp_path / "data").exists()


def test_made_up_tokens_share_their_clients_bucket(
    make_sandbox: Callable[..., httpx.Client], manual_clock: Any
) -> None:
    client = make_sandbox("guessing", clock=manual_clock, rate_limit_per_minute=3)
    admin = bearer(token_pair(client)["access_token"])  # 1 of the client's 3
    for guess in ("guess-1", "guess-2"):
        assert_error(
            client.get("/api/system/client", headers=bearer(guess)), 401, "AUTHENTICATION_FAILED"
        )
    limited = client.get("/api/system/client", headers=bearer("guess-3"))
    assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
    assert "this client" in limited.json()["error"]["message"]
    # The token endpoint counts against the client's bucket whatever token it carries.
    token_call = client.post("/link/token", json={}, headers=admin)
    assert_error(token_call, 429, "RATE_LIMIT_EXCEEDED")
    # A real token keeps a bucket of its own.
    assert client.get("/api/system/client", headers=admin).status_code == 200


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("127.0.0.1", True),
        ("localhost:1234", True),
        ("[::1]:80", True),
        ("LOCALHOST.", True),
        ("sandbox.test:8765", True),
        ("makini-sandbox.invalid", True),
        ("rebind.attacker.net", False),
        ("rebind.attacker.net:8765", False),
        ("127.0.0.1.attacker.net", False),
        ("test.attacker.net", False),
    ],
)
def test_only_loopback_host_headers_are_answered(
    client: httpx.Client, admin: dict[str, str], host: str, answered: bool
) -> None:
    for path in ("/api/system/client", "/sandbox/instance"):
        response = client.get(path, headers={**admin, "Host": host})
        if answered:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 421, response.text
            error = response.json()["error"]
            assert error["code"] == "INVALID_REQUEST"
            assert error["details"] == {"host": host_name(host)}
            assert "--allowed-host" in error["message"]
            assert error["request_id"] == response.headers["X-Request-Id"]


def test_allowed_hosts_are_answered(make_sandbox: Callable[..., httpx.Client]) -> None:
    client = make_sandbox("named", allowed_hosts=("sandbox.corp.com",), embedded=False)
    assert client.get("/openapi.json", headers={"Host": "sandbox.corp.com:8765"}).status_code == 200
    assert client.get("/openapi.json", headers={"Host": "other.corp.com"}).status_code == 421


def test_host_policy_of_explicit_and_wildcard_binds() -> None:
    explicit = host_policy("192.168.1.5", ["Sandbox.Internal"])
    assert explicit.allows("192.168.1.5:8765") and explicit.allows("sandbox.internal")
    assert not explicit.allows("10.0.0.1") and not explicit.allows("rebind.attacker.net")
    wildcard = host_policy("0.0.0.0")  # noqa: S104
    assert wildcard.allows("10.0.0.1:8765") and wildcard.allows("[fe80::1]:80")
    assert not wildcard.allows("rebind.attacker.net:8765")
    assert host_policy(None).allows(None)  # HTTP/1.0 without Host


# ---------------------------------------------------------------------- 4. secrets at rest


def _stored_bytes(data_dir: Path) -> bytes:
    return b"".join(
        path.read_bytes() for path in data_dir.iterdir() if path.name.startswith(DB_FILENAME)
    )


def test_replayable_answers_keep_no_token_in_the_database(tmp_path: Path) -> None:
    settings = SandboxSettings(tmp_path / "data")
    key = "mk-4f1c-create-and-token"
    with (
        EmbeddedSandbox(settings, embedded=False) as sandbox,
        httpx.Client(base_url=sandbox.base_url, timeout=10) as client,
    ):
        admin = bearer(token_pair(client)["access_token"])
        headers = {**admin, "Idempotency-Key": key}
        created = client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers)
        issued = client.post(
            f"/api/system/connections/{ACTIVE_KEY}/token",
            headers=headers | {"Idempotency-Key": key + "-token"},
        )
        secrets_issued = [
            created.json()["data"]["access_token"],
            created.json()["data"]["refresh_token"],
            issued.json()["data"]["token"],
        ]
        stored = _stored_bytes(settings.data_dir)
        for secret in [*secrets_issued, key]:
            assert secret.encode() not in stored
    # After a restart the client's key still gets its first answer back, tokens included.
    with (
        EmbeddedSandbox(settings, embedded=False) as sandbox,
        httpx.Client(base_url=sandbox.base_url, timeout=10) as client,
    ):
        replay = client.post("/api/system/connections", json=NEW_CONNECTION, headers=headers)
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == created.json()


def test_sealed_answers_need_the_key_that_sealed_them() -> None:
    claim = idempotency.Claim(SUBJECT, "key-1")
    sealed = claim.seal(b'{"data":{"token":"sbx_ct_secret"}}')
    assert b"sbx_ct_secret" not in sealed
    assert claim.unseal(sealed) == b'{"data":{"token":"sbx_ct_secret"}}'
    assert idempotency.Claim(SUBJECT, "key-2").unseal(sealed) is None
    assert idempotency.Claim("admin:other", "key-1").unseal(sealed) is None
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert claim.unseal(tampered) is None
    assert claim.lookup != idempotency.Claim(SUBJECT, "key-2").lookup
    assert "key-1" not in claim.lookup
    assert claim.unseal(claim.seal(b"")) == b""


def test_the_database_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        settings = SandboxSettings(data)
        with EmbeddedSandbox(settings) as sandbox, httpx.Client(base_url=sandbox.base_url) as c:
            token_pair(c)
            modes = {
                p.name: stat.S_IMODE(p.stat().st_mode)
                for p in data.iterdir()
                if p.name.startswith(DB_FILENAME)
            }
        assert set(modes) >= {DB_FILENAME, DB_FILENAME + "-wal", DB_FILENAME + "-shm"}
        assert set(modes.values()) == {0o600}
        # A database an older version left 0644 is made private at open.
        (data / DB_FILENAME).chmod(0o644)
        Store.open(data).close()
        assert stat.S_IMODE((data / DB_FILENAME).stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_records_of_older_versions_are_dropped_at_upgrade(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = sqlite3.connect(data / DB_FILENAME, isolation_level=None)
    for script in MIGRATIONS[:5]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 5")
    conn.execute(
        "INSERT INTO idempotency (subject, key, fingerprint, state, status_code, headers, body,"
        " created_at, expires_at) VALUES ('admin:c', 'raw-key', 'f', 'done', 200, '[]',"
        " ?, 0, 1e12)",
        (b'{"data":{"token":"sbx_ct_raw"}}',),
    )
    conn.close()
    store = Store.open(data)
    with store.connection() as opened:
        assert opened.execute("SELECT count(*) FROM idempotency").fetchone()[0] == 0
    store.close()


# ---------------------------------------------------------------------- 5. startup errors


def test_a_busy_port_is_a_one_line_usage_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("sandbox", "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert result.code == 2, result
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in result.stderr
    assert "bug in makini" not in result.stderr
    assert "--port 0" in result.stderr


def test_a_data_dir_that_is_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("hello")
    result = invoke("sandbox", "serve", "--port", "0", "--data-dir", str(a_file))
    assert result.code == 3, result
    assert f"the sandbox data dir {a_file} is not a directory" in result.stderr
    assert "bug in makini" not in result.stderr
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / DB_FILENAME).write_bytes(b"this is not a database, not even close" * 50)
    result = invoke("sandbox", "serve", "--port", "0", "--data-dir", str(garbage))
    assert result.code == 3 and "bug in makini" not in result.stderr, result


# ---------------------------------------------------------------------- 6. --faults


def test_the_fault_spec() -> None:
    plan = parse_spec("rate=0.3,seed=7,modes=429,503,drip,reset,drop")
    assert (plan.rate, plan.seed) == (0.3, 7)
    assert plan.modes == ("429", "503", "drip", "reset", "drop")
    assert parse_spec(plan.describe()) == plan
    full = parse_spec("rate=1, latency=500ms, drip=1m, retry_after=3, path=/api/,/link/token")
    assert full.modes == chaos.MODES and full.latency == 0.5 and full.drip == 60.0
    assert full.paths == ("/api/", "/link/token") and full.retry_after == 3
    assert parse_spec(full.describe()) == full
    for bad in (
        "",
        "rate=0",
        "rate=1.5",
        "modes=418",
        "latency=2h",
        "seed=x",
        "oops",
        "rate=0.1,rate=0.2",
        "colour=red",
        "path=api",
        "modes=",
    ):
        with pytest.raises(ChaosSpecError):
            parse_spec(bad)


def test_the_same_seed_draws_the_same_faults() -> None:
    plan = ChaosPlan(rate=0.5, seed=11)
    first, second = chaos.Chaos(plan), chaos.Chaos(plan)
    draws = [first.draw("/api/x") for _ in range(200)]
    assert draws == [second.draw("/api/x") for _ in range(200)]
    assert 40 < sum(d is not None for d in draws) < 160
    assert chaos.Chaos(ChaosPlan(rate=1, paths=("/api/",))).draw("/link/token") is None


def _faulty(
    make_sandbox: Callable[..., httpx.Client], spec: str, name: str = "faulty"
) -> httpx.Client:
    return make_sandbox(name, embedded=False, chaos=parse_spec(spec))


def test_status_faults_answer_like_a_failing_api(make_sandbox: Callable[..., httpx.Client]) -> None:
    client = _faulty(make_sandbox, "rate=1,modes=503,retry_after=4,path=/api/system/client")
    admin = bearer(token_pair(client)["access_token"])
    error = assert_error(
        client.get("/api/system/client", headers=admin), 503, "SERVICE_UNAVAILABLE"
    )
    assert error["details"] == {"injected": True}
    assert client.get("/api/system/client", headers=admin).headers["Retry-After"] == "4"
    # Other paths, and the control routes, are spared.
    assert client.get("/api/system/account", headers=admin).status_code == 200
    gateway = _faulty(make_sandbox, "rate=1,modes=502", name="gateway")
    page = gateway.post("/link/token", json={})
    assert page.status_code == 502 and page.headers["content-type"].startswith("text/html")
    limited = _faulty(make_sandbox, "rate=1,modes=429", name="limited")
    assert_error(limited.post("/link/token", json={}), 429, "RATE_LIMIT_EXCEEDED")


def test_a_reset_happens_before_handling(make_sandbox: Callable[..., httpx.Client]) -> None:
    client = _faulty(make_sandbox, "rate=1,modes=reset,path=/api/system/connections")
    admin = bearer(token_pair(client)["access_token"])
    before = client.get("/api/system/account", headers=admin).json()
    # A TCP reset (ECONNRESET), not just an unfinished answer.
    with pytest.raises(httpx.ReadError):
        client.post("/api/system/connections", json=NEW_CONNECTION, headers=admin)
    assert client.get("/api/system/account", headers=admin).json() == before


def test_a_dropped_answer_was_handled_and_is_replayed_by_its_key(
    tmp_path: Path, make_sandbox: Callable[..., httpx.Client]
) -> None:
    faulty = _faulty(make_sandbox, "rate=1,modes=drop,path=/api/system/connections/", "shared")
    healthy = make_sandbox("shared", embedded=False)  # the same data dir, no faults
    admin = bearer(token_pair(healthy)["access_token"])
    path = f"/api/system/connections/{ACTIVE_KEY}/metadata"
    body, headers = (
        [{"key": "dropped", "value": "but done"}],
        {**admin, "Idempotency-Key": "drop-1"},
    )
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        faulty.post(path, json=body, headers=headers)
    replay = healthy.post(path, json=body, headers=headers)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert json.loads(replay.json()["data"]["user_metadata"])["dropped"] == "but done"


def test_late_and_dripping_answers_arrive_whole(make_sandbox: Callable[..., httpx.Client]) -> None:
    for mode in ("latency", "drip"):
        client = _faulty(make_sandbox, f"rate=1,modes={mode},{mode}=200ms", name=mode)
        admin = bearer(token_pair(client)["access_token"])
        listed = client.get("/api/system/connections", headers=admin)
        assert listed.status_code == 200 and len(listed.json()["data"]) >= 8


def test_serve_rejects_a_bad_fault_spec(tmp_path: Path) -> None:
    result = invoke(
        "sandbox", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--faults", "rate=2"
    )
    assert result.code == 2, result
    assert "--faults 'rate=2': rate must be above 0 and at most 1" in result.stderr
    helped = invoke("sandbox", "serve", "--help")
    assert "--faults SPEC" in helped.stdout and "--allowed-host NAME" in helped.stdout
    assert 'makini sandbox serve --faults "rate=0.3,seed=7,modes=429,503,drip,reset,drop"' in (
        helped.stdout
    )
