"""Run makini on a real pseudo-terminal, as a person at a terminal runs it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass
class Screen:
    code: int
    #: what the terminal received, raw (escape codes included)
    raw: str
    #: stderr, when it was kept apart from the terminal
    stderr: str = ""

    @property
    def lines(self) -> list[str]:
        """The visible lines: escape codes and carriage returns gone, blank lines dropped."""
        text = ANSI.sub("", self.raw).replace("\r", "")
        return [line for line in text.split("\n") if line.strip()]


def run_in_pty(
    args: list[str],
    env: dict[str, str],
    *,
    columns: int | None = None,
    answer: str | None = None,
    stderr_apart: bool = False,
) -> Screen:
    """Run makini with stdin and stdout (and stderr, unless `stderr_apart`) on a terminal,
    `columns` wide if given (then without COLUMNS, so the width comes from the terminal);
    type `answer` at the first `[y/N]` prompt."""
    main, child = pty.openpty()
    full_env = dict(os.environ)
    if columns is not None:
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        full_env.pop("COLUMNS", None)
        full_env.pop("LINES", None)
    full_env.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "makini_cli", *args],
        stdin=child,
        stdout=child,
        stderr=subprocess.PIPE if stderr_apart else child,
        env=full_env,
        close_fds=True,
    )
    os.close(child)
    seen = b""
    answered = answer is None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(main, (answer or "").encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    _, err = proc.communicate(timeout=30)
    os.close(main)
    stderr = err.decode(errors="replace") if err else ""
    assert "Traceback" not in stderr, stderr
    return Screen(proc.returncode, seen.decode(errors="replace"), stderr)
