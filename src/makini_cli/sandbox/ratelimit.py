"""Token-bucket rate limiting on the sandbox clock, shared by every process on a data dir.

Each bucket holds up to `limit` requests and refills at `limit` per sandbox minute. The
bucket is keyed by the hash of a valid bearer token, or by the client host for every
other call (no token, a made-up, expired or revoked one, and all of `POST /link/token`),
so guessing tokens or the client secret costs from the same bucket (see middleware.py).
Times in a `RateDecision` are sandbox seconds; the middleware turns them into real
seconds for the headers, since clients wait in real time.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

WINDOW_SECONDS = 60.0
# An idle bucket is full again after one window, so its row can go.
IDLE_BUCKET_SECONDS = WINDOW_SECONDS


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    full_in: float  # sandbox seconds until the bucket is full again
    retry_in: float  # sandbox seconds until one request is allowed (0 when allowed)


def take(conn: sqlite3.Connection, bucket: str, now: float, limit: int) -> RateDecision:
    """Spend one request from `bucket`, if it has one. Call inside a transaction."""
    rate = limit / WINDOW_SECONDS
    row = conn.execute(
        "SELECT tokens, updated_at FROM rate_limits WHERE bucket = ?", (bucket,)
    ).fetchone()
    if row is None:
        tokens = float(limit)
    else:
        elapsed = max(0.0, now - row["updated_at"])
        tokens = min(float(limit), row["tokens"] + elapsed * rate)
    allowed = tokens >= 1.0
    if allowed:
        tokens -= 1.0
    conn.execute(
        "INSERT INTO rate_limits (bucket, tokens, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (bucket) DO UPDATE SET"
        " tokens = excluded.tokens, updated_at = excluded.updated_at",
        (bucket, tokens, now),
    )
    return RateDecision(
        allowed=allowed,
        limit=limit,
        remaining=max(0, math.floor(tokens)),
        full_in=(limit - tokens) / rate,
        retry_in=0.0 if allowed else (1.0 - tokens) / rate,
    )


def purge_idle(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute(
        "DELETE FROM rate_limits WHERE updated_at < ?", (now - IDLE_BUCKET_SECONDS,)
    ).rowcount
