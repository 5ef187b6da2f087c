"""Benchmark: `makini records export -o jsonl` against a bare httpx loop, and its memory.

One sandbox (`makini sandbox serve --table-rows N`, so a connection's work orders number
N) serves both, in the same run:

    baseline   = a bare httpx loop in this process: GET /api/eam/work-orders page by page
                 (per_page=500) with a connection token, one `json.dumps` line per record
                 into a file
    candidate  = `makini records export work-orders --connection KEY -o jsonl
                 --output-file F`, run as a user runs it (a subprocess; its start-up, the
                 token and the category lookup count)
    ratio      = candidate throughput / baseline throughput     # goal: >= 0.50

Peak RSS of the CLI process (its own rusage, from wait4) exporting 10,000 records
(`--limit 10000`) and all N:

    ratio      = peak at N / peak at 10,000                     # goal: <= 1.2

Each is measured --repeat times, alternating, and the best run of each kept (the least
disturbed by whatever else the machine did). The CPU time each spends on its own side
(not the sandbox's) is printed too: on a busy machine it varies far less than the
elapsed time. Usage:

    python bench/records_export.py [--rows 100000] [--repeat 3] [--platform upkeep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from _serve import admin_headers, cli_env, serve, stop

PER_PAGE = 500
SMALL = 10_000
GOAL_THROUGHPUT = 0.50
GOAL_MEMORY = 1.2


def create_connection(url: str, platform: str) -> str:
    """A fresh connection of `platform`, as a user creates one; its key."""
    with httpx.Client(base_url=url, headers=admin_headers(url), timeout=60) as client:
        listed = client.get("/api/system/platforms", params={"per_page": 500}).json()["data"]
        fields = next(p["credentials"] for p in listed if p["key"] == platform)
        resp = client.post(
            "/api/system/connections",
            json={
                "name": "Bench plant",
                "email": "bench@example.com",
                "provider": platform,
                "credentials": {name: f"bench-{name}" for name in fields},
            },
        )
        resp.raise_for_status()
        return str(resp.json()["data"]["key"])


def connection_token(url: str, key: str) -> str:
    """The way the CLI gets one: POST /api/system/connections/{key}/token."""
    resp = httpx.post(
        f"{url}/api/system/connections/{key}/token", headers=admin_headers(url), timeout=60
    )
    resp.raise_for_status()
    return str(resp.json()["data"]["token"])


@dataclass
class Run:
    records: int
    seconds: float
    peak_rss_kb: int = 0
    #: CPU seconds spent on our side (the sandbox's are not counted)
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def baseline(url: str, key: str, out: Path) -> Run:
    """The bare loop: every page of work orders, a json.dumps line per record. Its token
    is fetched before the clock starts (the loop does nothing else)."""
    token = connection_token(url, key)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    count = 0
    started = time.perf_counter()
    cpu = time.process_time()
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client, out.open("w") as fh:
        page = 1
        while True:
            resp = client.get("/api/eam/work-orders", params={"page": page, "per_page": PER_PAGE})
            resp.raise_for_status()
            body = resp.json()
            for item in body["data"]:
                fh.write(json.dumps(item) + "\n")
                count += 1
            meta = body["meta"]
            if not body["data"] or meta["current_page"] >= meta["last_page"]:
                break
            page += 1
    return Run(count, time.perf_counter() - started, cpu=time.process_time() - cpu)


def export_env(url: str, home: Path) -> dict[str, str]:
    env = cli_env(url)
    env.pop("CI", None)
    # A config and cache of its own: nothing remembered from an earlier run counts.
    env["MAKINI_CONFIG_DIR"] = str(home / "config")
    env["MAKINI_CACHE_DIR"] = str(home / "cache")
    env["MAKINI_NO_KEYRING"] = "1"
    return env


def candidate(url: str, key: str, out: Path, home: Path, limit: int | None = None) -> Run:
    """`makini records export` as a subprocess: elapsed time and its own peak RSS."""
    args = [
        sys.executable,
        "-m",
        "makini_cli",
        "records",
        "export",
        "work-orders",
        "--connection",
        key,
        "-o",
        "jsonl",
        "--output-file",
        str(out),
    ]
    if limit is not None:
        args += ["--limit", str(limit)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=export_env(url, home)
    )
    # wait4 gives this child's own rusage: RUSAGE_CHILDREN would be the largest of all.
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"makini records export failed ({proc.returncode}):\n{stderr}")
    with out.open("rb") as fh:
        records = sum(1 for _ in fh)
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return Run(records, seconds, peak, cpu=usage.ru_utime + usage.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="records to export")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept")
    parser.add_argument("--platform", default="upkeep", help="platform of the connection")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, url = serve(
            work / "sandbox",
            "--table-rows",
            str(args.rows),
            # Far above what a run needs: the bench measures reading, not the rate limit.
            "--rate-limit",
            "1000000",
        )
        try:
            key = create_connection(url, args.platform)
            # Warm the server (its first read of a table builds what later reads reuse) so
            # whichever goes first is not charged for it.
            baseline(url, key, work / "warm.jsonl")
            bases: list[Run] = []
            fulls: list[Run] = []
            smalls: list[Run] = []
            for n in range(args.repeat):
                bases.append(baseline(url, key, work / "base.jsonl"))
                fulls.append(candidate(url, key, work / "cli.jsonl", work / f"home{n}"))
                smalls.append(
                    candidate(url, key, work / "small.jsonl", work / f"home{n}", limit=SMALL)
                )
        finally:
            stop(proc)
    base = max(bases, key=lambda r: r.rate)
    full = max(fulls, key=lambda r: r.rate)
    peak_full = min(r.peak_rss_kb for r in fulls)
    peak_small = min(r.peak_rss_kb for r in smalls)
    if full.records != base.records:
        raise SystemExit(f"the export wrote {full.records} records, the loop {base.records}")
    ratio = full.rate / base.rate
    memory = peak_full / peak_small
    print(f"{base.records:,} work orders of one {args.platform} connection, per_page {PER_PAGE}")
    print(
        f"baseline httpx loop     {base.seconds:6.2f} s  {base.rate:9,.0f} records/s  "
        f"cpu {min(r.cpu for r in bases):5.2f} s"
    )
    print(
        f"records export -o jsonl {full.seconds:6.2f} s  {full.rate:9,.0f} records/s  "
        f"cpu {min(r.cpu for r in fulls):5.2f} s  "
        f"ratio {ratio:.2f} (goal >= {GOAL_THROUGHPUT:.2f}) "
        f"{'ok' if ratio >= GOAL_THROUGHPUT else 'MISSED'}"
    )
    print(
        f"peak RSS  {SMALL:,} records {peak_small / 1024:6.1f} MiB  "
        f"{full.records:,} records {peak_full / 1024:6.1f} MiB  "
        f"ratio {memory:.2f} (goal <= {GOAL_MEMORY}) {'ok' if memory <= GOAL_MEMORY else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
