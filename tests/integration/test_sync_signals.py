"""`makini sync` while something else happens to the process: a cancel from another
process, Ctrl-C. These need a real process and a served sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from tests.integration.cli import run
from tests.integration.conftest import Served


def quiet_schedules(served: Served) -> None:
    """Seeded connections sync hourly; on a fast clock that would race the tests."""
    headers = {"Authorization": f"Bearer {served.admin_token()}"}
    rows = run("connections", "list", env=served.env).jsonl()
    for row in rows:
        if row["status"] == "active":
            httpx.put(f"{served.url}/api/system/connections/{row['key']}/schedule",
                      json={"enabled": False, "interval_minutes": 60}, headers=headers)


def keys_by_health(served: Served) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in run("connections", "list", "--status", "active", env=served.env).jsonl():
        found.setdefault(row["health"], []).append(row["key"])
    return found


def run_in_background(served: Served, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start makini and wait for its first progress line; returns it and the sync id."""
    env = {**os.environ, **served.env}
    proc = subprocess.Popen([sys.executable, "-m", "makini_cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while "sync_" not in line:
        line = proc.stderr.readline()
        assert line, "no progress line"
    return proc, next(word.rstrip(":") for word in line.split() if word.startswith("sync_"))


def test_cancel_while_waiting_is_exit_12(sandbox: Served) -> None:
    quiet_schedules(sandbox)
    key = keys_by_health(sandbox)["online"][0]
    proc, sync_id = run_in_background(sandbox, "sync", "run", key, "--full", "--interval", "0.3s")
    cancelled = run("sync", "cancel", sync_id, env=sandbox.env)
    assert cancelled.code == 0, cancelled
    assert cancelled.json()["status"] == "cancelled"
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 12, err
    assert "cancelled" in err


def test_ctrl_c_detaches_and_leaves_the_sync_running(sandbox: Served) -> None:
    quiet_schedules(sandbox)
    key = keys_by_health(sandbox)["online"][1]
    proc, sync_id = run_in_background(sandbox, "sync", "run", key, "--full")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"makini sync watch {sync_id}" in err and f"makini sync cancel {sync_id}" in err
    assert "Traceback" not in err
    assert run("sync", "get", sync_id, env=sandbox.env).json()["status"] in ("queued", "running")

