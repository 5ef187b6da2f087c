"""Shared isolation: every test gets its own config, cache and sandbox directories, and
never sees the developer's MAKINI_* variables, CI flags or keyring."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRUBBED_PREFIXES = ("MAKINI_",)
SCRUBBED = ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "NO_COLOR", "FORCE_COLOR")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(SCRUBBED_PREFIXES) or name in SCRUBBED:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MAKINI_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("MAKINI_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("MAKINI_SANDBOX_DIR", str(home / "sandbox"))
    # The developer's real keyring is never touched; keyring behaviour has its own tests.
    monkeypatch.setenv("MAKINI_NO_KEYRING", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    yield home
