"""`connections status --watch` in a real terminal: tmux, a shell, and the served sandbox.

The view runs in a tmux pane of a fixed size, started from a plain `sh` the way a person
types it. The test reads the screen with `capture-pane` (polling, with a generous overall
limit: nothing here is timed) and checks that every connection shows, that an outage
turns its row offline in place (the same screen, nothing appended to the scrollback),
that `q` quits with exit 0, and that the shell gets its terminal back in its own modes.

tmux is installed with `apt-get install -y tmux` when it is missing, apt-get is there and
we are root (CI); elsewhere the test skips, saying why.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Served

# Installing tmux may take a while on a fresh CI machine.
pytestmark = pytest.mark.timeout(900)

WIDTH, HEIGHT = 150, 40
PROMPT = "READY$ "
#: The most any one wait for the screen may take; a wait ends as soon as the screen is right.
PATIENCE = 90.0
COMMAND = [
    sys.executable,
    "-m",
    "makini_cli",
    "connections",
    "status",
    "--watch",
    "--interval",
    "1s",
]
EXIT = re.compile(r"^EXIT=\d+\s*$")

_install_lock = threading.Lock()
_install_outcome: list[str] = []  # why tmux could not be installed ("" when it was)


def tmux_binary() -> str:
    with _install_lock:
        found = shutil.which("tmux")
        if found is None and not _install_outcome:
            _install_outcome.append(_install_tmux())
            found = shutil.which("tmux")
        if found is None:
            why = (_install_outcome or [""])[0] or "apt-get reported success but it is not on PATH"
            pytest.skip(f"tmux is not installed and cannot be installed here: {why}")
        return found


def _install_tmux() -> str:
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get is not available"
    if os.name != "posix" or os.geteuid() != 0:
        return "installing it needs root (apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "tmux"]
    proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:  # an image without package lists: fetch them once
        subprocess.run([apt, "update"], capture_output=True, env=env, timeout=600)
        proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
    return "" if proc.returncode == 0 else f"apt-get install failed: {proc.stderr[-300:]}"


class Pane:
    """One tmux server of our own (its own socket), one session, one pane running `sh`."""

    def __init__(self, tmux: str, env: dict[str, str]) -> None:
        self.tmux = tmux
        self.socket = f"makini-test-{uuid.uuid4().hex[:12]}"
        self.env = env

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(
            [self.tmux, "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        assert proc.returncode == 0, f"tmux {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def start(self) -> None:
        self("new-session", "-d", "-s", "view", "-x", str(WIDTH), "-y", str(HEIGHT), "sh")
        # The pane keeps its size with no client attached.
        self("set-option", "-t", "view", "window-size", "manual")
        self("resize-window", "-t", "view", "-x", str(WIDTH), "-y", str(HEIGHT))

    def type(self, line: str) -> None:
        self("send-keys", "-t", "view", "-l", line)
        self("send-keys", "-t", "view", "Enter")

    def key(self, key: str) -> None:
        self("send-keys", "-t", "view", "-l", key)

    def screen(self) -> list[str]:
        """The visible screen, line by line."""
        return self("capture-pane", "-t", "view", "-p").split("\n")

    def everything(self) -> list[str]:
        """The scrollback and the screen: what the terminal ever showed, as it stands."""
        return self("capture-pane", "-t", "view", "-p", "-S", "-", "-E", "-").split("\n")

    def wait_for(self, what: str, ready: Callable[[list[str]], bool]) -> list[str]:
        deadline = time.monotonic() + PATIENCE
        while True:
            lines = self.screen()
            if ready(lines):
                return lines
            if time.monotonic() > deadline:
                shown = "\n".join(self.everything())
                raise AssertionError(f"the screen never showed {what}:\n{shown}")
            time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(
            [self.tmux, "-L", self.socket, "kill-server"],
            capture_output=True,
            env=self.env,
            timeout=30,
        )


@pytest.fixture
def pane(isolated_env: Path) -> Iterator[Pane]:
    tmux = tmux_binary()
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    # The width and height come from the terminal, as for a person: no COLUMNS or LINES.
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update({"TERM": "xterm-256color", "ENV": ""})
    shown = Pane(tmux, env)
    shown.start()
    yield shown
    shown.kill()


def rows_of(lines: list[str], key: str) -> list[str]:
    return [line for line in lines if key in line.split()]


def table_lines(lines: list[str], keys: list[str]) -> list[str]:
    """The lines of the view: its header, its column titles and one row per key."""
    return [
        line
        for line in lines
        if any(k in line.split() for k in keys)
        or line.split()[:1] == ["KEY"]
        or re.search(r"\bupdated \d+s ago\b", line)
    ]


def places(lines: list[str], keys: list[str]) -> dict[str, int]:
    """The screen line each connection's row is on, and the column titles' line."""
    found = {key: n for n, line in enumerate(lines) for key in keys if key in line.split()}
    found["KEY"] = next(n for n, line in enumerate(lines) if line.split()[:1] == ["KEY"])
    return found


def test_watch_redraws_in_place_and_q_quits(sandbox: Served, pane: Pane, tmp_path: Path) -> None:
    keys = [row["key"] for row in sandbox.connections()]
    assert 2 <= len(keys) <= HEIGHT - 10, "the view must fit the pane whole"
    victim = sandbox.keys_by_health()["online"][0]

    # A script, so the typed line stays short; `exec` keeps the exit code makini's own.
    script = tmp_path / "watch.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sandbox.env.items())
    script.write_text(f"{exports}exec {shlex.join(COMMAND)}\n")
    # Typed, not inherited: dash gives root its own prompt whatever PS1 says.
    pane.type(f"PS1={shlex.quote(PROMPT)}")
    pane.wait_for("the shell's prompt", lambda lines: any(line == PROMPT.strip() for line in lines))
    pane.type(f"sh {shlex.quote(str(script))}; echo EXIT=$?")

    def every_row(lines: list[str]) -> bool:
        return all(len(rows_of(lines, key)) == 1 for key in keys)

    before = pane.wait_for("every connection", every_row)
    assert "offline" not in " ".join(rows_of(before, victim)[0].split()[1:]), before
    assert all(len(line) <= WIDTH for line in before)
    drawn = table_lines(before, keys)

    sandbox.control("POST", f"connections/{victim}/outage", {"seconds": 3600})

    def victim_offline(lines: list[str]) -> bool:
        rows = rows_of(lines, victim)
        return len(rows) == 1 and "offline" in rows[0].split()

    after = pane.wait_for(f"{victim} offline", victim_offline)
    # In place: every row on the same line of the same screen, and nothing appended.
    assert len(table_lines(after, keys)) == len(drawn), "\n".join(after)
    assert places(after, keys) == places(before, keys), "\n".join(after)
    history = pane.everything()
    for key in keys:
        assert len(rows_of(history, key)) == 1, "\n".join(history)
    assert sum(line.split()[:1] == ["KEY"] for line in history) == 1, "\n".join(history)

    pane.key("q")
    done = pane.wait_for("the exit code", lambda lines: any(EXIT.match(line) for line in lines))
    assert any(line.strip() == "EXIT=0" for line in done), "\n".join(pane.everything())
    # The last frame stays on the screen, above the prompt.
    assert victim_offline(done) and every_row(done), "\n".join(done)

    # The shell has its terminal back as it was: line editing and echo on.
    pane.type("stty -a; echo STTY=done")
    modes = pane.wait_for(
        "stty's answer", lambda lines: any(line.strip() == "STTY=done" for line in lines)
    )
    typed = max(n for n, line in enumerate(modes) if "stty -a; echo STTY=done" in line)
    end = next(n for n in range(typed + 1, len(modes)) if modes[n].strip() == "STTY=done")
    answer = modes[typed + 1 : end]
    flags = " ".join(answer).split()
    assert "icanon" in flags and "-icanon" not in flags, "\n".join(modes)
    assert "echo" in flags and "-echo" not in flags, "\n".join(modes)
