"""A connection token kept good across the calls of one operation (contract §1).

Makini's connection token lives 300 s; a sync, or an export of many pages, may take
longer. The token is re-issued (with the admin token) when it is about to run out, and
once more when the server answers 401 TOKEN_EXPIRED anyway (its clock, not ours,
decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from makini_cli.api.client import ApiClient, ApiResponse, PageGetter
from makini_cli.api.errors import APIStatusError
from makini_cli.api.resources.connections import CONNECTION_TOKEN_MARGIN_S, ConnectionsAPI


class ConnectionTokenSession:
    """A connection's token for the calls that follow, issued at once (a cached one is
    reused while it is good for another minute)."""

    def __init__(self, connections: ConnectionsAPI, key: str) -> None:
        self.connections = connections
        self.key = key
        self.token, self.expires_at = connections.token(key)

    def _renew(self) -> None:
        self.token, self.expires_at = self.connections.token(self.key, fresh=True)

    def request(self, client: ApiClient, method: str, path: str, **kwargs: Any) -> ApiResponse:
        if (
            self.expires_at is not None
            and self.expires_at - CONNECTION_TOKEN_MARGIN_S <= self.connections.wall()
        ):
            self._renew()
        try:
            return client.request(method, path, auth=self.token, **kwargs)
        except APIStatusError as exc:
            if exc.status != 401 or exc.code != "TOKEN_EXPIRED":
                raise
        self._renew()
        return client.request(method, path, auth=self.token, **kwargs)

    def page_getter(self, client: ApiClient) -> PageGetter:
        """What `client.paginate(send=…)` fetches each page with: every page with a token
        that is good for it, so a walk may outlive any one token."""

        def get(path: str, params: Mapping[str, Any]) -> ApiResponse:
            return self.request(client, "GET", path, params=params)

        return get
