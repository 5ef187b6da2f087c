"""A fresh machine: nothing configured, the embedded sandbox answers."""

from __future__ import annotations

from tests.integration.cli import run


def test_connections_list_piped_uses_the_sandbox_and_says_so() -> None:
    result = run("connections", "list")
    assert result.code == 0, result
    rows = result.jsonl()
    assert len(rows) >= 8
    assert {"key", "name", "status", "health", "platform"} <= set(rows[0])
    assert "bundled sandbox" in result.stderr
    # The note goes to stderr only: stdout stays pure JSON Lines for jq.
    assert "note:" not in result.stdout and "bundled sandbox" not in result.stdout
    assert all(line.startswith("{") for line in result.stdout.splitlines())


def test_state_persists_across_runs_in_the_data_dir() -> None:
    first = run("connections", "list", "-o", "json")
    key = first.json()[0]["key"]
    got = run("connections", "get", key)
    assert got.code == 0, got
    assert got.json()["key"] == key
    assert run("connections", "metadata", "set", key, "customer=acme").code == 0
    meta = run("connections", "metadata", "get", key).json()
    assert meta["customer"] == "acme"


def test_ci_with_nothing_configured_refuses_the_sandbox() -> None:
    result = run("connections", "list", env={"CI": "true"})
    assert result.code == 3, result
    assert "CI is set" in result.stderr
    assert result.stdout == ""


def test_ci_can_still_choose_the_sandbox_on_purpose() -> None:
    result = run("--base-url", "sandbox", "connections", "list", "--limit", "2", env={"CI": "1"})
    assert result.code == 0, result
    assert len(result.jsonl()) == 2
    assert "nothing is configured" not in result.stderr


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    """`makini connections list | head -1`: the closed pipe ends the run quietly, exit 0."""
    import os
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "makini_cli", "connections", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    assert proc.stdout is not None
    proc.stdout.close()  # before makini writes a byte: every write meets a broken pipe
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "error" not in err.lower()
