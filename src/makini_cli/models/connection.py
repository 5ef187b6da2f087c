"""Connections as Makini types them: `scopes` a comma-separated string and
`user_metadata` a string of JSON. The models keep what the server sent (for `-o json`);
`scope_names` and `metadata_object` read either that or the list and object a server
may send instead, for display and for the metadata commands."""

from __future__ import annotations

from typing import Any

from makini_cli.models.base import ApiModel

#: The statuses of a connected system a sync can be started on. Not `pending` (nothing
#: connected yet), `inactive` (no credits: its syncs answer 402), nor `synchronizing` and
#: `in_progress` (a sync runs already). An offline or rejected system still gets its
#: sync, so that the failure is seen and reported.
SYNCABLE: frozenset[str] = frozenset({"active", "overage", "offline", "reauth_required"})


def scope_names(value: Any) -> list[str] | None:
    """The scope names in a connection's `scopes`: Makini's comma-separated string, or a
    list; None for anything else."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list):
        return [str(name) for name in value if name is not None and str(name)]
    return None


def metadata_object(value: Any) -> dict[str, Any] | None:
    """A connection's `user_metadata` as an object: Makini sends a string of JSON ("{}"
    when there is none); an object is taken as it is. None when it is neither."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return None
    if not value.strip():
        return {}
    from makini_cli.api.errors import load_json

    try:
        doc = load_json(value)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class Connection(ApiModel):
    key: str
    name: str | None = None
    email: str | None = None
    status: str | None = None
    integration_name: str | None = None
    redirect: str | None = None
    scopes: Any = None
    tags: Any = None
    user_metadata: Any = None
    client_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    connected_at: str | None = None
    # (ext)
    platform: str | None = None
    health: str | None = None
    credits: int | None = None
    last_sync_at: str | None = None
    last_successful_sync_at: str | None = None
    next_sync_at: str | None = None
    # (ext) what the status call says, in the list too (a watch reads many at once)
    sync_status: str | None = None
    error: Any = None
    health_since: str | None = None

    def for_display(self) -> dict[str, Any]:
        """The connection as a detail view shows it: the scopes as a list and the metadata
        as an object (its entries become sub-rows). Machine formats print `to_api()`."""
        data = self.to_api()
        if (names := scope_names(data.get("scopes"))) is not None:
            data["scopes"] = names
        if (meta := metadata_object(data.get("user_metadata"))) is not None:
            data["user_metadata"] = meta
        return data


class ConnectionMetadata(ApiModel):
    """Makini's `ConnectionMetadata`: the connection's documented fields but `tags`, as
    the metadata calls answer them; the metadata itself is in `user_metadata`."""

    key: str | None = None
    name: str | None = None
    status: str | None = None
    scopes: Any = None
    user_metadata: Any = None


class Integration(ApiModel):
    """`GET /api/integrations/current`: the connection behind a connection token; its
    `id` is the connection's key."""

    id: Any = None
    company_name: str | None = None
    email: str | None = None
    provider: str | None = None
    sync_status: str | None = None


class ErrorInfo(ApiModel):
    code: str | None = None
    message: str | None = None


class ConnectionStatus(ApiModel):
    key: str
    name: str | None = None
    platform: str | None = None
    status: str | None = None
    health: str | None = None
    health_since: str | None = None
    sync_status: str | None = None
    last_sync_at: str | None = None
    last_successful_sync_at: str | None = None
    next_sync_at: str | None = None
    error: ErrorInfo | None = None
    checked_at: str | None = None


class MetadataItem(ApiModel):
    """One metadata entry, as a server that lists entries (not Makini's shape) sends it."""

    key: str
    value: Any = None


class CreatedConnection(ApiModel):
    """The documented answer to create: a connection token pair, plus (ext) the key.
    Without it the client learns the key from `GET /api/integrations/current`."""

    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: Any = None
    key: str | None = None


class ConnectionToken(ApiModel):
    """`POST /connections/{key}/token`: a token and its lifetime (seconds or a timestamp)."""

    token: str | None = None
    access_token: str | None = None  # the shape of Makini Link's answer
    expires_in: Any = None

    @property
    def value(self) -> str | None:
        return self.token or self.access_token
