"""Benchmark: `makini sync run --all --wait` over 200 sandbox connections.

The sandbox's rate limit (R requests a minute per token) is what bounds a fan-out of
syncs; this measures how close `sync run --all` gets to that bound, next to the naive
way (a loop running `makini sync run KEY` once per connection, one after the other,
timed over a sample and scaled to all connections). Ratios, from one run on one machine:

    forced     = max(0, requests - R) / (R / 60)   # the token bucket starts full
    ratio      = elapsed / forced                  # how close to the rate limit's bound
    floor      = the same for the fewest requests a polling client can need (start +
                 one poll per sync, the list, the token)
    ratio      = elapsed / floor                   # the goal: <= 1.15, with zero 429s

Against a server with an event log, `sync run --all` follows the log (one read per
interval) instead of polling each sync, so it needs fewer requests than that floor and
its ratio to it can fall below 1; the syncs' own running time is then what it waits for.

Usage: python bench/sync_all.py [--connections 200] [--rate-limit 240] [--clock-speed 100]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _serve import admin_headers, cli_env, serve, stop


def prepare(url: str, connections: int) -> None:
    """Grow the seed to `connections` active connections, with schedules off and the
    initial syncs done, so the measured run only does the work being measured."""
    headers = admin_headers(url)
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        client.post("/sandbox/account", json={"credits_total": 100_000}).raise_for_status()
        listed = client.get("/api/system/connections", params={"per_page": 500}).json()["data"]
        active = sum(1 for c in listed if c["status"] == "active")
        for i in range(max(0, connections - active)):
            client.post(
                "/api/system/connections",
                json={
                    "name": f"Bench plant {i:03d}",
                    "email": "bench@example.com",
                    "provider": "upkeep",
                    "credentials": {"api_token": f"t{i}"},
                },
            ).raise_for_status()
        listed = client.get("/api/system/connections", params={"per_page": 500}).json()["data"]
        for conn in listed:
            if conn["status"] == "active":
                client.put(
                    f"/api/system/connections/{conn['key']}/schedule",
                    json={"enabled": False, "interval_minutes": 60},
                ).raise_for_status()
        client.post("/sandbox/clock", json={"advance_seconds": 3600}).raise_for_status()
        time.sleep(2)  # the served sandbox finishes the initial syncs in its next step


def measure(url: str, *args: str) -> tuple[float, int, int, int, str]:
    """(elapsed seconds, requests, 429 answers, exit code, stdout) of one makini run."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "makini_cli", "--debug", *args],
        capture_output=True,
        text=True,
        env=cli_env(url),
        timeout=3600,
    )
    elapsed = time.monotonic() - started
    answers = re.findall(r" -> (\d{3}) in ", proc.stderr)
    return elapsed, len(answers), answers.count("429"), proc.returncode, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--rate-limit", type=int, default=240, help="requests a minute")
    parser.add_argument("--clock-speed", type=float, default=100.0, help="while preparing")
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=10,
        help="connections timed for the naive loop (0 skips it)",
    )
    args = parser.parse_args()
    r = args.rate_limit
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sandbox"
        proc, url = serve(data, "--rate-limit", "1000000", "--clock-speed", str(args.clock_speed))
        try:
            prepare(url, args.connections)
        finally:
            stop(proc)
        # Measured at clock speed 1: the sandbox refills its rate buckets on its own clock,
        # so only at speed 1 is R requests a minute a real-time limit.
        proc, url = serve(data, "--rate-limit", str(r), "--clock-speed", "1.0")
        try:
            print(
                f"{args.connections} active connections, rate limit {r}/min, clock x1 "
                f"(prepared at x{args.clock_speed:g})"
            )
            elapsed, requests, throttled, code, out = measure(
                url, "sync", "run", "--all", "-o", "jsonl"
            )
            synced = [json.loads(line)["connection_key"] for line in out.splitlines() if line]
            forced = max(0.0, requests - r) / (r / 60)
            floor = max(0.0, 2 * len(synced) + 3 - r) / (r / 60)
            print(
                f"sync run --all      {elapsed:7.1f} s  {requests:4d} requests  "
                f"forced {forced:6.1f} s  ratio {elapsed / forced if forced else 0:5.2f}  "
                f"floor {floor:5.1f} s  ratio {elapsed / floor if floor else 0:5.2f}  "
                f"429s {throttled}  exit {code}"
            )
            if args.naive_sample:
                sample = synced[: args.naive_sample]
                naive = 0.0
                naive_429 = 0
                for key in sample:
                    spent, _, throttled_one, _, _ = measure(url, "sync", "run", key)
                    naive += spent
                    naive_429 += throttled_one
                scaled = naive / len(sample) * len(synced)
                print(
                    f"naive loop          {scaled:7.1f} s  (one `sync run KEY` after another: "
                    f"{naive:.1f} s for {len(sample)}, scaled to {len(synced)})  "
                    f"ratio to --all {scaled / elapsed:5.1f}x  429s {naive_429}"
                )
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
