"""Logout and `profile delete` remove every secret of the profile: the client secret, the
admin token cached per base URL (the current one and earlier ones), per-connection tokens,
and temp files a killed writer left, whether the secrets live in the keyring or the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring.core
import pytest
from keyring.backend import KeyringBackend

from makini_cli.config.secrets import SERVICE
from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run

#: the keyring is used (the isolation fixture disables it for every other test)
KEYRING_ON: dict[str, str | None] = {"MAKINI_NO_KEYRING": None}


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict, standing in for the OS keyring, which cannot be listed."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring has no type hints
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.data.pop((service, username), None) is None:
            raise PasswordDeleteError(username)

    def names(self, profile: str) -> list[str]:
        return sorted(n for s, n in self.data if s == SERVICE and n.startswith(f"{profile}:"))


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    backend = MemoryKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    yield backend


def config_dir() -> Path:
    return Path(os.environ["MAKINI_CONFIG_DIR"])


def log_in_and_cache_tokens(served: Sandbox, env: dict[str, str | None]) -> str:
    """Log in to `dev`, cache an admin and a connection token, then point the profile at
    another URL, leaving the tokens cached for the first one behind. The connection key."""
    login = run("auth", "login", "-p", "dev", "--base-url", served.url,
                "--client-id", served.client_id, input=served.client_secret + "\n", env=env)
    assert login.code == 0, login
    key = str(run("connections", "list", "--limit", "1", env=env).jsonl()[0]["key"])
    token = run("connections", "token", key, env=env)
    assert token.code == 0, token
    moved = run("config", "set", "base_url", "https://elsewhere.example.com", env=env)
    assert moved.code == 0, moved
    return key


def test_logout_removes_every_secret_from_the_keyring(
    shared_sandbox: Sandbox, memory_keyring: MemoryKeyring
) -> None:
    key = log_in_and_cache_tokens(shared_sandbox, KEYRING_ON)
    stored = memory_keyring.names("dev")
    assert "dev:client_secret" in stored
    assert f"dev:admin@{shared_sandbox.url}" in stored
    assert f"dev:conn:{key}@{shared_sandbox.url}" in stored
    assert not (config_dir() / "credentials.json").exists()  # all of it in the keyring

    logout = run("auth", "logout", env=KEYRING_ON)
    assert logout.code == 0, logout
    assert memory_keyring.names("dev") == []
    index = json.loads((config_dir() / "secret-names.json").read_text())
    assert "dev" not in index["profiles"]


def test_profile_delete_removes_every_secret_from_the_keyring(
    shared_sandbox: Sandbox, memory_keyring: MemoryKeyring
) -> None:
    log_in_and_cache_tokens(shared_sandbox, KEYRING_ON)
    other = run("auth", "login", "-p", "other", "--base-url", shared_sandbox.url,
                "--client-id", shared_sandbox.client_id,
                input=shared_sandbox.client_secret + "\n", env=KEYRING_ON)
    assert other.code == 0, other
    assert len(memory_keyring.names("dev")) >= 3

    deleted = run("profile", "delete", "dev", "--yes", env=KEYRING_ON)
    assert deleted.code == 0, deleted
    assert memory_keyring.names("dev") == []
    assert "other:client_secret" in memory_keyring.names("other")
    assert run("profile", "show", "dev", env=KEYRING_ON).code == 3


def test_logout_with_the_file_backend_leaves_no_secret_behind(
    shared_sandbox: Sandbox,
) -> None:
    key = log_in_and_cache_tokens(shared_sandbox, {})
    creds = config_dir() / "credentials.json"
    assert f"dev:conn:{key}@{shared_sandbox.url}" in json.loads(creds.read_text())
    # What a `kill -9` in the middle of a write leaves: a temp copy holding the secret.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    leftover = config_dir() / f".credentials.json.{gone.pid}.k9x2m4q1.tmp"
    leftover.write_text(creds.read_text())

    logout = run("auth", "logout")
    assert logout.code == 0, logout
    assert not [n for n in json.loads(creds.read_text()) if n.startswith("dev:")]
    assert not leftover.exists()
    assert not [p.name for p in config_dir().iterdir() if p.name.endswith(".tmp")]
