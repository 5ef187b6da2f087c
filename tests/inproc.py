"""The in-process tier: `main(argv)` with captured streams against a sandbox that runs in
this process on a clock the test controls.

A command test here costs a few milliseconds instead of a Python start-up and a sandbox
start per call. Subprocess tests (tests/integration) remain for what needs a real
process: a pty, signals, pipes, the fresh install.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from makini_cli.main import main
from makini_cli.terminal import Terminal
from tests.handles import Result

__all__ = ["Result", "invoke", "patched_env"]


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
