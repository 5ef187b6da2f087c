"""Connections: list, get, create, delete, tokens, metadata, status (contract §4)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from typing import Any

from makini_cli.api import paths
from makini_cli.api.auth import TokenCache, expiry_from
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient, new_idempotency_key
from makini_cli.api.errors import ApiError
from makini_cli.models.connection import (
    Connection,
    ConnectionStatus,
    CreatedConnection,
    MetadataItem,
)

#: A cached connection token is reused until this long before it expires.
CONNECTION_TOKEN_MARGIN_S = 60.0


class ConnectionsAPI:
    def __init__(
        self,
        client: ApiClient,
        capabilities: Capabilities,
        token_cache: Callable[[str], TokenCache],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self.token_cache = token_cache
        self.wall = wall

    def list(
        self,
        *,
        status: str | None = None,
        health: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Connection]:
        params: dict[str, Any] = {}
        if status:
            params["filter[status]"] = status
        if health:
            self.capabilities.require("status", "filtering connections by health")
            params["filter[health]"] = health
        for item in self.client.paginate(paths.CONNECTIONS, params=params, limit=limit):
            yield Connection.model_validate(item)

    def get(self, key: str) -> Connection:
        if self.capabilities.has("status"):
            return Connection.model_validate(self.client.get(paths.connection(key)).data)
        # Makini documents no single-connection GET: walk the documented list instead.
        for item in self.client.paginate(paths.CONNECTIONS):
            if str(item.get("key")) == key:
                return Connection.model_validate(item)
        raise ApiError(
            f"connection {key!r} not found",
            code="NOT_FOUND",
            http_status=404,
            hint="`makini connections list` shows the keys",
        )

    def create(
        self,
        *,
        name: str,
        email: str,
        provider: str,
        credentials: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> CreatedConnection:
        body = {"name": name, "email": email, "provider": provider, "credentials": credentials}
        # Without the server's idempotency extension a retried create could create twice,
        # so the key (and with it any retry of this POST) is only used where it is honoured.
        key = None
        if self.capabilities.has("idempotency"):
            key = idempotency_key or new_idempotency_key()
        resp = self.client.request("POST", paths.CONNECTIONS, json_body=body, idempotency_key=key)
        return CreatedConnection.model_validate(resp.data)

    def delete(self, key: str) -> None:
        self.client.request("DELETE", paths.connection(key))
        self.token_cache(key).clear()

    def token(self, key: str, *, fresh: bool = False) -> tuple[str, float | None]:
        """A connection token, from the cache while it is still good for a minute."""
        cache = self.token_cache(key)
        record = None if fresh else cache.load()
        if record and isinstance(record.get("token"), str):
            expires_at = record.get("expires_at")
            if expires_at is None or float(expires_at) - CONNECTION_TOKEN_MARGIN_S > self.wall():
                return str(record["token"]), expires_at
        # Issuing a token changes nothing that a retry could duplicate harmfully, and
        # without a key a POST would never be retried after a 503.
        resp = self.client.request(
            "POST", paths.connection_token(key), idempotency_key=new_idempotency_key()
        )
        data = resp.data if isinstance(resp.data, dict) else {}
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not token:
            raise ApiError(
                "the server issued no connection token",
                code="MALFORMED_RESPONSE",
                request_id=resp.request_id,
            )
        expires_at = expiry_from(data.get("expires_in"), self.wall())
        cache.save({"token": token, "expires_at": expires_at})
        return token, expires_at

    def metadata(self, key: str) -> Iterator[MetadataItem]:
        for item in self.client.paginate(paths.connection_metadata(key)):
            yield MetadataItem.model_validate(item)

    def set_metadata(self, key: str, items: dict[str, Any]) -> builtins.list[MetadataItem]:
        body = [{"key": k, "value": v} for k, v in items.items()]
        resp = self.client.request(
            "POST",
            paths.connection_metadata(key),
            json_body=body,
            idempotency_key=new_idempotency_key(),
        )
        data = resp.data if isinstance(resp.data, list) else []
        return [MetadataItem.model_validate(x) for x in data]

    def status(self, key: str) -> ConnectionStatus:
        self.capabilities.require("status", "`connections status`")
        return ConnectionStatus.model_validate(self.client.get(paths.connection_status(key)).data)
