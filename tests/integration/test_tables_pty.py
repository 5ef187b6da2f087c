"""Tables in a real terminal of a given width: nothing wraps, no key is split, times are ages.

The child gets a pseudo-terminal whose window size is set before it starts, and no
COLUMNS, so the width comes from the terminal the way it does for a user.
"""

from __future__ import annotations

import re

import pytest

from tests.integration.cli import run
from tests.integration.conftest import Served
from tests.integration.terminal import run_in_pty

ALL_HEADERS = ["KEY", "NAME", "PLATFORM", "STATUS", "HEALTH", "LAST SYNC"]


def run_at_width(args: list[str], columns: int, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run makini on a terminal `columns` wide; its visible lines (stderr kept apart:
    notices are not table lines, and they are not this test's subject)."""
    screen = run_in_pty(args, env, columns=columns, stderr_apart=True)
    return screen.code, screen.lines


def headers(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


@pytest.fixture(scope="module")
def keys(shared_sandbox: Served) -> list[str]:
    listed = run("connections", "list", env=shared_sandbox.env)
    assert listed.code == 0, listed
    return [row["key"] for row in listed.jsonl()]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_list_fits_the_terminal(shared_sandbox: Served, keys: list[str], width: int) -> None:
    code, lines = run_at_width(["connections", "list"], width, shared_sandbox.env)
    assert code == 0, lines
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert len(lines) == 1 + len(keys), "\n".join(lines)  # one line per row: nothing wrapped
    shown = headers(lines[0])
    assert shown[0] == "KEY" and "NAME" in shown and "LAST SYNC" in shown
    for key in keys:
        assert any(key in line.split() for line in lines[1:]), key
    assert any(" ago" in line for line in lines[1:])
    assert not any(re.search(r"\d{4}-\d\d-\d\dT", line) for line in lines)
    if width == 120:
        assert shown == ALL_HEADERS
    else:
        assert len(shown) < len(ALL_HEADERS)


def test_wide_shows_every_column(shared_sandbox: Served, keys: list[str]) -> None:
    code, lines = run_at_width(["connections", "list", "-o", "wide"], 60, shared_sandbox.env)
    assert code == 0, lines
    assert headers(lines[0]) == ALL_HEADERS
    assert len(lines) == 1 + len(keys)  # wider than the terminal, but no value wrapped
    assert not any("…" in line for line in lines)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_detail_view_fits_the_terminal(shared_sandbox: Served, keys: list[str], width: int) -> None:
    key = keys[0]
    code, lines = run_at_width(["connections", "get", key], width, shared_sandbox.env)
    assert code == 0, lines
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert any(line.split()[:2] == ["key", key] for line in lines)
    assert any(line.startswith("last sync at") and " ago (" in line for line in lines)
    assert not any("{" in line for line in lines)  # nested objects are rows, not JSON
