"""Benchmark: how long `makini` takes to start, against a bare interpreter.

Each case runs as a user runs it, through the `makini` entry script beside this Python,
with its own temporary MAKINI_CONFIG_DIR and MAKINI_CACHE_DIR. The floor is the same
interpreter doing nothing (`python -c pass`, no extra flags, like the entry script's
shebang). All cases run interleaved, round after round, so a slow moment of the machine
hits them alike; each reports its median and its ratio to the floor's median.

Goals: `makini --version` <= 4x the floor; `--help`, `sync run --help`, `profile list`
and a Tab completion <= 6x.

Bytecode: with PYTHONDONTWRITEBYTECODE set every run would compile makini from source,
which an installed makini never does. So the runs get PYTHONPYCACHEPREFIX=<temp dir>
(bytecode kept there, never in the source tree) and a warm-up round first.

Usage: .venv/bin/python bench/startup.py [--runs 21] [--strict]
       (--strict: exit 1 when a goal is missed)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Case:
    name: str
    argv: list[str]
    goal: float | None  # the most this may take, as a multiple of the floor
    env: dict[str, str] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    #: a cache dir emptied before every run: the cost before a help page is saved
    cold_cache: Path | None = None


def entry_script() -> Path:
    script = Path(sys.executable).parent / ("makini.exe" if os.name == "nt" else "makini")
    if not script.exists():
        sys.exit(f"no makini entry script beside {sys.executable}: run this with the venv's python")
    return script


def base_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MAKINI_") and k not in ("CI", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(
        MAKINI_CONFIG_DIR=str(home / "config"),
        MAKINI_CACHE_DIR=str(home / "cache"),
        MAKINI_NO_KEYRING="1",
        PYTHONPYCACHEPREFIX=str(home / "bytecode"),
        NO_COLOR="1",
    )
    return env


def setup(makini: Path, env: dict[str, str]) -> None:
    """A config with two profiles, and connection keys in the completion cache."""
    for name in ("prod", "staging"):
        subprocess.run(
            [str(makini), "profile", "create", name, "--base-url", f"https://{name}.example.com"],
            env=env,
            check=True,
            capture_output=True,
        )
    seed = (
        "from makini_cli import completion as c\n"
        "c.remember_connections(c.scope('sandbox', 'sandbox'),"
        " [(f'site-{i:03d}', f'Site {i}') for i in range(50)], complete=True)\n"
    )
    subprocess.run([sys.executable, "-c", seed], env=env, check=True)


def cases(python: str, makini: str, home: Path) -> tuple[Case, list[Case]]:
    floor = Case("python -c pass (floor)", [python, "-c", "pass"], None)
    tab = {
        "_MAKINI_COMPLETE": "complete_bash",
        "COMP_WORDS": "makini connections get ",
        "COMP_CWORD": "3",
    }
    return floor, [
        Case("makini --version", [makini, "--version"], 4.0),
        Case("makini --help", [makini, "--help"], 6.0),
        Case("makini sync run --help", [makini, "sync", "run", "--help"], 6.0),
        Case("makini profile list", [makini, "profile", "list"], 6.0),
        Case("Tab: makini connections get ", [makini], 6.0, tab),
        Case(
            "sync run --help, no saved page",
            [makini, "sync", "run", "--help"],
            None,
            {"MAKINI_CACHE_DIR": str(home / "cold")},
            cold_cache=home / "cold",
        ),
        # The least any command built on Typer can cost: importing it and nothing else.
        Case("python -c 'import typer' (reference)", [python, "-c", "import typer"], None),
    ]


def run_once(case: Case, env: dict[str, str]) -> float:
    if case.cold_cache is not None:
        shutil.rmtree(case.cold_cache, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run(
        case.argv,
        env={**env, **case.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{case.name} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each case (default 21)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    opts = parser.parse_args()

    makini = entry_script()
    with tempfile.TemporaryDirectory(prefix="makini-bench-") as tmp:
        home = Path(tmp)
        env = base_env(home)
        setup(makini, env)
        floor, measured = cases(sys.executable, str(makini), home)
        everyone = [floor, *measured]
        for case in everyone:  # warm-up: bytecode, the saved command description
            run_once(case, env)
        tab = next(case for case in measured if case.name.startswith("Tab"))
        tab_output = subprocess.run(
            tab.argv, env={**env, **tab.env}, capture_output=True, text=True
        ).stdout.split()
        for round_ in range(opts.runs):
            shift = round_ % len(everyone)  # rotate the order: no case always runs first
            for case in everyone[shift:] + everyone[:shift]:
                case.times.append(run_once(case, env))

    base = statistics.median(floor.times)
    print(f"{opts.runs} interleaved runs each; median wall time, ratio to the floor")
    print(f"  {floor.name:<34} {base * 1000:7.1f} ms   1.00x")
    missed = 0
    for case in measured:
        median = statistics.median(case.times)
        ratio = median / base
        if case.goal is None:
            print(f"  {case.name:<34} {median * 1000:7.1f} ms  {ratio:5.2f}x   (no goal)")
            continue
        ok = ratio <= case.goal
        missed += not ok
        verdict = "ok" if ok else "MISSED"
        print(
            f"  {case.name:<34} {median * 1000:7.1f} ms  {ratio:5.2f}x"
            f"   goal <= {case.goal:.0f}x  {verdict}"
        )
    print(f"  (Tab offered {len(tab_output)} connection keys, e.g. {' '.join(tab_output[:3])})")
    return 1 if (missed and opts.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
