"""The sandbox's state: one SQLite file (`sandbox.db`) in WAL mode.

Several threads (uvicorn's worker pool) and several processes (`makini sandbox serve`
next to an embedded sandbox on the same data dir) may use one file at once. WAL lets
readers run beside the writer; `busy_timeout` makes writers queue instead of failing;
every write happens inside `BEGIN IMMEDIATE`, so a read-modify-write is never
interleaved with another process's.

Connections are pooled, each used by one thread at a time, and closed by `close()`.
Migrations are numbered by their place in `MIGRATIONS` and recorded in
`PRAGMA user_version`; a later issue appends, never edits, an entry.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from makini_cli.sandbox.settings import DataDirError

DB_FILENAME = "sandbox.db"
#: The database and SQLite's -wal and -shm files beside it: token hashes, the client's
#: connections and metadata, sealed idempotency answers. Nobody else's business.
DB_MODE = 0o600
_DB_SUFFIXES = ("", "-wal", "-shm")
BUSY_TIMEOUT_MS = 10_000
_POOL_MAX_IDLE = 8

# Times are stored as REAL Unix seconds on the sandbox clock; lists and objects as JSON.
MIGRATIONS: tuple[str, ...] = (
    # 1: walking skeleton — account, connections, tokens and the HTTP plumbing tables.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE client (
        singleton        INTEGER PRIMARY KEY CHECK (singleton = 1),
        id               TEXT NOT NULL,
        name             TEXT NOT NULL,
        logo_url         TEXT NOT NULL,
        email            TEXT NOT NULL,
        default_redirect TEXT NOT NULL,
        redirects        TEXT NOT NULL
    );
    CREATE TABLE account (
        singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
        credits_total INTEGER NOT NULL
    );
    CREATE TABLE connections (
        id                      INTEGER PRIMARY KEY AUTOINCREMENT,
        key                     TEXT NOT NULL UNIQUE,
        name                    TEXT NOT NULL,
        email                   TEXT NOT NULL,
        status                  TEXT NOT NULL,
        platform                TEXT NOT NULL,
        health                  TEXT,
        credits                 INTEGER NOT NULL DEFAULT 0,
        scopes                  TEXT NOT NULL DEFAULT '[]',
        tags                    TEXT NOT NULL DEFAULT '[]',
        sync_status             TEXT,
        sync_updated_at         REAL,
        last_sync_at            REAL,
        last_successful_sync_at REAL,
        next_sync_at            REAL,
        error_code              TEXT,
        error_message           TEXT,
        created_at              REAL NOT NULL,
        updated_at              REAL NOT NULL,
        connected_at            REAL,
        deleted_at              REAL
    );
    CREATE TABLE connection_metadata (
        connection_key TEXT NOT NULL REFERENCES connections (key),
        key            TEXT NOT NULL,
        value          TEXT NOT NULL,
        created_at     REAL NOT NULL,
        updated_at     REAL NOT NULL,
        PRIMARY KEY (connection_key, key)
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
        audience   TEXT NOT NULL CHECK (audience IN ('admin', 'connection')),
        subject    TEXT NOT NULL,
        pair_id    TEXT NOT NULL,
        issued_at  REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE INDEX tokens_by_pair ON tokens (pair_id);
    CREATE INDEX tokens_by_subject ON tokens (audience, subject);
    CREATE TABLE idempotency (
        subject     TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'done')),
        status_code INTEGER,
        headers     TEXT,
        body        BLOB,
        created_at  REAL NOT NULL,
        expires_at  REAL NOT NULL,
        PRIMARY KEY (subject, key)
    );
    CREATE TABLE rate_limits (
        bucket     TEXT PRIMARY KEY,
        tokens     REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE faults (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        path_prefix TEXT NOT NULL,
        method      TEXT,
        status      INTEGER NOT NULL,
        remaining   INTEGER NOT NULL,
        body        TEXT NOT NULL,
        code        TEXT,
        retry_after REAL,
        created_at  REAL NOT NULL
    );
    """,
    # 2: syncs. A sync is queued until `started_at`, running until `started_at +
    # expected_duration`, then finished by the scheduler; status here is 'queued' for both
    # of the first two (running is derived from the clock) or a final status.
    """
    CREATE TABLE syncs (
        seq               INTEGER PRIMARY KEY AUTOINCREMENT,
        id                TEXT NOT NULL UNIQUE,
        connection_key    TEXT NOT NULL,
        type              TEXT NOT NULL CHECK (type IN ('incremental', 'full')),
        trigger           TEXT NOT NULL,
        scopes            TEXT NOT NULL,
        status            TEXT NOT NULL,
        attempt           INTEGER NOT NULL,
        created_at        REAL NOT NULL,
        started_at        REAL NOT NULL,
        expected_duration REAL NOT NULL,
        records_total     INTEGER NOT NULL,
        finished_at       REAL,
        error_code        TEXT,
        error_message     TEXT,
        next_retry_at     REAL,
        prior_sync_status TEXT
    );
    CREATE INDEX syncs_by_connection ON syncs (connection_key, seq);
    CREATE INDEX syncs_open ON syncs (status, started_at);
    """,
    # 3: outages (the last one per connection; ends_at NULL: until ended by hand;
    # recovered_at: when a probe saw the system answer again) and whether the connected
    # system rejects the stored credentials.
    """
    CREATE TABLE outages (
        connection_key TEXT PRIMARY KEY,
        started_at     REAL NOT NULL,
        ends_at        REAL,
        recovered_at   REAL
    );
    ALTER TABLE connections ADD COLUMN credentials_broken INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: schedules. next_run_at: the next regular run; retry_at/retry_attempt: a pending
    # backoff retry, which replaces the regular runs until a sync succeeds.
    """
    CREATE TABLE schedules (
        connection_key   TEXT PRIMARY KEY,
        enabled          INTEGER NOT NULL,
        interval_minutes INTEGER NOT NULL,
        next_run_at      REAL,
        retry_at         REAL,
        retry_attempt    INTEGER,
        updated_at       REAL NOT NULL
    );
    """,
    # 5: a fault can let the first `skip` matching requests through (a failure on page 2).
    """
    ALTER TABLE faults ADD COLUMN skip INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: an idempotency record names the owner of its pending claim and holds a lease, so
    # a killed process's claims can be released; and it no longer keeps the raw key nor
    # an answer in clear (see idempotency.py). Records written before hold raw keys and
    # raw tokens: they only served a day of replays, so they go, and secure_delete
    # overwrites their pages instead of leaving the tokens in the file's free space.
    """
    PRAGMA secure_delete = ON;
    DELETE FROM idempotency;
    ALTER TABLE idempotency ADD COLUMN owner_host TEXT;
    ALTER TABLE idempotency ADD COLUMN owner_pid INTEGER;
    ALTER TABLE idempotency ADD COLUMN owner_started TEXT;
    ALTER TABLE idempotency ADD COLUMN owner_id TEXT;
    ALTER TABLE idempotency ADD COLUMN lease_until REAL;
    """,
    # 7: scopes take Makini's names (`work_orders`, not `work-orders`).
    """
    UPDATE connections SET scopes = REPLACE(scopes, '-', '_');
    UPDATE syncs SET scopes = REPLACE(scopes, '-', '_');
    """,
    # 8: the event log, and webhooks with their outbox of deliveries (events.py,
    # outbox.py). A delivery is written in the transaction that writes its event; an
    # attempt is written before it is sent (`outcome_known` 0) and settled after, so a
    # crash mid-send is seen, and the delivery resent with the same X-Webhook-Id.
    """
    CREATE TABLE events (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        id             TEXT NOT NULL UNIQUE,
        event          TEXT NOT NULL,
        connection_key TEXT,
        created_at     REAL NOT NULL,
        body           TEXT NOT NULL
    );
    CREATE INDEX events_by_connection ON events (connection_key, seq);
    CREATE INDEX events_by_name ON events (event, seq);
    CREATE TABLE webhooks (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        url             TEXT NOT NULL,
        events          TEXT NOT NULL,
        connection_keys TEXT NOT NULL,
        enabled         INTEGER NOT NULL,
        secret          TEXT NOT NULL,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL,
        deleted_at      REAL
    );
    CREATE TABLE deliveries (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        id               TEXT NOT NULL UNIQUE,
        webhook_id       TEXT NOT NULL,
        event_id         TEXT NOT NULL,
        event            TEXT NOT NULL,
        status           TEXT NOT NULL,
        created_at       REAL NOT NULL,
        first_attempt_at REAL,
        window_start_seq INTEGER,
        next_attempt_at  REAL,
        claimed_by       TEXT,
        claimed_until    REAL,
        updated_at       REAL NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, seq);
    CREATE TABLE delivery_attempts (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id   TEXT NOT NULL,
        at            REAL NOT NULL,
        status_code   INTEGER,
        error         TEXT,
        duration_ms   INTEGER,
        outcome_known INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX attempts_by_delivery ON delivery_attempts (delivery_id, seq);
    """,
    # 9: custom fields, and what happened to unified records after the seed (records.py).
    # Records are made from the raw rows on the fly; a row here is the change of one
    # record: `created_at` set for a record created later (a sync's insert, a POST),
    # `data` the whole record of a POST, else the patch of the fields that changed.
    # `origin`: 'seed' (a base record changed), 'sync' (made from the system's rows like
    # the base ones) or 'write' (made from `data` alone).
    """
    CREATE TABLE custom_fields (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        key            TEXT NOT NULL UNIQUE,
        connection_key TEXT NOT NULL,
        entity         TEXT NOT NULL,
        name           TEXT NOT NULL,
        source         TEXT NOT NULL,
        type           TEXT NOT NULL,
        writable       INTEGER NOT NULL,
        created_at     REAL NOT NULL,
        updated_at     REAL NOT NULL,
        UNIQUE (connection_key, entity, name)
    );
    CREATE TABLE record_changes (
        connection_key TEXT NOT NULL,
        entity         TEXT NOT NULL,
        number         INTEGER NOT NULL,
        origin         TEXT NOT NULL CHECK (origin IN ('seed', 'sync', 'write')),
        created_at     REAL,
        updated_at     REAL NOT NULL,
        data           TEXT NOT NULL,
        PRIMARY KEY (connection_key, entity, number)
    );
    """,
    # 10: when a connection's current health began. Rows written before learn it from
    # their last health change in the event log, else (offline) their outage's start,
    # else (offline or rejected credentials) their last successful sync, which the
    # system answered, else their creation. A connection with no health has none.
    """
    ALTER TABLE connections ADD COLUMN health_since REAL;
    UPDATE connections SET health_since = COALESCE(
        (SELECT MAX(events.created_at) FROM events
         WHERE events.connection_key = connections.key
         AND events.event = 'connection.status_changed'),
        CASE WHEN connections.health = 'offline' THEN
            (SELECT outages.started_at FROM outages
             WHERE outages.connection_key = connections.key) END,
        CASE WHEN connections.health IN ('offline', 'reauth_required') THEN
            connections.last_successful_sync_at END,
        connections.created_at)
    WHERE health IS NOT NULL;
    """,
)


class Store:
    """A handle on one data dir's database; cheap to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """Create the data dir (0700) if needed, open its database and migrate it.

        Raises `DataDirError` (one line, naming the path) when the dir or its database
        cannot be used: a file where the dir should be, no permission, not a sandbox
        database, a schema from a newer makini.
        """
        path = data_dir / DB_FILENAME
        try:
            if data_dir.exists() and not data_dir.is_dir():
                raise DataDirError(f"the sandbox data dir {data_dir} is not a directory")
            if not data_dir.exists():
                # The dir holds token hashes and the client's connections: private by
                # default (makedirs, unlike Path.mkdir, gives the mode to parents too).
                os.makedirs(data_dir, mode=0o700, exist_ok=True)
            # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files
            # the database's mode, and a umask-made 0644 would let other users read all.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, DB_MODE))
        except DataDirError:
            raise
        except OSError as exc:
            raise DataDirError(
                f"cannot use the sandbox data dir {data_dir}: {exc.strerror or exc}"
            ) from exc
        store = cls(path)
        try:
            store.migrate()
        except sqlite3.DatabaseError as exc:
            store.close()
            raise DataDirError(f"cannot use {path}: {exc}") from exc
        except RuntimeError as exc:
            store.close()
            raise DataDirError(str(exc)) from exc
        store.make_private()
        return store

    def make_private(self) -> None:
        """Set the database's files to 0600: those of older versions were 0644."""
        for suffix in _DB_SUFFIXES:
            # -wal and -shm exist only while a connection is open; another user's file,
            # shared on purpose, is theirs to protect (and we may not chmod it).
            with contextlib.suppress(FileNotFoundError, PermissionError):
                os.chmod(f"{self.path}{suffix}", DB_MODE)

    @property
    def schema_version(self) -> int:
        with self.connection() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        with self.connection() as conn:
            # journal_mode is a property of the file, but switching it needs no open
            # transaction, so it happens here rather than inside the migration below.
            conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path} was written by a newer makini (schema {version}); "
                    "upgrade makini or use another data dir"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _split_sql(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode, for reads that need no snapshot."""
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE` … `COMMIT` (or `ROLLBACK` on any exception)."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise RuntimeError("the sandbox store is closed")
            if self._idle:
                return self._idle.pop()
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # transactions are explicit: see transaction()
            check_same_thread=False,  # the pool hands a connection to one thread at a time
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            # Only reachable if a caller escaped transaction(); never pool a half-done write.
            conn.execute("ROLLBACK")
        with self._lock:
            if not self._closed and len(self._idle) < _POOL_MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()


def _split_sql(script: str) -> list[str]:
    # executescript() would COMMIT our BEGIN IMMEDIATE; run statement by statement instead.
    return [part.strip() for part in script.split(";") if part.strip()]


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row["value"])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
