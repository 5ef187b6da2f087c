"""`kill -9` in the middle of a write: the config always parses, and the temp files a
killed writer leaves (credentials.json's hold a secret) go at the next write or logout."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from tests.integration.cli import run

SECRET = "crash-Secret-7Hq2Lx9Vb4"


def config_dir() -> Path:
    return Path(os.environ["MAKINI_CONFIG_DIR"])


def temp_files() -> list[Path]:
    return sorted(p for p in config_dir().iterdir() if p.name.endswith(".tmp"))


def check_config_parses() -> dict[str, object]:
    path = config_dir() / "config.toml"
    if not path.exists():
        return {}
    doc = tomllib.loads(path.read_text("utf-8"))  # raises on a torn file
    for section in doc.get("profiles", {}).values():
        assert isinstance(section, dict) and section["base_url"].startswith("https://")
    return doc


def test_kill_9_at_random_moments_leaves_a_valid_config() -> None:
    rng = random.Random(20240607)  # seeded: the sequence of delays can be replayed
    first = run("profile", "create", "p0", "--base-url", "https://p0.example.com")
    assert first.code == 0, first
    started = time.monotonic()
    assert run("profile", "create", "p1", "--base-url", "https://p1.example.com").code == 0
    # The write is the last millisecond or so of a run: the kills are drawn between a
    # delay that came too early (nothing written) and one that came too late (written),
    # and so close in on the write itself as they go.
    early, late = 0.0, (time.monotonic() - started) * 1.5
    for n in range(2, 32):
        proc = subprocess.Popen(
            [sys.executable, "-m", "makini_cli", "profile", "create", f"p{n}",
             "--base-url", f"https://p{n}.example.com"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        delay = rng.uniform(early, late)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if f"p{n}" in check_config_parses().get("profiles", {}):  # type: ignore[operator]
            late = delay
        else:
            early = delay
        if late - early < 0.01:  # runs vary: keep some spread around the write
            early, late = max(0.0, early - 0.01), late + 0.01
    last = run("profile", "create", "last", "--base-url", "https://last.example.com")
    assert last.code == 0, last
    doc = check_config_parses()
    assert {"p0", "p1", "last"} <= set(doc["profiles"])  # type: ignore[call-overload]
    # Whatever temp files the kills left, the last write removed them (their pids are gone).
    assert temp_files() == []


#: A writer that stops for good between writing its temp file and renaming it, and says so.
STALLED_WRITER = """
import os, sys, threading
from pathlib import Path
from makini_cli.config.secrets import FileBackend

def stall(src, dst):
    Path(sys.argv[2]).write_text("stalled")
    threading.Event().wait()

os.replace = stall
FileBackend(Path(sys.argv[1])).set("crash:client_secret", sys.argv[3])
"""


def kill_mid_write() -> Path:
    """Kill -9 a writer of credentials.json after its temp file holds the secret, before
    the rename; the temp file it leaves."""
    marker = config_dir().parent / "stalled"
    marker.unlink(missing_ok=True)
    creds = config_dir() / "credentials.json"
    proc = subprocess.Popen([sys.executable, "-c", STALLED_WRITER, str(creds), str(marker),
                             SECRET])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the writer never reached the rename"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    leftovers = temp_files()
    assert len(leftovers) == 1 and SECRET in leftovers[0].read_text()
    return leftovers[0]


def test_the_secret_a_killed_writer_left_goes_at_the_next_logout() -> None:
    assert run("profile", "create", "crash", "--base-url", "https://c.example.com").code == 0
    leftover = kill_mid_write()
    logout = run("auth", "logout", "-p", "crash")
    assert logout.code == 0, logout
    assert not leftover.exists()
    assert temp_files() == []


def test_the_secret_a_killed_writer_left_goes_at_the_next_write() -> None:
    leftover = kill_mid_write()
    created = run("profile", "create", "after", "--base-url", "https://a.example.com")
    assert created.code == 0, created
    # A config write cleans the config's temp files; the secret's go with the next write
    # of the credentials file.
    from makini_cli.config.secrets import FileBackend

    creds = config_dir() / "credentials.json"
    FileBackend(creds).set("after:client_secret", "x")
    assert not leftover.exists()
    assert temp_files() == []
    assert SECRET not in creds.read_text()
    assert json.loads(creds.read_text()) == {"after:client_secret": "x"}
