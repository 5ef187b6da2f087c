"""Start-up stays light, every --help works, and completions/ matches the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from makini_cli import __version__
from makini_cli.main import app

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("httpx", "pydantic", "rich.table", "rich.console", "makini_cli.sandbox.app",
         "fastapi", "uvicorn", "makini_cli.models", "makini_cli.api.client")


def imported_modules(*args: str, env: dict[str, str] | None = None,
                     as_cli: bool = False) -> set[str]:
    """The modules a run imports. `as_cli` runs it as `python -m makini_cli` does (so the
    fast paths at the top of makini_cli.main apply); otherwise it imports the package as
    any program would and calls run()."""
    return set(run_cli(*args, env=env, as_cli=as_cli)[1].split())


def run_cli(*args: str, env: dict[str, str] | None = None,
            as_cli: bool = False) -> tuple[str, str]:
    """(stdout, the sorted module names the run imported)."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['makini', *{list(args)!r}]\n"
        "try:\n"
        f"    runpy.run_module('makini_cli', run_name='__main__', alter_sys={as_cli!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    return proc.stdout, proc.stderr


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


TAB_KEYS = {"_MAKINI_COMPLETE": "complete_bash", "COMP_WORDS": "makini connections get ",
            "COMP_CWORD": "3"}


@pytest.mark.parametrize("as_cli", [False, True])
def test_tab_answers_from_the_cache_and_never_the_network(as_cli: bool) -> None:
    from makini_cli.completion import remember_connections, scope

    remember_connections(scope("sandbox", "sandbox"), [("acme-upkeep", "Acme"), ("beta", None)])
    for _ in range(2):  # the first Tab saves the command description, the second reads it
        out, modules = run_cli(env=TAB_KEYS, as_cli=as_cli)
        assert out.split() == ["acme-upkeep", "beta"]
        names = set(modules.split())
        assert sorted(m for m in names if m.startswith(HEAVY)) == []
        assert "socket" not in names and "ssl" not in names


def test_version_and_a_saved_tab_skip_typer_entirely() -> None:
    out, modules = run_cli("--version", as_cli=True)
    assert out == f"makini {__version__}\n"
    assert not any(m == "typer" or m.startswith(("typer.", "makini_cli.commands"))
                   for m in modules.split())
    out, modules = run_cli("version", as_cli=True)
    assert out == f"makini {__version__}\n" and "typer" not in modules.split()

    env = {"_MAKINI_COMPLETE": "complete_bash", "COMP_WORDS": "makini conn", "COMP_CWORD": "1"}
    out, modules = run_cli(env=env, as_cli=True)  # builds and saves the description
    assert out == "connections\n" and "typer" in modules.split()
    out, modules = run_cli(env=env, as_cli=True)
    assert out == "connections\n" and "typer" not in modules.split()


def test_the_root_offers_no_install_completion() -> None:
    from makini_cli.main import main

    proc = subprocess.run([sys.executable, "-m", "makini_cli", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert "--install-completion" not in proc.stdout
    assert "--show-completion" not in proc.stdout
    assert main(["--install-completion"]) == 2
    assert main(["--show-completion"]) == 2


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_protocol_prints_the_shipped_script(shell: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "makini_cli"], capture_output=True, text=True,
                          env={**os.environ, "_MAKINI_COMPLETE": f"source_{shell}"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (ROOT / "completions" / f"makini.{shell}").read_text()


def test_completion_help_gives_one_install_path_per_shell() -> None:
    proc = subprocess.run([sys.executable, "-m", "makini_cli", "completion", "--help"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})
    assert "bash-completion/completions/makini" in proc.stdout
    assert "~/.zfunc/_makini" in proc.stdout
    assert "fish/completions/makini.fish" in proc.stdout


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


def test_ctrl_c_while_starting_up_prints_no_traceback() -> None:
    """A Ctrl-C before main() runs (while the CLI is being imported) ends quietly, 130."""
    code = (
        "import sys\n"
        "class Interrupting:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupting())\n"
        "sys.argv = ['makini', 'connections', 'list']\n"
        "from makini_cli.launch import run\n"
        "run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip() == "interrupted"
