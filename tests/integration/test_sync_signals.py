"""`makini sync` while something else happens to the process: a cancel from another
process, Ctrl-C, SIGTERM. These need a real process and a served sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.integration.cli import run
from tests.integration.conftest import Served


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
    sandbox.quiet_schedules()
    key = sandbox.keys_by_health()["online"][0]
    proc, sync_id = run_in_background(sandbox, "sync", "run", key, "--full", "--interval", "0.3s")
    cancelled = run("sync", "cancel", sync_id, env=sandbox.env)
    assert cancelled.code == 0, cancelled
    assert cancelled.json()["status"] == "cancelled"
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 12, err
    assert "cancelled" in err


def test_ctrl_c_detaches_and_leaves_the_sync_running(sandbox: Served) -> None:
    sandbox.quiet_schedules()
    key = sandbox.keys_by_health()["online"][1]
    proc, sync_id = run_in_background(sandbox, "sync", "run", key, "--full")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"makini sync watch {sync_id}" in err and f"makini sync cancel {sync_id}" in err
    assert "Traceback" not in err
    assert run("sync", "get", sync_id, env=sandbox.env).json()["status"] in ("queued", "running")



def test_sigterm_detaches_like_ctrl_c_with_exit_143(sandbox: Served) -> None:
    sandbox.quiet_schedules()
    key = sandbox.keys_by_health()["online"][0]
    proc, sync_id = run_in_background(sandbox, "sync", "run", key, "--full")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert f"makini sync watch {sync_id}" in err and f"makini sync cancel {sync_id}" in err
    assert "Traceback" not in err and err.rstrip().endswith("terminated")
    assert run("sync", "get", sync_id, env=sandbox.env).json()["status"] in ("queued", "running")


def test_sigterm_on_a_terminal_gives_the_cursor_back(sandbox: Served) -> None:
    """The live display hides the cursor; SIGTERM must not leave it hidden."""
    import pty
    import select
    import time

    sandbox.quiet_schedules()
    key = sandbox.keys_by_health()["online"][1]
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "makini_cli", "sync", "run", key, "--full"],
                            stdin=child, stdout=child, stderr=child,
                            env={**os.environ, **sandbox.env}, close_fds=True)
    os.close(child)
    seen = b""
    deadline = time.monotonic() + 60
    signalled = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if not signalled and b"\x1b[?25l" in seen:  # the display is up
                proc.send_signal(signal.SIGTERM)
                signalled = True
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(main)
    assert signalled and code == 143, seen.decode(errors="replace")
    assert seen.rfind(b"\x1b[?25h") > seen.rfind(b"\x1b[?25l")
    assert b"Traceback" not in seen
