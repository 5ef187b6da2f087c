"""Benchmark: a read on the default (bundled) sandbox versus the same read on a served one.

With nothing configured, `makini` runs against the bundled sandbox, which the first run
starts in the background and later runs reuse (`makini sandbox status`). This times a
repeated read, `makini connections list -o json`, as a user runs it (a new process each
time), against that default and against a `makini sandbox serve --port 0` server reached
with MAKINI_BASE_URL/CLIENT_ID/CLIENT_SECRET. Runs are interleaved (A B A B …) so that a
noisy machine slows both alike; medians and their ratio are printed, from one run:

    ratio = median(default) / median(served)          # the goal: <= 1.3

For reference it also times the old default, the sandbox started in-process for every
run (MAKINI_SANDBOX_MODE=embedded), in the same interleaving, and the first run on a
fresh data dir (which starts the background sandbox).

Then `makini sync run 10000715260448` on the default sandbox, stderr piped (one plain
line per state change): the time from its launch, and from the "nothing is configured"
note, to its first progress line (the goal: within 1 s). The sync is left to finish on
the server (Ctrl-C detaches a waiting run) unless --sync-to-end is given.

Everything binds 127.0.0.1 and lives in temporary directories; everything started is
stopped at the end.

Usage: python bench/embedded_vs_served.py [--runs 15] [--no-embedded] [--sync-to-end]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = {"MAKINI_CLIENT_ID": "sandbox-client", "MAKINI_CLIENT_SECRET": "sandbox-secret"}
SYNC_KEY = "10000715260448"
READ = ("connections", "list", "-o", "json")


def base_env(home: Path) -> dict[str, str]:
    """The caller's environment without makini settings or CI, with its own dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKINI_") and k != "CI"}
    env["MAKINI_CONFIG_DIR"] = str(home / "config")
    env["MAKINI_CACHE_DIR"] = str(home / "cache")
    env["MAKINI_SANDBOX_DIR"] = str(home / "sandbox")
    env["MAKINI_NO_KEYRING"] = "1"  # never touch the keyring of the machine
    return env


def makini(*args: str) -> list[str]:
    return [sys.executable, "-m", "makini_cli", *args]


def timed(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    proc = subprocess.run(makini(*args), capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"makini {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    if args == READ and len(json.loads(proc.stdout)) < 1:
        raise SystemExit("the read returned no connections")
    return elapsed


def serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        makini(
            "sandbox",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(home / "served-data"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=base_env(home),
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    ready = sel.select(timeout=60)
    sel.close()
    url = proc.stdout.readline().strip() if ready else ""
    if not url.startswith("http://127.0.0.1:"):
        stop_served(proc)
        raise SystemExit("the served sandbox did not start")
    return proc, url


def stop_served(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def stop_background(env: dict[str, str]) -> None:
    """`makini sandbox stop`, then make sure: the bench leaves nothing running."""
    state_file = Path(env["MAKINI_SANDBOX_DIR"]) / "server.json"
    pid = None
    if state_file.exists():
        pid = int(json.loads(state_file.read_text())["pid"])
    subprocess.run(makini("sandbox", "stop"), env=env, capture_output=True, timeout=60)
    if pid is not None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return


def first_progress(env: dict[str, str], to_end: bool) -> tuple[float, float | None, str]:
    """(seconds from launch to the first progress line, from the note to it, the line)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        makini("sync", "run", SYNC_KEY),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    note_at = None
    try:
        for line in proc.stderr:
            now = time.monotonic()
            if line.startswith("note: nothing is configured"):
                note_at = now
            # `KEY sync_…:` or, once the connection's name is known, `Name (KEY) sync_…:`
            elif line.startswith(SYNC_KEY) or f"({SYNC_KEY}) sync_" in line:
                since_note = None if note_at is None else now - note_at
                return now - started, since_note, line.strip()
        raise SystemExit(f"sync run printed no progress line (exit {proc.wait()})")
    finally:
        if to_end:
            proc.stderr.read()
            proc.wait(timeout=600)
        elif proc.poll() is None:
            # Ctrl-C detaches a waiting `sync run`: the sync itself goes on on the server.
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        proc.stderr.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed reads per variant")
    parser.add_argument("--no-embedded", action="store_true", help="skip the in-process reference")
    parser.add_argument(
        "--sync-to-end", action="store_true", help="let the timed sync run to its end"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="makini-bench-") as tmp:
        root = Path(tmp)
        default_env = base_env(root / "default")
        embedded_env = {**base_env(root / "embedded"), "MAKINI_SANDBOX_MODE": "embedded"}
        served_home = root / "served"
        proc, url = serve(served_home)
        served_env = {**base_env(served_home), "MAKINI_BASE_URL": url, **DEMO}
        try:
            cold = timed(default_env, *READ)  # starts the background sandbox
            variants = {"default": default_env, "served": served_env}
            if not args.no_embedded:
                variants["embedded"] = embedded_env
            times: dict[str, list[float]] = {name: [] for name in variants}
            for env in variants.values():
                timed(env, *READ)  # warm: caches, token, page cache
            for _ in range(args.runs):
                for name, env in variants.items():
                    times[name].append(timed(env, *READ))
            median = {name: statistics.median(values) for name, values in times.items()}
            spread = {name: (min(v), max(v)) for name, v in times.items()}
            print(
                f"`makini {' '.join(READ)}`, {args.runs} runs each, interleaved; "
                "median wall time of a run (min-max)"
            )
            labels = {
                "default": "default sandbox (background, shared)",
                "served": "served sandbox (sandbox serve)",
                "embedded": "in-process sandbox (MAKINI_SANDBOX_MODE=embedded)",
            }
            for name in variants:
                low, high = spread[name]
                print(f"  {labels[name]:<52} {median[name]:6.3f} s  ({low:.3f}-{high:.3f})")
            ratio = median["default"] / median["served"]
            print(f"  {'ratio default / served':<52} {ratio:6.2f}    (goal <= 1.30)")
            if "embedded" in median:
                print(
                    f"  {'ratio in-process / served':<52} "
                    f"{median['embedded'] / median['served']:6.2f}"
                )
            print(f"  {'first run on a fresh data dir (starts it)':<52} {cold:6.3f} s")

            from_launch, from_note, line = first_progress(default_env, args.sync_to_end)
            print(f"`makini sync run {SYNC_KEY}` on the default sandbox, stderr piped")
            print(
                f"  first progress line {from_launch:.3f} s after launch"
                + (f", {from_note:.3f} s after the note line" if from_note is not None else "")
                + "   (goal <= 1 s)"
            )
            print(f"  it read: {line}")
        finally:
            stop_background(default_env)
            stop_served(proc)


if __name__ == "__main__":
    main()
