"""Login, profiles and config as a person or a CI job uses them."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run


def config_dir() -> Path:
    return Path(os.environ["MAKINI_CONFIG_DIR"])


def login(served: Served, profile: str = "dev") -> None:
    result = run("auth", "login", "-p", profile, "--base-url", served.url,
                 "--client-id", served.client_id, input=served.client_secret + "\n")
    assert result.code == 0, result


def test_login_stores_secret_privately_and_works(shared_sandbox: Served) -> None:
    login(shared_sandbox)
    cfg = tomllib.loads((config_dir() / "config.toml").read_text())
    assert cfg["active_profile"] == "dev"
    assert cfg["profiles"]["dev"] == {"base_url": shared_sandbox.url,
                                      "client_id": shared_sandbox.client_id}
    creds = config_dir() / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir().stat().st_mode) == 0o700
    assert shared_sandbox.client_secret not in (config_dir() / "config.toml").read_text()

    listed = run("connections", "list")
    assert listed.code == 0, listed
    assert "bundled sandbox" not in listed.stderr

    status = run("auth", "status", "-o", "json")
    assert status.code == 0, status
    doc = status.json()
    assert doc["in_use"] == "dev"
    dev = doc["profiles"]["dev"]
    assert dev["base_url"] == shared_sandbox.url and dev["active"] is True
    assert dev["secret_storage"] == "stored in plain text"
    assert dev["token_valid"] is True
    assert doc["profiles"]["sandbox"]["credentials"] == "sandbox-demo"
    assert shared_sandbox.client_secret not in status.stdout + status.stderr

    token = run("auth", "token")
    assert token.code == 0 and len(token.stdout.strip()) > 10

    assert run("auth", "logout").code == 0
    after = run("connections", "list")
    assert after.code == 4, after
    assert "auth login" in after.stderr
    assert run("auth", "status").code == 4


def test_wrong_secret_stores_nothing(shared_sandbox: Served) -> None:
    result = run("auth", "login", "-p", "bad", "--base-url", shared_sandbox.url,
                 "--client-id", shared_sandbox.client_id, input="wrong-secret\n")
    assert result.code == 4, result
    creds = config_dir() / "credentials.json"
    assert not creds.exists() or "wrong-secret" not in creds.read_text()
    # Atomic: no profile, no active profile, so later commands are not stuck on exit 4.
    cfg = config_dir() / "config.toml"
    assert not cfg.exists() or "bad" not in cfg.read_text()
    assert run("profile", "list", "-o", "json").json()[0]["active"] is True  # sandbox
    assert run("--base-url", shared_sandbox.url, "connections", "list",
               env={"MAKINI_CLIENT_ID": shared_sandbox.client_id,
                    "MAKINI_CLIENT_SECRET": shared_sandbox.client_secret}).code == 0


def test_new_profile_becomes_active_and_status_check_verifies(shared_sandbox: Served) -> None:
    login(shared_sandbox, "first")
    second = run("auth", "login", "-p", "second", "--base-url", shared_sandbox.url,
                 "--client-id", shared_sandbox.client_id, input=shared_sandbox.client_secret)
    assert second.code == 0, second
    assert "profile second is now the active profile" in second.stderr
    cfg = tomllib.loads((config_dir() / "config.toml").read_text())
    assert cfg["active_profile"] == "second"

    checked = run("auth", "status", "--check", "-o", "json")
    assert checked.code == 0, checked
    doc = checked.json()
    assert set(doc["profiles"]) == {"sandbox", "first", "second"}
    assert doc["profiles"]["first"]["check"] == "ok"
    assert doc["profiles"]["second"]["check"] == "ok" and doc["profiles"]["second"]["in_use"]

    # A secret the server no longer accepts: the check says so, with exit 4.
    creds = config_dir() / "credentials.json"
    stored = json.loads(creds.read_text())
    stored["second:client_secret"] = "rotated-away"
    stored = {k: v for k, v in stored.items() if "@" not in k}  # drop cached tokens
    creds.write_text(json.dumps(stored))
    failed = run("auth", "status", "--check", "-o", "json")
    assert failed.code == 4, failed
    assert failed.json()["profiles"]["second"]["check"] == "failed: AUTHENTICATION_FAILED"
    assert failed.json()["profiles"]["first"]["check"] == "ok"


def test_login_with_token_from_stdin(shared_sandbox: Served) -> None:
    token = shared_sandbox.admin_token()
    result = run("auth", "login", "-p", "tok", "--base-url", shared_sandbox.url, "--with-token",
                 input=token + "\n")
    assert result.code == 0, result
    assert run("-p", "tok", "connections", "list").code == 0
    assert token not in result.stderr + result.stdout


def test_login_without_input_under_no_input_is_exit_6(shared_sandbox: Served) -> None:
    result = run("auth", "login", "-p", "x", "--base-url", shared_sandbox.url, "--no-input")
    assert result.code == 6, result


def test_ci_env_credentials_write_nothing(shared_sandbox: Served) -> None:
    result = run("connections", "list", env=dict(shared_sandbox.env, CI="true"))
    assert result.code == 0, result
    assert not config_dir().exists() or not any(config_dir().iterdir())
    status = run("auth", "status", "-o", "json", env=shared_sandbox.env).json()
    in_use = status["profiles"][status["in_use"]]
    assert in_use["credentials_origin"].startswith("env MAKINI_CLIENT_ID")
    assert in_use["secret_storage"].startswith("memory only")


def test_partial_env_credentials_are_exit_3(shared_sandbox: Served) -> None:
    result = run("connections", "list",
                 env={"MAKINI_BASE_URL": shared_sandbox.url, "MAKINI_CLIENT_ID": "x"})
    assert result.code == 3, result
    assert "MAKINI_CLIENT_SECRET" in result.stderr


def test_profiles_lifecycle() -> None:
    assert run("profile", "create", "prod", "--base-url", "https://api.makini.io").code == 0
    assert run("profile", "create", "prod").code == 3
    assert run("profile", "create", "bad name!").code == 2
    listed = run("profile", "list", "-o", "json").json()
    assert [p["name"] for p in listed] == ["sandbox", "prod"]
    assert listed[0]["active"] is True
    assert run("profile", "use", "prod").code == 0
    shown = run("profile", "show", "-o", "json").json()
    assert shown["name"] == "prod" and shown["active"] is True
    assert run("profile", "use", "nope").code == 3
    assert run("profile", "delete", "prod").code == 6
    assert run("profile", "delete", "prod", "--yes").code == 0
    assert run("profile", "delete", "sandbox", "--yes").code == 3
    assert [p["name"] for p in run("profile", "list", "-o", "json").json()] == ["sandbox"]


def test_config_set_get_unset_and_origins() -> None:
    assert run("config", "set", "output", "csv").code == 0
    assert run("config", "get", "output").stdout.strip() == "csv"
    origins = {r["key"]: r for r in run("config", "list", "--show-origin", "-o", "json").json()}
    assert origins["output"]["origin"] == "flag"  # -o json here wins, and says so
    origins = {r["key"]: r for r in
               run("config", "list", "--show-origin", env={"MAKINI_OUTPUT": "jsonl"}).jsonl()}
    assert origins["output"] == {"key": "output", "value": "jsonl", "origin": "env MAKINI_OUTPUT"}
    assert origins["base_url"]["origin"] == "built-in"
    # No flag or variable: the profile's own `output = csv` applies.
    as_csv = run("config", "list", "--show-origin")
    assert as_csv.stdout.splitlines()[0] == "key,value,origin"
    assert "output,csv,profile sandbox" in as_csv.stdout
    assert run("config", "set", "timeout", "soon").code == 2
    assert run("config", "set", "colour", "never").code == 2
    assert run("config", "unset", "output").code == 0
    assert run("config", "get", "output").stdout.strip() == ""
    path = run("config", "path").stdout.strip()
    assert path == str(config_dir() / "config.toml")


def test_corrupt_config_is_exit_3_naming_file_and_line_and_untouched() -> None:
    config_dir().mkdir(parents=True, exist_ok=True)
    path = config_dir() / "config.toml"
    broken = 'active_profile = "x"\n\n[profiles.x\nbase_url = 1\n'
    path.write_text(broken)
    for args in (["connections", "list"], ["profile", "create", "y"],
                 ["config", "set", "output", "json"]):
        result = run(*args)
        assert result.code == 3, result
        assert str(path) in result.stderr and "line 3" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert path.read_text() == broken
    as_json = run("-o", "json", "profile", "list")
    assert as_json.error()["exit_code"] == 3
    assert json.loads(as_json.stderr.strip())["error"]["code"] == "CONFIG_ERROR"
