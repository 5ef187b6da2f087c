from __future__ import annotations

from typing import Any

from makini_cli.models.base import ApiModel


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


class ErrorInfo(ApiModel):
    code: str | None = None
    message: str | None = None


class ConnectionStatus(ApiModel):
    key: str
    status: str | None = None
    health: str | None = None
    sync_status: str | None = None
    last_sync_at: str | None = None
    last_successful_sync_at: str | None = None
    next_sync_at: str | None = None
    error: ErrorInfo | None = None
    checked_at: str | None = None


class MetadataItem(ApiModel):
    key: str
    value: Any = None


class CreatedConnection(ApiModel):
    """The documented answer to create: a connection token pair, plus (ext) the key."""

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
