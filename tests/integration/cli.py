"""Drive `makini` the way a user does: a separate process, argv, stdin, env, exit code."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.handles import Result

__all__ = ["Result", "run"]


def run(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
) -> Result:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "makini_cli", *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr, list(args))
