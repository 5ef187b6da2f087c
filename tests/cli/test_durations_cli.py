"""A bad duration ends the command at once with exit 2: it never hangs a wait loop."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run

KEY = "10000715260448"


@pytest.mark.parametrize("argv", [
    ("sync", "run", KEY, "--interval", "nan"),
    ("sync", "run", KEY, "--interval", "inf"),
    ("sync", "run", KEY, "--timeout", "nan"),
    ("sync", "run", KEY, "--stall-after", "nan"),
    ("sync", "watch", "sync_x", "--timeout", "1e400"),
    ("sync", "schedule", "set", KEY, "--every", "nan"),
    ("sandbox", "outage", KEY, "--for", "1e400"),
])
def test_bad_durations_are_usage_errors(bundled: Sandbox, argv: tuple[str, ...]) -> None:
    result = run(*argv)
    assert result.code == 2, result
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
