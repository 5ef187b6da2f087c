"""What the benchmarks share: a sandbox served in a subprocess on a free port, its demo
admin, and the environment a measured `makini` run gets (no MAKINI_ setting of the
machine's own leaks in)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import httpx

DEMO = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}


def clean_env() -> dict[str, str]:
    """This process's environment without any MAKINI_ variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MAKINI_")}


def serve(data_dir: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """`makini sandbox serve --port 0 --data-dir DATA_DIR OPTIONS…`: the process and the
    URL it prints first, once it is listening."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "makini_cli",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout=60):
        proc.kill()
        raise SystemExit("sandbox did not start")
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def admin_headers(url: str) -> dict[str, str]:
    """An admin token of the sandbox's demo client, as a header."""
    resp = httpx.post(f"{url}/link/token", json={"grant_type": "client_credentials", **DEMO})
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def cli_env(url: str) -> dict[str, str]:
    """The environment of a `makini` run against the sandbox at `url`, as its demo client."""
    env = clean_env()
    env["MAKINI_BASE_URL"] = url
    env["MAKINI_CLIENT_ID"] = DEMO["client_id"]
    env["MAKINI_CLIENT_SECRET"] = DEMO["client_secret"]
    return env
