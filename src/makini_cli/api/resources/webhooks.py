"""Webhooks and their deliveries (contract §7, ext; capability `webhooks`).

A webhook's signing secret is in two answers only, create and rotate-secret: an answer to
either without one is malformed, since the secret cannot be asked for again. Neither POST
is repeated without an Idempotency-Key the server honours: a rotation done twice would
leave the caller with a secret that no longer works.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient, new_idempotency_key
from makini_cli.api.errors import MalformedResponseError
from makini_cli.models.webhook import Delivery, Webhook

CAPABILITY = "webhooks"


class WebhooksAPI:
    def __init__(self, client: ApiClient, capabilities: Capabilities) -> None:
        self.client = client
        self.capabilities = capabilities

    def _require(self, operation: str) -> None:
        self.capabilities.require(CAPABILITY, operation)

    def _key(self) -> str | None:
        """An Idempotency-Key where the server honours one (and with it, retries)."""
        return new_idempotency_key() if self.capabilities.has("idempotency") else None

    # ------------------------------------------------------------------ webhooks

    def list(self, *, limit: int | None = None) -> Iterator[Webhook]:
        self._require("`webhooks list`")
        return self.client.paginate_as(Webhook, paths.WEBHOOKS, limit=limit)

    def get(self, webhook_id: str) -> Webhook:
        self._require("`webhooks get`")
        return self.client.get_as(Webhook, paths.webhook(webhook_id))

    def create(
        self,
        *,
        url: str,
        events: builtins.list[str] | None = None,
        connection_keys: builtins.list[str] | None = None,
        enabled: bool = True,
    ) -> Webhook:
        """A new webhook, with its signing secret (shown this once)."""
        self._require("`webhooks create`")
        body: dict[str, Any] = {"url": url, "enabled": enabled}
        if events:
            body["events"] = events
        if connection_keys:
            body["connection_keys"] = connection_keys
        created = self.client.request_as(
            Webhook, "POST", paths.WEBHOOKS, json_body=body, idempotency_key=self._key()
        )
        return _with_secret(created, paths.WEBHOOKS)

    def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: builtins.list[str] | None = None,
        connection_keys: builtins.list[str] | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        """Change what is given; None leaves a field as it is, [] means every event (or
        every connection)."""
        self._require("`webhooks update`")
        body: dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if events is not None:
            body["events"] = events
        if connection_keys is not None:
            body["connection_keys"] = connection_keys
        if enabled is not None:
            body["enabled"] = enabled
        return self.client.request_as(Webhook, "PATCH", paths.webhook(webhook_id), json_body=body)

    def delete(self, webhook_id: str) -> None:
        """Answered 200 with `{"data":{"id","deleted":true}}`; an empty 204 does as well."""
        self._require("`webhooks delete`")
        self.client.request("DELETE", paths.webhook(webhook_id))

    def rotate_secret(self, webhook_id: str) -> Webhook:
        """A new signing secret; the old one stops working at once."""
        self._require("`webhooks rotate-secret`")
        path = paths.webhook_rotate_secret(webhook_id)
        rotated = self.client.request_as(Webhook, "POST", path, idempotency_key=self._key())
        return _with_secret(rotated, path)

    def test(self, webhook_id: str, *, event: str | None = None) -> Delivery:
        """Send one event (a `ping` unless `event` is given) now; the delivery it made."""
        self._require("`webhooks test`")
        body = {"event": event} if event else {}
        return self.client.request_as(
            Delivery,
            "POST",
            paths.webhook_test(webhook_id),
            json_body=body,
            idempotency_key=self._key(),
        )

    # ------------------------------------------------------------------ deliveries

    def deliveries(
        self, webhook_id: str, *, status: str | None = None, limit: int | None = None
    ) -> Iterator[Delivery]:
        """A webhook's deliveries, newest first."""
        self._require("`webhooks deliveries`")
        return self._deliveries(webhook_id, status, limit)

    def _deliveries(
        self, webhook_id: str, status: str | None, limit: int | None
    ) -> Iterator[Delivery]:
        params = {"filter[status]": status} if status else None
        count = 0
        for delivery in self.client.paginate_as(
            Delivery,
            paths.webhook_deliveries(webhook_id),
            params=params,
            limit=None if status else limit,
        ):
            # Checked here too: a server that ignored the filter must not show others.
            if status is not None and delivery.status != status:
                continue
            yield delivery
            count += 1
            if limit is not None and count >= limit:
                return

    def delivery(self, delivery_id: str) -> Delivery:
        self._require("`webhooks deliveries`")
        return self.client.get_as(Delivery, paths.delivery(delivery_id))

    def retry(self, delivery_id: str) -> Delivery:
        """Attempt a delivery again now; a failed one becomes pending again."""
        self._require("`webhooks retry`")
        return self.client.request_as(
            Delivery, "POST", paths.delivery_retry(delivery_id), idempotency_key=self._key()
        )


def _with_secret(webhook: Webhook, path: str) -> Webhook:
    if not webhook.secret:
        raise MalformedResponseError(
            f"{path} answered a webhook without its signing secret, which cannot be asked "
            "for again",
            path=path,
        )
    return webhook
