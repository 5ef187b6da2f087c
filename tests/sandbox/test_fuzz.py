"""Fuzz the sandbox's own OpenAPI document with schemathesis: no input may make it fail.

Runs the schemathesis CLI (a fixed seed, so a failure reproduces) against a served
sandbox, with and without extensions. `/sandbox/reset` is left out only because resetting
mid-run would hide state bugs behind a fresh seed, not because it fails.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import token_pair


@pytest.mark.parametrize("extensions", [True, False])
def test_no_generated_request_gets_a_server_error(
    make_sandbox: Callable[..., httpx.Client], extensions: bool, tmp_path: Path
) -> None:
    client: Any = make_sandbox(
        "fuzz", embedded=False, rate_limit_per_minute=1_000_000, extensions=extensions
    )
    token = token_pair(client)["access_token"]
    proc = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", f"{client.base_url}/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"Authorization: Bearer {token}",
            "--max-examples", "25",
            "--seed", "20261129",
            "--exclude-path-regex", "/sandbox/reset",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # schemathesis keeps a cache in the working directory: not in the repository.
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
