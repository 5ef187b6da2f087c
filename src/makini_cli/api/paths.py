"""Every API path in one place.

Paths marked (ext) are this project's extensions (contract, top): when Makini publishes
its own endpoints for these operations, remap them here and nowhere else.
"""

from __future__ import annotations

from urllib.parse import quote

TOKEN = "/link/token"

# documented (admin token)
CLIENT = "/api/system/client"
PLATFORMS = "/api/system/platforms"
CONNECTIONS = "/api/system/connections"

# (ext) admin token
CAPABILITIES = "/api/system/capabilities"

# documented (connection token)
INTEGRATION_CURRENT = "/api/integrations/current"
INTEGRATION_SYNC = "/api/integrations/sync"
INTEGRATION_SYNC_STATUS = "/api/integrations/sync/status"


def _seg(value: str) -> str:
    return quote(value, safe="")


def connection(key: str) -> str:
    """GET is (ext); DELETE is documented (it answers 200 with JSON, or 204)."""
    return f"{CONNECTIONS}/{_seg(key)}"


def connection_metadata(key: str) -> str:
    return f"{CONNECTIONS}/{_seg(key)}/metadata"


def connection_metadata_entry(key: str, name: str) -> str:
    """(ext) DELETE removes one entry: Makini documents no way to remove one."""
    return f"{CONNECTIONS}/{_seg(key)}/metadata/{_seg(name)}"


def connection_token(key: str) -> str:
    return f"{CONNECTIONS}/{_seg(key)}/token"


def connection_status(key: str) -> str:
    """(ext)"""
    return f"{CONNECTIONS}/{_seg(key)}/status"


def sandbox_control(name: str) -> str:
    """The bundled sandbox's own control routes; never sent to Makini."""
    return f"/sandbox/{name}"


def connection_syncs(key: str) -> str:
    """(ext) start (POST) and history (GET)."""
    return f"{CONNECTIONS}/{_seg(key)}/syncs"


def sync(sync_id: str) -> str:
    """(ext)"""
    return f"/api/system/syncs/{_seg(sync_id)}"


def sync_cancel(sync_id: str) -> str:
    """(ext)"""
    return f"/api/system/syncs/{_seg(sync_id)}/cancel"


def connection_schedule(key: str) -> str:
    """(ext)"""
    return f"{CONNECTIONS}/{_seg(key)}/schedule"


def sandbox_connection(key: str, action: str) -> str:
    """The sandbox's outage and credential switches; never sent to Makini."""
    return f"/sandbox/connections/{_seg(key)}/{action}"


# (ext) webhooks and the event log (contract §7–8), admin token
WEBHOOKS = "/api/system/webhooks"
EVENTS = "/api/system/events"


def webhook(webhook_id: str) -> str:
    """(ext) GET, PATCH and DELETE one webhook."""
    return f"{WEBHOOKS}/{_seg(webhook_id)}"


def webhook_rotate_secret(webhook_id: str) -> str:
    """(ext)"""
    return f"{WEBHOOKS}/{_seg(webhook_id)}/rotate-secret"


def webhook_test(webhook_id: str) -> str:
    """(ext)"""
    return f"{WEBHOOKS}/{_seg(webhook_id)}/test"


def webhook_deliveries(webhook_id: str) -> str:
    """(ext) newest first"""
    return f"{WEBHOOKS}/{_seg(webhook_id)}/deliveries"


def delivery(delivery_id: str) -> str:
    """(ext)"""
    return f"/api/system/deliveries/{_seg(delivery_id)}"


def delivery_retry(delivery_id: str) -> str:
    """(ext)"""
    return f"/api/system/deliveries/{_seg(delivery_id)}/retry"


# (ext) custom fields (contract §6), admin token
def custom_fields(key: str) -> str:
    """(ext) list (GET) and define (POST) a connection's custom fields."""
    return f"{CONNECTIONS}/{_seg(key)}/custom-fields"


def custom_field(key: str, field_key: str) -> str:
    """(ext) PATCH and DELETE one custom field."""
    return f"{CONNECTIONS}/{_seg(key)}/custom-fields/{_seg(field_key)}"


# documented (connection token): unified data and raw data (contract §9)
RAW_TABLES = "/api/raw/tables"
PASSTHROUGH = "/api/passthrough"
CATEGORIES = ("eam", "erp", "wms")


def records(category: str, entity: str) -> str:
    """List (GET) and create (POST) records: `/api/eam/work-orders`."""
    return f"/api/{_seg(category)}/{_seg(entity)}"


def record(category: str, entity: str, key: str) -> str:
    return f"/api/{_seg(category)}/{_seg(entity)}/{_seg(key)}"


def entity_custom_fields(category: str, entity: str) -> str:
    """Documented for `eam/work-orders` (names only); the sandbox serves the others (ext)."""
    return f"/api/{_seg(category)}/{_seg(entity)}/custom-fields"


def raw_table_data(table: str) -> str:
    return f"{RAW_TABLES}/{_seg(table)}/data"
