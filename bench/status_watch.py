"""Benchmark: `makini connections status --watch` as an operator leaves it running.

Three measurements against a served sandbox, each next to a baseline taken in the same
run on the same machine:

1. Latency: a watch (`-o jsonl --interval 1s`) runs; the sandbox's control route takes a
   connection's system down (or brings it back). Measured from that request to the
   watch's `changed` line for the connection:

       ratio = latency / interval        # the goal: <= 1 (a change shows within one interval)

2. Idle CPU: the same watch over ~20 s with nothing happening, as CPU seconds of its
   process (/proc/PID/stat) per wall second, next to a `sleep` process measured the same
   way:  cpu % = 100 * cpu seconds / wall seconds     # the goal: < 2 % of one core

3. Rate: 500 connections, the sandbox's rate limit at R requests a minute, a watch
   (`--debug`, `--interval 1s`) for ~60 s while outages come and go; its requests and
   429 answers, from its own HTTP trace:

       share = requests a minute / R     # the goal: zero 429s (share < 1)

Usage: python bench/status_watch.py [--rate-limit 240] [--connections 500] [--rate-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _serve import admin_headers, cli_env, serve, stop
from sync_all import prepare

INTERVAL_S = 1.0
#: Seeded connections whose systems the latency runs take down and bring back.
KEYS = ("10000715260448", "10000482937115", "10000604159337")


class Watch:
    """`makini connections status --watch …` in a subprocess; its stdout lines with the
    monotonic time each arrived, and its stderr kept whole."""

    def __init__(self, url: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "makini_cli",
                *args,
                "connections",
                "status",
                "--watch",
                "-o",
                "jsonl",
                "--interval",
                f"{INTERVAL_S:g}s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(url),
        )
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self.stderr: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            with self.changed:
                self.lines.append((time.monotonic(), json.loads(text)))
                self.changed.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def wait_for(self, test: Any, since: int, timeout: float = 30.0) -> float:
        """The arrival time of the first line from index `since` on that passes `test`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for at, line in self.lines[since:]:
                    if test(line):
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"no such line within {timeout:g} s: {self.stderr[-5:]}")
                self.changed.wait(left)

    def stop(self) -> int:
        self.proc.send_signal(2)  # SIGINT, as Ctrl-C
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def control_headers(url: str, data: Path) -> dict[str, str]:
    from makini_cli.sandbox.control_token import HEADER, read_token

    headers = admin_headers(url)
    token = read_token(data)
    if token:
        headers[HEADER] = token
    return headers


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one core a process used over `seconds` of wall time."""
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - t0)


def latency_and_idle(idle_seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sandbox"
        proc, url = serve(data)
        try:
            headers = control_headers(url, data)
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                count = len(
                    client.get("/api/system/connections", params={"per_page": 500}).json()["data"]
                )
                watch = Watch(url)
                watch.wait_for(lambda _l: len(watch.lines) >= count, 0)
                waits: list[float] = []
                phases = random.Random(11)
                for n, key in enumerate(KEYS * 4):
                    # Down, then back up: each key alternates, three keys at a time.
                    down = (n // len(KEYS)) % 2 == 0
                    body: dict[str, Any] = {"seconds": 3600} if down else {"end": True}
                    since = len(watch.lines)
                    t0 = time.monotonic()
                    client.post(f"/sandbox/connections/{key}/outage", json=body).raise_for_status()
                    seen = watch.wait_for(
                        lambda line, key=key: (
                            line["type"] == "changed"
                            and line["object"]["key"] == key
                            and "health" in line["changed"]
                        ),
                        since,
                    )
                    waits.append(seen - t0)
                    # The next change lands anywhere in the watch's interval.
                    time.sleep(phases.uniform(0, INTERVAL_S))
                worst, median = max(waits), statistics.median(waits)
                print(
                    f"latency        {len(waits)} changes  median {median:5.2f} s  "
                    f"max {worst:5.2f} s  interval {INTERVAL_S:g} s  "
                    f"ratio max/interval {worst / INTERVAL_S:4.2f}  (goal <= 1)"
                )
                time.sleep(2)  # the last change's reads are over
                watched = idle_cpu(watch.proc.pid, idle_seconds)
                sleep = shutil.which("sleep") or "/bin/sleep"
                sleeper = subprocess.Popen([sleep, str(int(idle_seconds) + 5)])
                try:
                    baseline = idle_cpu(sleeper.pid, idle_seconds)
                finally:
                    sleeper.kill()
                    sleeper.wait()
                print(
                    f"idle CPU       watch {watched:5.2f} % of a core over {idle_seconds:g} s  "
                    f"`sleep` {baseline:5.2f} %  (goal < 2 %)"
                )
                code = watch.stop()
                print(f"               Ctrl-C ended the watch with exit {code} (expected 130)")
        finally:
            stop(proc)


def rate(connections: int, limit: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sandbox"
        proc, url = serve(data, "--rate-limit", "1000000", "--clock-speed", "100")
        try:
            prepare(url, connections)
        finally:
            stop(proc)
        proc, url = serve(data, "--rate-limit", str(limit), "--clock-speed", "1.0")
        try:
            headers = control_headers(url, data)
            watch = Watch(url, "--debug")
            watch.wait_for(lambda _l: len(watch.lines) >= connections, 0, timeout=120)
            started = time.monotonic()
            changes = 0
            # The control client has a token of its own, so its calls do not count
            # against the watch's budget (the sandbox limits per token).
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                n = 0
                while time.monotonic() - started < seconds:
                    key = KEYS[n % len(KEYS)]
                    body = {"seconds": 3600} if (n // len(KEYS)) % 2 == 0 else {"end": True}
                    client.post(f"/sandbox/connections/{key}/outage", json=body)
                    changes += 1
                    n += 1
                    time.sleep(2.0)
            elapsed = time.monotonic() - started
            time.sleep(1.5)
            watch.stop()
            trace = "".join(watch.stderr)
            answers = re.findall(r" -> (\d{3}) in ", trace)
            changed = sum(1 for _, line in watch.lines if line["type"] == "changed")
            per_minute = len(answers) / (elapsed + 1.5) * 60
            print(
                f"rate           {connections} connections  limit {limit}/min  "
                f"{elapsed:.0f} s  {len(answers)} requests ({per_minute:.0f}/min, "
                f"share {per_minute / limit:4.2f})  429s {answers.count('429')}  "
                f"{changes} outages/recoveries -> {changed} changed lines  (goal: 0 429s)"
            )
        finally:
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--rate-limit", type=int, default=240, help="requests a minute")
    parser.add_argument("--rate-seconds", type=float, default=60.0)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    latency_and_idle(args.idle_seconds)
    rate(args.connections, args.rate_limit, args.rate_seconds)


if __name__ == "__main__":
    main()
