"""Ctrl-C during a retry wait: needs a real process to signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.integration.conftest import Served


def test_ctrl_c_during_a_wait_exits_130_without_traceback(sandbox: Served) -> None:
    sandbox.control("POST", "faults", {"path_prefix": "/api/system/connections", "status": 503,
                                       "count": 5, "retry_after": 30})
    env = dict(os.environ, **sandbox.env)
    proc = subprocess.Popen([sys.executable, "-m", "makini_cli", "connections", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    deadline = time.monotonic() + 30
    while "retrying in" not in line and time.monotonic() < deadline:
        line = proc.stderr.readline()
    assert "retrying in 30 s" in line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err

