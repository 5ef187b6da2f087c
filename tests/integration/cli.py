"""Drive `makini` the way a user does: a separate process, argv, stdin, env, exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


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
