"""Start-up stays light, every --help works, and completions/ matches the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from makini_cli.main import app

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("httpx", "pydantic", "rich.table", "rich.console", "makini_cli.sandbox.app",
         "fastapi", "uvicorn", "makini_cli.models", "makini_cli.api.client")


def imported_modules(*args: str, env: dict[str, str] | None = None) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['makini', *{list(args)!r}]\n"
        "try:\n"
        "    runpy.run_module('makini_cli', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    return set(proc.stderr.split())


@pytest.mark.parametrize("args", [
    ("--help",), ("--version",), ("profile", "list"), ("config", "list", "--show-origin"),
    ("config", "path"), ("help", "exit-codes"), ("connections", "--help"),
    ("profile", "create", "x", "--base-url", "https://x.example"),
])
def test_light_commands_import_nothing_heavy(args: tuple[str, ...]) -> None:
    modules = imported_modules(*args)
    assert "makini_cli.main" in modules
    heavy = sorted(m for m in modules if m.startswith(HEAVY))
    assert heavy == []


def test_completion_imports_nothing_heavy() -> None:
    env = {"_MAKINI_COMPLETE": "complete_bash", "COMP_WORDS": "makini conn", "COMP_CWORD": "1"}
    modules = imported_modules(env=env)
    assert sorted(m for m in modules if m.startswith(HEAVY)) == []


def _all_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        paths += _all_paths(sub, (*prefix, name))
    return paths


@pytest.mark.parametrize("path", _all_paths(typer.main.get_command(app)))
def test_every_help_exits_0(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    from makini_cli.main import main

    assert main([*path, "--help"]) == 0
    assert "Usage: makini" in capsys.readouterr().out


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions_match_what_the_app_generates(shell: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "makini_cli", "completion", shell],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shipped = (ROOT / "completions" / f"makini.{shell}").read_text()
    assert proc.stdout == shipped
    assert "_MAKINI_COMPLETE" in shipped


def test_completion_rejects_unknown_shells() -> None:
    proc = subprocess.run([sys.executable, "-m", "makini_cli", "completion", "tcsh"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "bash, zsh, fish" in proc.stderr
