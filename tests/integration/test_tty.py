"""Behaviour that only shows on a terminal: confirmation prompts and tables."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from tests.integration.cli import run
from tests.integration.conftest import Served


def run_in_pty(args: list[str], answer: str | None, env: dict[str, str]) -> tuple[int, str]:
    """Run makini with stdin, stdout and stderr on a pseudo-terminal; answer one prompt."""
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "makini_cli", *args], stdin=child,
                            stdout=child, stderr=child, env={**os.environ, **env}, close_fds=True)
    os.close(child)
    seen = b""
    answered = answer is None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(main, (answer or "") .encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(main)
    return code, seen.decode(errors="replace")


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
