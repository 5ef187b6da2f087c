"""Connections: list, get, create, delete, tokens, metadata, status (contract §4).

Reads Makini's documented shapes and the richer ones of a server with extensions: the
metadata as a `ConnectionMetadata` (its `user_metadata` a string of JSON) or as a list of
entries, a create answer with or without the new key, a delete answered 200 or 204.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from typing import Any

from makini_cli.api import paths
from makini_cli.api.auth import TokenCache, expiry_from
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient, new_idempotency_key
from makini_cli.api.errors import APIError, APIStatusError, MalformedResponseError
from makini_cli.models.connection import (
    Connection,
    ConnectionStatus,
    ConnectionToken,
    CreatedConnection,
    Integration,
    metadata_object,
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
        per_page: int | None = None,
    ) -> Iterator[Connection]:
        """Every connection (`limit` stops early), only those in `status` or of `health`
        when given. Makini declares no filters on this list and ignores `filter[...]`, so
        against a server without extensions the status filter is applied here.
        `per_page`: a caller reading the whole list often (a watch) asks for big pages."""
        params: dict[str, Any] = {}
        if health:
            self.capabilities.require("status", "filtering connections by health")
            params["filter[health]"] = health
        here = bool(status) and self.capabilities.documented_only
        if status and not here:
            params["filter[status]"] = status
        items = self.client.paginate_as(
            Connection,
            paths.CONNECTIONS,
            params=params,
            limit=None if here else limit,
            per_page=per_page,
        )
        if not here:
            yield from items
            return
        count = 0
        for conn in items:
            if conn.status != status:
                continue
            yield conn
            count += 1
            if limit is not None and count >= limit:
                return

    def get(self, key: str) -> Connection:
        if self.capabilities.has("status"):
            return self.client.get_as(Connection, paths.connection(key))
        # Makini documents no single-connection GET: walk the documented list instead.
        for conn in self.client.paginate_as(Connection, paths.CONNECTIONS):
            if conn.key == key:
                return conn
        raise not_found(key)

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
        created = self.client.request_as(
            CreatedConnection, "POST", paths.CONNECTIONS, json_body=body, idempotency_key=key
        )
        if not created.key and created.access_token:
            learned = self._key_behind(created.access_token)
            if learned:
                created.key = learned
        return created

    def _key_behind(self, token: str) -> str | None:
        """The key of the connection a connection token belongs to (documented:
        `GET /api/integrations/current`, whose `id` is the key); None if that fails, since
        the connection exists either way and a retried create would make a second one."""
        try:
            current = self.client.get_as(Integration, paths.INTEGRATION_CURRENT, auth=token)
        except APIError as exc:
            self.client.notify(f"the new connection's key could not be read: {exc.message}")
            return None
        return str(current.id) if current.id not in (None, "") else None

    def delete(self, key: str) -> None:
        """Makini answers 200 with `{"data":{"key","deleted"}}`; an empty 204 does as well."""
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

    def metadata(self, key: str) -> dict[str, Any]:
        """The connection's metadata as one object (name → value)."""
        path = paths.connection_metadata(key)
        return metadata_in(builtins.list(self.client.paginate(path)), path=path, request_id=None)

    def update_metadata(
        self, key: str, values: dict[str, str], remove: builtins.list[str]
    ) -> dict[str, Any]:
        """Set `values` (documented: `POST …/metadata`, every value a string) and remove
        the entries named in `remove` ((ext) `DELETE …/metadata/{name}`, capability
        `metadata_delete`: Makini documents no way to remove one); the metadata after.

        The capability is checked before anything is written."""
        if remove:
            self.capabilities.require(
                "metadata_delete", "removing metadata (`connections metadata set --unset`)"
            )
        result: dict[str, Any] | None = None
        if values or not remove:
            path = paths.connection_metadata(key)
            body = [{"key": name, "value": str(value)} for name, value in values.items()]
            resp = self.client.request(
                "POST", path, json_body=body, idempotency_key=new_idempotency_key()
            )
            result = metadata_in(resp.data, path=path, request_id=resp.request_id)
        for name in remove:
            path = paths.connection_metadata_entry(key, name)
            resp = self.client.request("DELETE", path)
            result = metadata_in(resp.data, path=path, request_id=resp.request_id)
        return result if result is not None else {}

    def status(self, key: str) -> ConnectionStatus:
        self.capabilities.require("status", "`connections status`")
        return self.client.get_as(ConnectionStatus, paths.connection_status(key))


def metadata_in(data: Any, *, path: str, request_id: str | None) -> dict[str, Any]:
    """The metadata object in what a metadata call answered: Makini's `ConnectionMetadata`
    (one, or a list holding one) whose `user_metadata` is a string of JSON, or a list of
    `{key, value}` entries (as a server with extensions may send)."""
    found: dict[str, Any] = {}
    for item in data if isinstance(data, builtins.list) else [data]:
        if not isinstance(item, dict):
            raise MalformedResponseError(
                f"{path} answered {type(item).__name__ if item is not None else 'nothing'} "
                "where connection metadata was expected",
                request_id=request_id,
                path=path,
            )
        if "user_metadata" in item:
            raw = item["user_metadata"]
            meta = {} if raw is None else metadata_object(raw)
            if meta is None:
                raise MalformedResponseError(
                    f"{path} answered a user_metadata that is not a JSON object",
                    request_id=request_id,
                    path=path,
                )
            found.update(meta)
        elif isinstance(item.get("key"), str) and "value" in item:
            found[item["key"]] = item["value"]
        else:
            raise MalformedResponseError(
                f"{path} answered an object that holds no metadata",
                request_id=request_id,
                path=path,
            )
    return found


def not_found(key: str) -> APIStatusError:
    """The 404 of a connection that a documented list does not hold."""
    return APIStatusError(
        f"connection {key!r} not found",
        code="NOT_FOUND",
        status=404,
        method="GET",
        path=paths.connection(key),
    )
