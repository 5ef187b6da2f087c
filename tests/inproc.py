"""The in-process tier: `main(argv)` with captured streams against a sandbox that runs in
this process on a clock the test controls.

A command test here costs a few milliseconds instead of a Python start-up and a sandbox
start per call. Subprocess tests (tests/integration) remain for what needs a real
process: a pty, signals, pipes, the fresh install.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from makini_cli.main import main
from makini_cli.terminal import Terminal


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    argv: list[str]

    def json(self) -> Any:
        return json.loads(self.stdout)

    def jsonl(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def error(self) -> dict[str, Any]:
        """The one-object JSON error on stderr (json output modes)."""
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("{")]
        assert lines, f"no JSON error on stderr: {self.stderr!r}"
        err: dict[str, Any] = json.loads(lines[-1])["error"]
        return err

    def __str__(self) -> str:
        return (
            f"makini {' '.join(self.argv)} -> {self.code}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


@contextmanager
def patched_env(env: Mapping[str, str | None] | None) -> Iterator[None]:
    """Set (or, with None, remove) variables for one call and put them back after."""
    saved = {name: os.environ.get(name) for name in (env or {})}
    for name, value in (env or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def invoke(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    input: str = "",
    tty: bool = False,
    columns: int | None = None,
) -> Result:
    """Run one command line in this process. `tty` makes all three streams count as a
    terminal (tables, prompts, live progress) while still capturing them."""
    out, err = io.StringIO(), io.StringIO()
    terminal = Terminal(
        stdin_stream=io.StringIO(input),
        stdout_stream=out,
        stderr_stream=err,
        stdin_tty=tty,
        stdout_tty=tty,
        stderr_tty=tty,
        columns=columns,
        read_secret=lambda _prompt: input.splitlines()[0] if input else "",
    )
    with patched_env(env):
        code = main(list(args), terminal=terminal)
    result = Result(code, out.getvalue(), err.getvalue(), list(args))
    assert "Traceback" not in result.stderr, result.stderr
    return result
