"""Any call to the API, by its path (`makini api`), with the token the path needs.

Contract §1: `/api/system/*` takes the admin token; `/api/integrations/*`,
`/api/eam|erp|wms/*`, `/api/raw/*` and `/api/passthrough` take a connection token; the
token exchange (`/link/token`) is login's, not a call to make by hand. Everything else
gets the admin token, as most of the API does.

Connection tokens live 300 s: a call renews one that is about to run out, or that the
server says has (`ConnectionTokenSession`), and a walk over many pages does so before
each page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient, ApiResponse
from makini_cli.api.errors import (
    STATUS_CODES,
    APIStatusError,
    MalformedResponseError,
    error_from_response,
)
from makini_cli.api.resources.connections import ConnectionsAPI
from makini_cli.api.retry import RETRY_STATUSES
from makini_cli.api.session import ConnectionTokenSession

#: which token a path takes: "admin", "connection", or "login" (the token exchange)
TokenKind = Literal["admin", "connection", "login"]

_CONNECTION_PATH = re.compile(
    r"^/api/(?:integrations|eam|erp|wms|raw)(?:/|$)|^/api/passthrough/?$", re.IGNORECASE
)
_LOGIN_PATH = re.compile(r"^/link/token/?$", re.IGNORECASE)


class InvalidPath(ValueError):
    """What the user gave as a path is not a path on the profile's server."""


def api_path(text: str) -> str:
    """`text` as a path on the profile's server: a leading `/` added, a query kept.

    An absolute URL is refused, whatever its host: the admin or connection token goes with
    every call, and a call to another host would hand it over. So are `.` and `..`
    segments, which would make the path say one thing to the token choice and another to
    the server."""
    text = text.strip()
    if not text:
        raise InvalidPath("the path is empty")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise InvalidPath(f"{text!r} is not a path ({exc})") from None
    if parts.scheme or parts.netloc or text.startswith("//"):
        raise InvalidPath(f"{text!r} is a URL, not a path on the profile's server")
    if parts.fragment or "#" in text:
        raise InvalidPath(f"{text!r} holds a fragment (#…), which no API path has")
    path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
    if any(segment in (".", "..") for segment in path.split("/")):
        raise InvalidPath(f"{text!r} holds a . or .. segment")
    return path + (f"?{parts.query}" if parts.query else "")


def token_kind(path: str) -> TokenKind:
    """The token a call to `path` (as `api_path` gives it) takes."""
    bare = path.partition("?")[0]
    if _LOGIN_PATH.match(bare):
        return "login"
    if _CONNECTION_PATH.match(bare):
        return "connection"
    return "admin"


def kept_error_statuses(idempotency_key: str | None) -> tuple[int, ...]:
    """The error statuses the client may hand back as answers instead of raising them,
    because it would raise them at once anyway: not 401 (an expired admin token is
    renewed and the call repeated), not the statuses that are retried, and not 409 when
    an Idempotency-Key is sent (an earlier try still in progress is waited for)."""
    skipped = {401, *RETRY_STATUSES}
    if idempotency_key is not None:
        skipped.add(409)
    return tuple(s for s in range(400, 600) if s not in skipped)


class GenericAPI:
    def __init__(
        self, client: ApiClient, capabilities: Capabilities, connections: ConnectionsAPI
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self.connections = connections

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        connection: str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        keep_errors: bool = False,
    ) -> ApiResponse:
        """One call: with the admin token, or with `connection`'s token when given.

        `keep_errors` hands back the error answers the client would not retry (so their
        headers can be shown) instead of raising them; `error_of` makes the error of one.
        Retries, the admin token's renewal and 429/5xx are as for every call."""
        kept = kept_error_statuses(idempotency_key) if keep_errors else ()
        kwargs: dict[str, Any] = {
            "params": params or None,
            "json_body": json_body,
            "headers": headers,
            "idempotency_key": idempotency_key,
            "allow_status": kept,
        }
        try:
            if connection is None:
                return self.client.request(method, path, **kwargs)
            session = ConnectionTokenSession(self.connections, connection)
            return session.request(self.client, method, path, **kwargs)
        except MalformedResponseError as exc:
            # A kept error status whose body is no JSON: the error it is all the same.
            if exc.status is None or exc.status not in kept:
                raise
            raise APIStatusError(
                f"the server answered HTTP {exc.status} with a body that is not JSON",
                code=STATUS_CODES.get(exc.status, f"HTTP_{exc.status}"),
                status=exc.status,
                request_id=exc.request_id,
                method=method.upper(),
                path=path,
            ) from None

    @staticmethod
    def error_of(resp: ApiResponse, method: str, path: str) -> APIStatusError:
        """The error a kept error answer (see `request`) stands for."""
        body = b"" if resp.body is None else json.dumps(resp.body).encode("utf-8")
        return error_from_response(
            resp.status,
            body,
            "application/json",
            resp.request_id,
            method=method.upper(),
            path=path,
        )

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        connection: str | None = None,
        per_page: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page (one page in memory at a time)."""
        if connection is None:
            yield from self.client.paginate(path, params=params, per_page=per_page)
            return
        session = ConnectionTokenSession(self.connections, connection)
        yield from self.client.paginate(
            path, params=params, per_page=per_page, send=session.page_getter(self.client)
        )
