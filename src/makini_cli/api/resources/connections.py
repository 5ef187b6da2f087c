"""Connections: list, get, create, delete, tokens, metadata, status (contract §4)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from typing import Any

from makini_cli.api import paths
from makini_cli.api.auth import TokenCache, expiry_from
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient, cast_to, new_idempotency_key
from makini_cli.api.errors import APIStatusError, MalformedResponseError
from makini_cli.models.connection import (
    Connection,
    ConnectionStatus,
    ConnectionToken,
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
        yield from self.client.paginate_as(
            Connection, paths.CONNECTIONS, params=params, limit=limit
        )

    def get(self, key: str) -> Connection:
        if self.capabilities.has("status"):
            return self.client.get_as(Connection, paths.connection(key))
        # Makini documents no single-connection GET: walk the documented list instead.
        for conn in self.client.paginate_as(Connection, paths.CONNECTIONS):
            if conn.key == key:
                return conn
        raise APIStatusError(
            f"connection {key!r} not found",
            code="NOT_FOUND",
            status=404,
            method="GET",
            path=paths.connection(key),
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
        return self.client.request_as(
            CreatedConnection, "POST", paths.CONNECTIONS, json_body=body, idempotency_key=key
        )

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
        answer = self.client.request_as(
            ConnectionToken,
            "POST",
            paths.connection_token(key),
            idempotency_key=new_idempotency_key(),
        )
        token = answer.value
        if not token:
            raise MalformedResponseError(
                "the server issued no connection token", path=paths.connection_token(key)
            )
        expires_at = expiry_from(answer.expires_in, self.wall())
        cache.save({"token": token, "expires_at": expires_at})
        return token, expires_at

    def metadata(self, key: str) -> Iterator[MetadataItem]:
        yield from self.client.paginate_as(MetadataItem, paths.connection_metadata(key))

    def set_metadata(self, key: str, items: dict[str, Any]) -> builtins.list[MetadataItem]:
        body = [{"key": k, "value": v} for k, v in items.items()]
        resp = self.client.request(
            "POST",
            paths.connection_metadata(key),
            json_body=body,
            idempotency_key=new_idempotency_key(),
        )
        path = paths.connection_metadata(key)
        if not isinstance(resp.data, list):
            # One object is what Makini documents; a list is what this sandbox answered.
            return [cast_to(MetadataItem, resp.data, path=path, request_id=resp.request_id)]
        return [cast_to(MetadataItem, x, path=path, request_id=resp.request_id) for x in resp.data]

    def status(self, key: str) -> ConnectionStatus:
        self.capabilities.require("status", "`connections status`")
        return self.client.get_as(ConnectionStatus, paths.connection_status(key))
