"""No secret or token ever shows up where it should not: representative commands, error
paths and --debug, scanning stdout, stderr and every file makini writes."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from makini_cli.sandbox.server import EmbeddedSandbox
from makini_cli.sandbox.settings import SandboxSettings
from tests.cli.conftest import Sandbox
from tests.handles import Result
from tests.inproc import invoke

SECRET = "scan-Secret-9f2Kq7Zr4Lm8Xv1Tp6Wd"
#: every token the sandbox issues is JWT-shaped: a JSON header, claims, a signature
TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
#: files that hold a secret on purpose (0600): the plain-text credentials fallback
ALLOWED_FILES = {"credentials.json"}


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox that accepts a client secret of our own, so we know what to look for."""
    settings = SandboxSettings(data_dir=tmp_path / "scan", client_id="scan-client",
                               client_secret=SECRET)
    with EmbeddedSandbox(settings, embedded=False) as running:
        yield Sandbox(running.base_url, tmp_path / "scan", client_id="scan-client",
                      client_secret=SECRET)


def clean(result: Result, *, token_on_stdout: bool = False) -> Result:
    streams = result.stderr if token_on_stdout else result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr, result
    assert not TOKEN.search(streams), result
    return result


def files_written(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file() and "sandbox" not in p.parts]


def test_no_secret_in_output_logs_or_files(private: Sandbox, isolated_env: Path) -> None:
    url = private.url
    # Login: the secret piped on stdin, checked, stored.
    login = invoke("auth", "login", "-p", "scan", "--base-url", url, "--client-id",
                   "scan-client", input=SECRET + "\n")
    assert login.code == 0, login
    clean(login)
    clean(invoke("auth", "login", "-p", "wrong", "--base-url", url, "--client-id",
                 "scan-client", input="not-" + SECRET + "\n"))
    clean(invoke("--debug", "-p", "scan", "connections", "list"))
    clean(invoke("-p", "scan", "auth", "status", "-o", "json"))
    clean(invoke("-p", "scan", "auth", "status", "--check"))
    key = invoke("-p", "scan", "connections", "list").jsonl()[0]["key"]
    clean(invoke("--debug", "-p", "scan", "connections", "get", key))
    clean(invoke("--debug", "-p", "scan", "connections", "get", "00000000000000"))
    clean(invoke("--debug", "-p", "scan", "sync", "run", key, "--no-wait"))
    clean(invoke("-p", "scan", "connections", "token", key, "-o", "json"), token_on_stdout=True)
    clean(invoke("-p", "scan", "auth", "token"), token_on_stdout=True)
    # The same through the environment, as CI runs it, and with a rejected token.
    env = {"MAKINI_BASE_URL": url, "MAKINI_CLIENT_ID": "scan-client",
           "MAKINI_CLIENT_SECRET": SECRET}
    clean(invoke("--debug", "connections", "list", "--limit", "1", env=env))
    clean(invoke("--debug", "connections", "list", env={
        "MAKINI_BASE_URL": url, "MAKINI_TOKEN": "sbx_at_not-a-valid-token-at-all"}))
    clean(invoke("--debug", "-o", "json", "connections", "list", env={
        **env, "MAKINI_CLIENT_SECRET": "x" + SECRET}))

    for path in files_written(isolated_env):
        if path.name in ALLOWED_FILES:
            assert oct(path.stat().st_mode & 0o777) == "0o600", path
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        assert SECRET not in text, path
        if path.name != "sandbox-tokens.json":  # the public demo client's token cache
            assert not TOKEN.search(text), path
    assert any(path.name == "config.toml" for path in files_written(isolated_env))
    assert os.environ["MAKINI_NO_KEYRING"] == "1"  # so the secret went to the file above
