"""Odd input gets its documented error, never "a bug in makini"."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run


def test_an_argument_that_is_not_utf8_is_a_usage_error(bundled: Sandbox) -> None:
    # Python keeps undecodable argv bytes as lone surrogates.
    result = run("connections", "get", "ab\udcffcd")
    assert result.code == 2, result
    assert "not valid UTF-8" in result.stderr and "bug" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_idempotency_key_http_cannot_carry_is_a_usage_error(bundled: Sandbox) -> None:
    for bad in ("é", "has space", "x" * 256, ""):
        result = run("sync", "run", "10000715260448", "--idempotency-key", bad)
        assert result.code == 2, result
        assert "--idempotency-key" in result.stderr


def test_a_secret_given_as_a_credential_is_warned_about(bundled: Sandbox) -> None:
    bundled.control("POST", "account", {"credits_total": 100})
    result = run("connections", "create", "--name", "Plant", "--email", "ops@example.com",
                 "--platform", "upkeep", "--credential", "api_token=t0ps3cret")
    assert result.code == 0, result
    assert "--secret api_token" in result.stderr and "--credentials-file" in result.stderr
    assert "t0ps3cret" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["key"]


def test_losing_the_api_during_a_wait_says_the_sync_goes_on(sandbox: Sandbox) -> None:
    key = sandbox.keys_by_health()["online"][0]
    sandbox.control("POST", "faults", {"path_prefix": "/api/system/syncs/", "method": "GET",
                                       "status": 503, "count": 100, "retry_after": 0})
    # The run follows the event log: it opens (the first read passes), then fails too,
    # and the run falls back to polling the sync, which fails as above.
    sandbox.control("POST", "faults", {"path_prefix": "/api/system/events", "method": "GET",
                                       "status": 503, "count": 100, "retry_after": 0,
                                       "skip": 1})
    result = run("--max-retries", "0", "sync", "run", key, "--full", env=sandbox.env)
    assert result.code == 5, result
    outcome = json.loads(result.stdout)
    assert outcome["outcome"] == "error" and outcome["sync"]["id"].startswith("sync_")
    sync_id = outcome["sync"]["id"]
    assert "goes on" in result.stderr
    assert "cannot read the event log" in result.stderr
    assert f"\n  makini sync watch {sync_id}\n" in result.stderr


def test_a_password_in_a_hand_edited_profile_url_is_never_printed(isolated_env: Path) -> None:
    config = isolated_env / "config"
    config.mkdir(mode=0o700, exist_ok=True)
    (config / "config.toml").write_text(
        '[profiles.leak]\nbase_url = "http://u:hunter2@127.0.0.1:9"\n')
    for argv in (("profile", "list", "-o", "json"), ("profile", "show", "leak"),
                 ("profile", "list", "-o", "table")):
        result = run(*argv)
        assert result.code == 0, result
        assert "hunter2" not in result.stdout + result.stderr
        assert "***@127.0.0.1:9" in result.stdout
