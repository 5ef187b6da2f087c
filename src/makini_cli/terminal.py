"""The terminal a run talks to: its three streams, what they are attached to, and the one
prompter every question goes through.

Every `isatty` check and every prompt asks this object, never `sys` directly, so the
in-process test tier can run `main(argv, terminal=…)` with captured streams and say which
of them is "a terminal". Import-light: it is on every command's path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from makini_cli.errors import AbortedError


@dataclass
class Terminal:
    """Streams and facts about them. `Terminal.system()` follows `sys.*`; tests build one
    from StringIO objects."""

    #: streams of their own (tests); None follows sys.stdin/stdout/stderr
    stdin_stream: TextIO | None = None
    stdout_stream: TextIO | None = None
    stderr_stream: TextIO | None = None
    stdin_tty: bool | None = None
    stdout_tty: bool | None = None
    stderr_tty: bool | None = None
    #: columns of the terminal; None asks the operating system (or $COLUMNS)
    columns: int | None = None
    #: reads a secret without echo; tests replace it
    read_secret: Callable[[str], str] | None = field(default=None, repr=False)

    @classmethod
    def system(cls) -> Terminal:
        return cls()

    # Looked up on each use, not captured: a live progress display swaps sys.stderr for a
    # proxy that prints above it, and everything written meanwhile must go through it.
    @property
    def stdin(self) -> TextIO:
        return self.stdin_stream or sys.stdin

    @property
    def stdout(self) -> TextIO:
        return self.stdout_stream or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self.stderr_stream or sys.stderr

    def is_tty(self, stream: str) -> bool:
        """`stream` is "stdin", "stdout" or "stderr"."""
        fixed = getattr(self, f"{stream}_tty")
        if fixed is not None:
            return bool(fixed)
        handle: TextIO = getattr(self, stream)
        try:
            return handle.isatty()
        except (AttributeError, ValueError):  # a closed or exotic stream is no terminal
            return False

    def width(self) -> int:
        if self.columns:
            return self.columns
        try:
            return os.get_terminal_size(self.stderr.fileno()).columns
        except (AttributeError, ValueError, OSError):
            import shutil

            return shutil.get_terminal_size().columns

    # ------------------------------------------------------------------ questions

    def can_ask(self, no_input: bool) -> bool:
        return not no_input and self.is_tty("stdin")

    def confirm(self, question: str, *, no_input: bool, flag: str = "--yes") -> None:
        """Ask on a terminal; elsewhere (or under --no-input) fail with exit 6 naming the flag."""
        if not self.can_ask(no_input):
            raise AbortedError(
                f"{question.rstrip('?')}: confirmation needed but no terminal to ask on",
                code="CONFIRMATION_REQUIRED",
                hint=f"pass {flag} to confirm",
            )
        self.stderr.write(f"{question} [y/N] ")
        self.stderr.flush()
        answer = self.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise AbortedError("aborted", code="ABORTED", hint=f"pass {flag} to skip this question")

    def ask_line(self, prompt: str, *, no_input: bool, hint: str) -> str:
        """One visible line typed at a terminal."""
        if not self.can_ask(no_input):
            raise AbortedError(f"{prompt} needed", code="INPUT_REQUIRED", hint=hint)
        self.stderr.write(f"{prompt}: ")
        self.stderr.flush()
        value = self.stdin.readline().strip()
        if not value:
            raise AbortedError(f"no {prompt} given", code="INPUT_REQUIRED", hint=hint)
        return value

    def ask_secret(self, prompt: str, *, no_input: bool, hint: str, piped_ok: bool) -> str:
        """A secret: typed without echo on a terminal, or (when `piped_ok`) the first line
        of a piped stdin. Never argv."""
        if self.is_tty("stdin"):
            if no_input:
                raise AbortedError(
                    f"{prompt} needed but --no-input is set", code="INPUT_REQUIRED", hint=hint
                )
            if self.read_secret is not None:
                value = self.read_secret(f"{prompt}: ")
            else:
                import getpass

                value = getpass.getpass(f"{prompt}: ", stream=self.stderr)
        elif piped_ok:
            value = self.stdin.readline()
        else:
            raise AbortedError(
                f"{prompt} must be typed, but there is no terminal to ask on",
                code="INPUT_REQUIRED",
                hint=hint,
            )
        value = value.strip()
        if not value:
            raise AbortedError(f"no {prompt} given", code="INPUT_REQUIRED", hint=hint)
        return value


#: The terminal of the run in progress; `main(argv, terminal=…)` sets it for its duration.
current: Terminal = Terminal.system()
