"""The fixed world a fresh sandbox starts with, and `reset` restores.

Everything that identifies something (keys, names, platforms, states, metadata) is a
constant here, so every fresh data dir holds the same connections. Times are offsets
from the moment of seeding on the sandbox clock, so the data looks recent whenever it is
made. The mix covers what a client must handle: cloud and on-premises, CMMS/EAM/ERP,
healthy, offline, credentials rejected, an unfinished Link flow and a disabled connection.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from makini_cli.sandbox import schedules
from makini_cli.sandbox.connections import NewConnection, insert_connection, put_metadata
from makini_cli.sandbox.platforms import get_platform
from makini_cli.sandbox.store import get_meta, set_meta

SEEDED_META_KEY = "seeded_at"
CREDITS_TOTAL = 60

MINUTE = 60.0
HOUR = 3_600.0
DAY = 86_400.0

CLIENT: dict[str, Any] = {
    "name": "Sandbox Demo App",
    "logo_url": "https://example.com/makini-sandbox/logo.png",
    "email": "developers@example.com",
    "default_redirect": "http://127.0.0.1:8787/callback",
    "redirects": ["http://127.0.0.1:8787/callback", "https://oauth.pstmn.io/v1/callback"],
}


@dataclass(frozen=True)
class SeedConnection:
    key: str
    name: str
    email: str
    platform: str
    status: str
    health: str | None
    tags: tuple[str, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    age_days: float = 90
    last_sync_ago: float | None = 45 * MINUTE  # None: never synced
    last_success_ago: float | None = 45 * MINUTE
    next_sync_in: float | None = 15 * MINUTE  # None: nothing scheduled
    sync_status: str | None = "done"


SEED_CONNECTIONS: tuple[SeedConnection, ...] = (
    SeedConnection(
        key="10000482937115",
        name="Acme Manufacturing – S/4HANA",
        email="maintenance@acme-mfg.example.com",
        platform="sap-s4hana",
        status="active",
        health="online",
        tags=("production", "eu-west"),
        metadata={"customer_id": "CUST-1001", "region": "eu-west"},
        age_days=210,
        last_sync_ago=42 * MINUTE,
        last_success_ago=42 * MINUTE,
        next_sync_in=18 * MINUTE,
    ),
    SeedConnection(
        key="10000593048226",
        name="Nordic Paper Mill – SAP ECC",
        email="it@nordicpaper.example.com",
        platform="sap-ecc",
        status="active",
        health="offline",
        tags=("production", "on-premises"),
        metadata={"customer_id": "CUST-1002"},
        age_days=400,
        last_sync_ago=12 * MINUTE,
        last_success_ago=3 * HOUR + 10 * MINUTE,
        next_sync_in=4 * MINUTE,  # the next backoff retry
        sync_status="error",
    ),
    SeedConnection(
        key="10000604159337",
        name="Harbor Utilities – Maximo",
        email="eam-admin@harbor-utilities.example.com",
        platform="ibm-maximo",
        status="active",
        health="online",
        tags=("production", "utilities"),
        metadata={"customer_id": "CUST-1003", "plant": "north"},
        age_days=150,
        last_sync_ago=25 * MINUTE,
        last_success_ago=25 * MINUTE,
        next_sync_in=35 * MINUTE,
    ),
    SeedConnection(
        key="10000715260448",
        name="Sunrise Foods – UpKeep",
        email="facilities@sunrisefoods.example.com",
        platform="upkeep",
        status="active",
        health="online",
        tags=("pilot",),
        metadata={"customer_id": "CUST-1004"},
        age_days=30,
        last_sync_ago=8 * MINUTE,
        last_success_ago=8 * MINUTE,
        next_sync_in=52 * MINUTE,
    ),
    SeedConnection(
        key="10000826371559",
        name="Delta Logistics – Fiix",
        email="ops@deltalogistics.example.com",
        platform="fiix",
        status="active",
        health="reauth_required",
        tags=("production",),
        metadata={"customer_id": "CUST-1005"},
        age_days=75,
        last_sync_ago=2 * HOUR,
        last_success_ago=1 * DAY + 2 * HOUR,
        next_sync_in=None,  # no automatic retry until someone reconnects
        sync_status="fail",
    ),
    SeedConnection(
        key="10000937482660",
        name="Bluewater Brewing – MaintainX",
        email="brewmaster@bluewater.example.com",
        platform="maintainx",
        status="pending",
        health=None,  # the Link flow never finished: there is no system to probe
        tags=("onboarding",),
        metadata={"customer_id": "CUST-1006"},
        age_days=2,
        last_sync_ago=None,
        last_success_ago=None,
        next_sync_in=None,
        sync_status=None,
    ),
    SeedConnection(
        key="10001048593771",
        name="Metro Transit – Infor EAM",
        email="fleet@metrotransit.example.com",
        platform="infor-eam",
        status="active",
        health="online",
        tags=("production", "public-sector"),
        metadata={"customer_id": "CUST-1007"},
        age_days=320,
        last_sync_ago=55 * MINUTE,
        last_success_ago=55 * MINUTE,
        next_sync_in=5 * MINUTE,
    ),
    SeedConnection(
        key="10001159604882",
        name="Alpine Tools – Odoo",
        email="erp@alpinetools.example.com",
        platform="odoo",
        status="inactive",
        health="online",
        tags=("churned",),
        metadata={"customer_id": "CUST-1008"},
        age_days=500,
        last_sync_ago=40 * DAY,
        last_success_ago=40 * DAY,
        next_sync_in=None,
    ),
    SeedConnection(
        key="10001260715993",
        name="Copperline Mining – eMaint",
        email="reliability@copperline.example.com",
        platform="emaint",
        status="active",
        health="online",
        tags=("production", "mining"),
        metadata={},
        age_days=60,
        last_sync_ago=3 * MINUTE,
        last_success_ago=3 * MINUTE,
        next_sync_in=57 * MINUTE,
    ),
)


def _ago(now: float, seconds: float | None) -> float | None:
    return None if seconds is None else now - seconds


def apply_seed(conn: sqlite3.Connection, now: float, client_id: str) -> None:
    """Replace all account state with the seed. Call inside a transaction.

    Admin tokens survive (the client is the same client); connection tokens,
    idempotency records, rate-limit buckets and faults do not.
    """
    for table in (
        "syncs",
        "outages",
        "schedules",
        "connection_metadata",
        "connections",
        "idempotency",
        "rate_limits",
        "faults",
        "client",
        "account",
        "events",
        "webhooks",
        "deliveries",
        "delivery_attempts",
        "custom_fields",
        "record_changes",
    ):
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    conn.execute("DELETE FROM tokens WHERE audience = 'connection'")
    conn.execute(
        "INSERT INTO client (singleton, id, name, logo_url, email, default_redirect, redirects)"
        " VALUES (1, ?, ?, ?, ?, ?, ?)",
        (
            client_id,
            CLIENT["name"],
            CLIENT["logo_url"],
            CLIENT["email"],
            CLIENT["default_redirect"],
            json.dumps(CLIENT["redirects"]),
        ),
    )
    conn.execute("INSERT INTO account (singleton, credits_total) VALUES (1, ?)", (CREDITS_TOTAL,))
    for seed in SEED_CONNECTIONS:
        created = now - seed.age_days * DAY
        insert_connection(
            conn,
            NewConnection(
                key=seed.key,
                name=seed.name,
                email=seed.email,
                platform=get_platform(seed.platform),
                status=seed.status,
                health=seed.health,
                tags=seed.tags,
                created_at=created,
                connected_at=None if seed.status == "pending" else created + 10 * MINUTE,
                sync_status=seed.sync_status,
                last_sync_at=_ago(now, seed.last_sync_ago),
                last_successful_sync_at=_ago(now, seed.last_success_ago),
                next_sync_at=None if seed.next_sync_in is None else now + seed.next_sync_in,
            ),
        )
        for name, value in seed.metadata.items():
            put_metadata(conn, seed.key, name, value, created)
    # The offline system stays down until someone ends its outage (`sandbox outage --end`);
    # the rejected credentials stay rejected until fixed.
    conn.execute(
        "INSERT INTO outages (connection_key, started_at, ends_at)"
        " SELECT key, COALESCE(last_successful_sync_at, ?), NULL FROM connections"
        " WHERE health = 'offline'",
        (now,),
    )
    conn.execute("UPDATE connections SET credentials_broken = 1 WHERE health = 'reauth_required'")
    # Every connection that syncs runs hourly; the next run is the seed's next_sync_at
    # (an hour from now for the one whose credentials are rejected, once fixed).
    for row in conn.execute(
        "SELECT key, next_sync_at FROM connections WHERE status = 'active'"
    ).fetchall():
        schedules.create_default(conn, row["key"], row["next_sync_at"] or now + HOUR)
    set_meta(conn, SEEDED_META_KEY, repr(now))


def is_seeded(conn: sqlite3.Connection) -> bool:
    return get_meta(conn, SEEDED_META_KEY) is not None
