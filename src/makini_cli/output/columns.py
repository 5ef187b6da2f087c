"""Which fields a table shows for each resource. Machine formats always print everything."""

from __future__ import annotations

from makini_cli.output.render import Column

CONNECTIONS = [
    Column("KEY", "key"),
    Column("NAME", "name"),
    Column("PLATFORM", "platform"),
    Column("STATUS", "status"),
    Column("HEALTH", "health"),
    Column("LAST SYNC", "last_sync_at"),
]

CONNECTION_STATUS = [
    Column("KEY", "key"),
    Column("STATUS", "status"),
    Column("HEALTH", "health"),
    Column("SYNC", "sync_status"),
    Column("LAST SYNC", "last_sync_at"),
    Column("LAST SUCCESS", "last_successful_sync_at"),
    Column("NEXT SYNC", "next_sync_at"),
    Column(
        "ERROR",
        "error",
        fmt=lambda e: f"{e.get('code')}: {e.get('message')}" if isinstance(e, dict) else "",
    ),
]

METADATA = [Column("KEY", "key"), Column("VALUE", "value")]

PROFILES = [
    Column("ACTIVE", "active", fmt=lambda v: "*" if v else ""),
    Column("NAME", "name"),
    Column("BASE URL", "base_url"),
    Column("CLIENT ID", "client_id"),
]

CONFIG = [Column("KEY", "key"), Column("VALUE", "value")]
CONFIG_WITH_ORIGIN = [Column("KEY", "key"), Column("VALUE", "value"), Column("ORIGIN", "origin")]

EXIT_CODES = [Column("CODE", "code"), Column("MEANING", "meaning")]

SYNCS = [
    Column("ID", "id"),
    Column("CONNECTION", "connection_key"),
    Column("TYPE", "type"),
    Column("TRIGGER", "trigger"),
    Column("STATUS", "status"),
    Column("CREATED", "created_at"),
    Column("FINISHED", "finished_at"),
    Column("ERROR", "error", fmt=lambda e: str(e.get("code")) if isinstance(e, dict) else ""),
]
