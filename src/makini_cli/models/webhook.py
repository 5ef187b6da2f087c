"""Webhooks and their deliveries (contract §7, ext).

`secret` is only in the answers to create and rotate-secret; everywhere else a Webhook
has none. Empty `events` or `connection_keys` mean every event, every connection."""

from __future__ import annotations

from makini_cli.models.base import ApiModel


class Webhook(ApiModel):
    id: str
    url: str | None = None
    events: list[str] | None = None
    connection_keys: list[str] | None = None
    enabled: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None
    secret: str | None = None


class DeliveryAttempt(ApiModel):
    at: str | None = None
    status_code: int | None = None
    error: str | None = None
    # int | float: an int stays an int in `-o json`, as the server wrote it
    duration_ms: int | float | None = None


class Delivery(ApiModel):
    id: str
    webhook_id: str | None = None
    event_id: str | None = None
    event: str | None = None
    status: str | None = None
    attempts: list[DeliveryAttempt] | None = None
    next_attempt_at: str | None = None
    created_at: str | None = None

    @property
    def last_attempt(self) -> DeliveryAttempt | None:
        return self.attempts[-1] if self.attempts else None


class Deleted(ApiModel):
    id: str | None = None
    deleted: bool | None = None
