"""Behaviour that only shows on a terminal: confirmation prompts and tables."""

from __future__ import annotations

from tests.integration import terminal
from tests.integration.cli import run
from tests.integration.conftest import Served


def run_in_pty(args: list[str], answer: str | None, env: dict[str, str]) -> tuple[int, str]:
    screen = terminal.run_in_pty(args, env, answer=answer)
    return screen.code, screen.raw


def test_delete_asks_on_a_terminal(sandbox: Served) -> None:
    env = sandbox.env
    key = run("connections", "list", "--limit", "1", env=env).jsonl()[0]["key"]
    code, screen = run_in_pty(["connections", "delete", key], "n", env)
    assert code == 6, screen
    assert "[y/N]" in screen
    assert run("connections", "get", key, env=env).code == 0
    code, screen = run_in_pty(["connections", "delete", key], "y", env)
    assert code == 0, screen
    assert run("connections", "get", key, env=env).code == 1


def test_no_input_never_prompts_even_on_a_terminal(sandbox: Served) -> None:
    env = sandbox.env
    key = run("connections", "list", "--limit", "1", env=env).jsonl()[0]["key"]
    code, screen = run_in_pty(["--no-input", "connections", "delete", key], None, env)
    assert code == 6, screen
    assert "--yes" in screen and "[y/N]" not in screen


def test_terminal_gets_a_table(shared_sandbox: Served) -> None:
    code, screen = run_in_pty(["connections", "list"], None, shared_sandbox.env)
    assert code == 0, screen
    assert "KEY" in screen and "HEALTH" in screen and "{" not in screen
