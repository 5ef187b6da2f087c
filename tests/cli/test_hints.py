"""Errors that tell the truth: each hint names the right thing to fix."""

from __future__ import annotations

import socket

from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run


def test_a_rejected_makini_token_names_makini_token(shared_sandbox: Sandbox) -> None:
    env = {"MAKINI_BASE_URL": shared_sandbox.url, "MAKINI_TOKEN": "sbx_at_not-a-real-token"}
    result = run("connections", "list", env=env)
    assert result.code == 4, result
    assert "MAKINI_TOKEN" in result.stderr
    assert "auth login" not in result.stderr


def test_rejected_env_client_credentials_name_the_variables(shared_sandbox: Sandbox) -> None:
    env = {**shared_sandbox.env, "MAKINI_CLIENT_SECRET": "wrong"}
    result = run("connections", "list", env=env)
    assert result.code == 4, result
    assert "MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET" in result.stderr


def test_an_unknown_sync_points_at_sync_list(shared_sandbox: Sandbox) -> None:
    result = run("sync", "get", "sync_does_not_exist", env=shared_sandbox.env)
    assert result.code == 1, result
    assert "makini sync list" in result.stderr
    assert "connections list" not in result.stderr
    unknown_key = run("connections", "get", "00000000000000", env=shared_sandbox.env)
    assert "makini connections list" in unknown_key.stderr


def test_already_running_names_the_sync_to_watch(sandbox: Sandbox) -> None:
    key = next(row["key"] for row in run("connections", "list", env=sandbox.env).jsonl()
               if row["status"] == "active" and row["health"] == "online")
    started = run("sync", "run", key, "--no-wait", "--full", env=sandbox.env)
    assert started.code == 0, started
    sync_id = started.json()["sync"]["id"]
    again = run("sync", "run", key, "-o", "table", env=sandbox.env)
    assert again.code == 7, again
    assert f"makini sync watch {sync_id}" in again.stderr


def test_an_unreachable_base_url_says_so_and_names_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = run("connections", "list", env={"MAKINI_BASE_URL": url, "MAKINI_TOKEN": "t"})
    assert result.code == 5, result
    last = result.stderr.strip().splitlines()[-1]
    assert f"cannot reach {url}" in last and "connection refused" in last
