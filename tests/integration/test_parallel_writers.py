"""Many processes writing one config file at once: needs real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.cli import run


def config_dir() -> Path:
    return Path(os.environ["MAKINI_CONFIG_DIR"])


def test_sixteen_parallel_profile_creates_all_land() -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "makini_cli", "profile", "create", f"ci{i}",
             "--base-url", f"https://h{i}.example"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for i in range(16)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    names = {p["name"] for p in run("profile", "list", "-o", "json").json()}
    assert {f"ci{i}" for i in range(16)} <= names

