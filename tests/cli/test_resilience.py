"""Rate limits, expiring tokens, outages of the API itself, odd bodies and Ctrl-C."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run


def test_429_waits_as_told_and_succeeds(sandbox_factory: Callable[..., Served]) -> None:
    served = sandbox_factory("--rate-limit", "1", "--clock-speed", "30")
    env = {"MAKINI_BASE_URL": served.url, "MAKINI_TOKEN": served.admin_token()}
    first = run("connections", "list", env=env)
    assert first.code == 0, first
    second = run("connections", "list", env=env)
    assert second.code == 0, second
    assert "rate limited, retrying in" in second.stderr
    assert second.jsonl() == first.jsonl()


def test_429_budget_spent_is_exit_5(sandbox_factory: Callable[..., Served]) -> None:
    served = sandbox_factory("--rate-limit", "1", "--clock-speed", "1")
    env = {"MAKINI_BASE_URL": served.url, "MAKINI_TOKEN": served.admin_token()}
    assert run("connections", "list", env=env).code == 0
    result = run("--max-retries", "0", "connections", "list", env=env)
    assert result.code == 5, result
    assert "RATE_LIMIT_EXCEEDED" in result.stderr


def test_expired_admin_token_is_refreshed_transparently(sandbox: Served) -> None:
    login = run("auth", "login", "-p", "dev", "--base-url", sandbox.url,
                "--client-id", sandbox.client_id, input=sandbox.client_secret + "\n")
    assert login.code == 0, login
    creds = Path(os.environ["MAKINI_CONFIG_DIR"]) / "credentials.json"
    before = json.loads(creds.read_text())
    assert run("connections", "list").code == 0
    sandbox.control("POST", "clock", {"advance_seconds": 30 * 86400 + 3600})
    result = run("--debug", "connections", "list")
    assert result.code == 0, result
    assert "TOKEN_EXPIRED" in result.stderr
    after = json.loads(creds.read_text())
    assert after != before  # the refreshed pair replaced the old one
    assert sandbox.client_secret not in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_is_exit_5() -> None:
    env = {"MAKINI_BASE_URL": f"http://127.0.0.1:{free_port()}", "MAKINI_TOKEN": "t"}
    result = run("--max-retries", "1", "connections", "list", env=env)
    assert result.code == 5, result
    assert "cannot reach" in result.stderr and "retrying" in result.stderr
    as_json = run("--max-retries", "0", "-o", "json", "connections", "list", env=env)
    assert as_json.error()["exit_code"] == 5


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def test_server_that_never_answers_times_out(silent_server: str) -> None:
    env = {"MAKINI_BASE_URL": silent_server, "MAKINI_TOKEN": "t"}
    result = run("--timeout", "0.5", "--max-retries", "0", "connections", "list", env=env)
    assert result.code == 5, result
    assert "did not answer in time" in result.stderr


def test_transient_503s_are_retried(sandbox: Served) -> None:
    sandbox.control("POST", "faults", {"path_prefix": "/api/system/connections", "status": 503,
                                       "count": 2, "retry_after": 0})
    result = run("connections", "list", env=sandbox.env)
    assert result.code == 0, result
    assert result.stderr.count("server answered 503, retrying") == 2
    assert len(result.jsonl()) >= 8


@pytest.mark.parametrize(("status", "body", "exit_code", "text"), [
    (503, "envelope", 5, "SERVICE_UNAVAILABLE"),
    (502, "html", 5, "HTML page"),
    (500, "empty", 1, "empty body"),
    (422, "laravel", 1, "VALIDATION_FAILED"),
    (400, "malformed_json", 1, "non-JSON body"),
])
def test_error_bodies_of_every_shape(sandbox: Served, status: int, body: str, exit_code: int,
                                     text: str) -> None:
    sandbox.control("POST", "faults", {"path_prefix": "/api/system/connections", "status": status,
                                       "count": 50, "body": body, "retry_after": 0})
    result = run("--max-retries", "1", "connections", "list", env=sandbox.env)
    assert result.code == (5 if status >= 500 else exit_code), result
    assert text in result.stderr
    assert len(result.stderr.strip().splitlines()[-1]) < 400


def test_debug_trace_redacts_secrets(shared_sandbox: Served) -> None:
    result = run("--debug", "connections", "list", "--limit", "1", env=shared_sandbox.env)
    assert result.code == 0, result
    assert "GET " in result.stderr and "-> 200" in result.stderr and "req_" in result.stderr
    assert shared_sandbox.client_secret not in result.stderr
    assert "[redacted]" in result.stderr
    assert "Bearer " not in result.stderr
