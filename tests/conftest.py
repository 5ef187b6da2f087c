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
    # A run with nothing configured leaves a background sandbox behind; the teardown
    # stops it, and this bounds the life of one whose test never got to its teardown.
    monkeypatch.setenv("MAKINI_SANDBOX_IDLE", "2m")
    yield home
    stop_background_sandboxes(tmp_path)


def stop_background_sandboxes(root: Path) -> None:
    """Stop every background sandbox recorded under `root` (tests may move the data dir)."""
    from makini_cli.sandbox import background

    for state_file in root.rglob(background.STATE_FILE):
        if background.read_state(state_file.parent) is not None:
            background.stop(state_file.parent)
