"""Idempotency keys (ext): a repeated mutating POST replays the first answer.

A record is kept per (token subject, key) for 24 hours of sandbox time. The fingerprint
covers method, path, query and body (JSON bodies in canonical form, so key order and
spacing do not count); the same key with another fingerprint is a conflict.

A record is written as `pending` before the handler runs and completed with the
answer afterwards, so two processes racing on one key cannot both do the work. Answers
of 5xx are not kept: the work may not have happened, and a retry should try again.

**Abandoned claims.** A process killed mid-request (`kill -9`, a crash, a power cut)
never completes its pending record, and a retry would hear "still being processed" for a
day. So a pending record names its owner (host and pid namespace, pid, the process's
start time, and the runtime's random instance id) and holds a lease of `LEASE_SECONDS`
real seconds. It is abandoned, and the next request with its key takes it over, once the
lease has run out or as soon as its owner is provably gone: same host and pid namespace,
and the pid is dead or now belongs to a process that started at another time. Two live
processes on one data dir (`serve` next to an embedded sandbox) therefore never steal
each other's claims; a process on another machine (a shared volume) is only ever judged
by its lease. `Runtime.open` releases what dead owners left, so a restarted server
starts clean.

The lease is in real (wall-clock) seconds, not sandbox time: it bounds the life of one
HTTP request, and the sandbox clock can run 1000 times faster or jump by days. No request
lives that long: bodies are read before the claim, handlers do a few database writes,
and an injected delay (`chaos.py`) is capped at a minute.

A limit that remains: a process killed after the handler committed but before the
answer was recorded leaves work done without a record, and the retry does it again. The
window is one `COMMIT` wide; closing it would mean recording the answer inside every
route's own transaction.

**No secrets at rest.** Answers can carry secrets (a new connection's token pair, a
connection token), and the database keeps only hashes of tokens. So the key itself is
never stored: records are found by an HMAC of the raw key (`Claim.lookup`), and the
stored body is encrypted, and the fingerprint keyed, with other keys derived from the
raw key, which only the client holds. A copied `sandbox.db` therefore replays nothing
and confirms no guess about a request's body; a client that retries with its key gets
the first answer back, tokens included, even after a restart. The protection is as
strong as the key is unguessable (the CLI's keys are random UUIDs). The cipher is
SHAKE-256 as a keystream with an HMAC-SHA-256 tag (encrypt-then-MAC), from the standard
library: the sandbox has no cryptography dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

WINDOW_SECONDS = 24 * 3_600.0
LEASE_SECONDS = 120.0
HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Response headers worth replaying; request ids and rate-limit figures are per request.
REPLAYED_RESPONSE_HEADERS = frozenset({"content-type", "location", "cache-control", "pragma"})

_SEALED_V1 = b"\x01"
_NONCE_BYTES = 16
_TAG_BYTES = 32


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Outcome = Literal["proceed", "conflict", "in_progress"]


# ---------------------------------------------------------------------- owners


@dataclass(frozen=True)
class Owner:
    """Who holds a pending claim: enough to tell, later, whether it can still finish."""

    host: str  # the host name, and the pid namespace where there is one
    pid: int
    started: str | None  # the process's start time (Linux), so a reused pid is told apart
    instance: str  # random per runtime

    @classmethod
    def current(cls, instance: str | None = None) -> Owner:
        pid = os.getpid()
        return cls(_hostname(), pid, _process_started(pid), instance or secrets.token_hex(8))


@cache
def _hostname() -> str:
    """The machine, and on Linux the pid namespace: two containers can share a host
    name (host networking) while each has its own pids, which mean nothing to the other."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()} {namespace}"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3… of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def _process_started(pid: int) -> str | None:
    fields = _proc_stat(pid)
    # Field 22, starttime: clock ticks after boot. Index 19 counts from field 3.
    return fields[19] if fields is not None and len(fields) > 19 else None


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it there; the lease decides instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    fields = _proc_stat(pid)
    # A zombie keeps its pid until reaped, but it will never finish a request.
    return not (fields and fields[0] in ("Z", "X"))


def owner_gone(host: str | None, pid_value: int | None, recorded: str | None, me: Owner) -> bool:
    """Whether the process `host`/`pid_value`, started at `recorded`, that holds a claim
    (an idempotency record, a delivery being sent) can provably never finish it."""
    if host != me.host or pid_value is None:
        return False  # another machine, or unknown: only the lease can tell
    pid = int(pid_value)
    if pid == me.pid:
        # This pid is us: the owner is this process unless it started at another time
        # (a container restarted gives its server the same small pid again).
        return recorded is not None and me.started is not None and recorded != me.started
    if not _pid_alive(pid):
        return True
    running = _process_started(pid)
    return recorded is not None and running is not None and recorded != running


def _abandoned(row: sqlite3.Row, me: Owner, real_now: float) -> bool:
    lease = row["lease_until"]
    return (
        lease is None
        or lease <= real_now
        or owner_gone(row["owner_host"], row["owner_pid"], row["owner_started"], me)
    )


# ---------------------------------------------------------------------- keys and sealing


@dataclass(frozen=True)
class Claim:
    """One request's key, as the client sent it; everything stored is derived from it."""

    subject: str
    key: str

    def _derive(self, purpose: str) -> bytes:
        message = f"makini-sandbox/idempotency/{purpose}\0{self.subject}".encode()
        return hmac.new(self.key.encode(), message, hashlib.sha256).digest()

    @property
    def lookup(self) -> str:
        """What the database stores instead of the key."""
        return self._derive("lookup").hex()

    def fingerprint(self, method: str, path: str, query: str, body: bytes) -> str:
        return fingerprint(method, path, query, body, secret=self._derive("fingerprint"))

    def seal(self, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = _xor(plaintext, self._keystream(nonce, len(plaintext)))
        return _SEALED_V1 + nonce + ciphertext + self._tag(nonce + ciphertext)

    def unseal(self, sealed: bytes) -> bytes | None:
        """The plaintext, or None for a body this key did not seal (or that was altered)."""
        if len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES or sealed[:1] != _SEALED_V1:
            return None
        nonce, ciphertext, tag = (
            sealed[1 : 1 + _NONCE_BYTES],
            sealed[1 + _NONCE_BYTES : -_TAG_BYTES],
            sealed[-_TAG_BYTES:],
        )
        if not hmac.compare_digest(tag, self._tag(nonce + ciphertext)):
            return None
        return _xor(ciphertext, self._keystream(nonce, len(ciphertext)))

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        return hashlib.shake_256(self._derive("encrypt") + nonce).digest(length)

    def _tag(self, data: bytes) -> bytes:
        return hmac.new(self._derive("authenticate"), data, hashlib.sha256).digest()


def _xor(data: bytes, stream: bytes) -> bytes:
    if not data:
        return b""
    value = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")
    return value.to_bytes(len(data), "big")


def fingerprint(
    method: str, path: str, query: str, body: bytes, *, secret: bytes | None = None
) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    digest = hmac.new(secret, digestmod=hashlib.sha256) if secret else hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


# ---------------------------------------------------------------------- records


@cache
def _this_process() -> Owner:
    return Owner.current()


def begin(
    conn: sqlite3.Connection,
    subject: str,
    key: str,
    print_: str,
    now: float,
    *,
    owner: Owner | None = None,
    real_now: float | None = None,
) -> Outcome | StoredAnswer:
    """Claim `key` for this request, or say why not. Call inside a transaction.

    `now` is sandbox time (the 24 h window); `real_now` wall-clock time (the lease).
    """
    owner = owner or _this_process()
    # The lease is about real time by design (see the module's doc), not sandbox time.
    real_now = time.time() if real_now is None else real_now
    row = conn.execute(
        "SELECT * FROM idempotency WHERE subject = ? AND key = ? AND expires_at > ?",
        (subject, key, now),
    ).fetchone()
    if row is None or (row["state"] == "pending" and _abandoned(row, owner, real_now)):
        conn.execute(
            "INSERT INTO idempotency (subject, key, fingerprint, state, created_at, expires_at,"
            " owner_host, owner_pid, owner_started, owner_id, lease_until)"
            " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject, key)"
            " DO UPDATE SET fingerprint = excluded.fingerprint, state = 'pending',"
            " status_code = NULL, headers = NULL, body = NULL,"
            " created_at = excluded.created_at, expires_at = excluded.expires_at,"
            " owner_host = excluded.owner_host, owner_pid = excluded.owner_pid,"
            " owner_started = excluded.owner_started, owner_id = excluded.owner_id,"
            " lease_until = excluded.lease_until",
            (
                subject,
                key,
                print_,
                now,
                now + WINDOW_SECONDS,
                owner.host,
                owner.pid,
                owner.started,
                owner.instance,
                real_now + LEASE_SECONDS,
            ),
        )
        return "proceed"
    if row["fingerprint"] != print_:
        return "conflict"
    if row["state"] == "pending":
        return "in_progress"
    headers = [(str(k), str(v)) for k, v in json.loads(row["headers"])]
    return StoredAnswer(int(row["status_code"]), headers, bytes(row["body"]))


def finish(
    conn: sqlite3.Connection,
    subject: str,
    key: str,
    answer: StoredAnswer,
    *,
    owner: Owner | None = None,
) -> None:
    """Complete our claim with `answer` (its body as it is to be stored: sealed)."""
    owner = owner or _this_process()
    headers = [(k, v) for k, v in answer.headers if k.lower() in REPLAYED_RESPONSE_HEADERS]
    # Only our own claim: if it was taken over (our lease ran out), the new owner's
    # request decides what the record says.
    conn.execute(
        "UPDATE idempotency SET state = 'done', status_code = ?, headers = ?, body = ?,"
        " lease_until = NULL WHERE subject = ? AND key = ? AND state = 'pending'"
        " AND owner_id = ?",
        (answer.status, json.dumps(headers), answer.body, subject, key, owner.instance),
    )


def abandon(
    conn: sqlite3.Connection, subject: str, key: str, *, owner: Owner | None = None
) -> None:
    owner = owner or _this_process()
    conn.execute(
        "DELETE FROM idempotency WHERE subject = ? AND key = ? AND state = 'pending'"
        " AND owner_id = ?",
        (subject, key, owner.instance),
    )


def release_abandoned(conn: sqlite3.Connection, me: Owner, real_now: float) -> int:
    """Delete the pending records whose owner is gone or whose lease ran out."""
    released = 0
    for row in conn.execute("SELECT * FROM idempotency WHERE state = 'pending'").fetchall():
        if _abandoned(row, me, real_now):
            conn.execute(
                "DELETE FROM idempotency WHERE subject = ? AND key = ? AND state = 'pending'",
                (row["subject"], row["key"]),
            )
            released += 1
    return released


def purge_expired(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,)).rowcount
