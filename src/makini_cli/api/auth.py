"""Admin-token providers: a static token, or client credentials with a cached, refreshed pair.

Makini's `/link/token` answers `expires_in` as an absolute Unix timestamp while the
connection-token call answers a duration; `expiry_from` accepts either (contract §1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from makini_cli.api.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    DeadlineExceededError,
    MalformedResponseError,
)

#: A cached token is used until this many seconds before it expires.
EXPIRY_MARGIN_S = 120.0

TokenExchange = Callable[[dict[str, str]], dict[str, Any]]


def expiry_from(expires_in: Any, now: float) -> float | None:
    try:
        number = float(expires_in)
    except (TypeError, ValueError):
        return None
    return number if number > 1e9 else now + number


class TokenCache(Protocol):
    def load(self) -> dict[str, Any] | None: ...
    def save(self, data: dict[str, Any]) -> None: ...
    def clear(self) -> None: ...


class MemoryTokenCache:
    def __init__(self) -> None:
        self._data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self._data

    def save(self, data: dict[str, Any]) -> None:
        self._data = dict(data)

    def clear(self) -> None:
        self._data = None


class SecretTokenCache:
    """Keeps a token record as JSON under one name in a secret store (keyring or file)."""

    class _Store(Protocol):
        def get(self, name: str) -> str | None: ...
        def set(self, name: str, value: str) -> None: ...
        def delete(self, name: str) -> None: ...

    def __init__(self, store: _Store, name: str) -> None:
        self.store = store
        self.name = name

    def load(self) -> dict[str, Any] | None:
        raw = self.store.get(self.name)
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    def save(self, data: dict[str, Any]) -> None:
        self.store.set(self.name, json.dumps(data, separators=(",", ":")))

    def clear(self) -> None:
        self.store.delete(self.name)


class TokenProvider(Protocol):
    kind: str

    def token(self) -> str: ...

    def recover(self, code: str) -> bool:
        """Called once after a 401 with `code`; True if a fresh token is now available."""
        ...


@dataclass
class StaticToken:
    value: str
    kind: str = "static"
    source: str = "MAKINI_TOKEN"

    def token(self) -> str:
        return self.value

    def recover(self, code: str) -> bool:
        return False


class ClientCredentials:
    """Client-credentials grant with a cached access/refresh pair."""

    kind = "client_credentials"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        cache: TokenCache,
        *,
        exchange: TokenExchange | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.cache = cache
        self.exchange = exchange
        self.wall = wall

    def __repr__(self) -> str:  # the secret must not leak through a repr in a trace
        return f"ClientCredentials(client_id={self.client_id!r})"

    def _store(self, answer: dict[str, Any]) -> str:
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise MalformedResponseError(
                "the token endpoint answered without an access_token", path="/link/token"
            )
        now = self.wall()
        record = {
            "access_token": access,
            "refresh_token": answer.get("refresh_token"),
            "expires_at": expiry_from(answer.get("expires_in"), now),
            "client_id": self.client_id,
            "obtained_at": now,
        }
        self.cache.save(record)
        return access

    def _grant(self, body: dict[str, str]) -> str:
        if self.exchange is None:
            raise RuntimeError("ClientCredentials used before its exchange was wired")
        return self._store(self.exchange(body))

    def _client_credentials(self) -> str:
        return self._grant(
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret,
            }
        )

    def _refresh(self, refresh_token: str) -> str:
        return self._grant(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.client_id,
                "client_secret": self._secret,
            }
        )

    def cached(self) -> dict[str, Any] | None:
        record = self.cache.load()
        if not record or record.get("client_id") != self.client_id:
            return None
        return record

    def token(self) -> str:
        record = self.cached()
        if record and isinstance(record.get("access_token"), str):
            expires_at = record.get("expires_at")
            if expires_at is None or float(expires_at) - EXPIRY_MARGIN_S > self.wall():
                return str(record["access_token"])
            if record.get("refresh_token"):
                try:
                    return self._refresh(str(record["refresh_token"]))
                except APIError as exc:
                    if not _start_over(exc):
                        raise
                    # spent, revoked, or its answer lost: start over below
        return self._client_credentials()

    def recover(self, code: str) -> bool:
        record = self.cached()
        if code == "TOKEN_EXPIRED" and record and record.get("refresh_token"):
            try:
                self._refresh(str(record["refresh_token"]))
                return True
            except APIError as exc:
                if not _start_over(exc):
                    raise
        # A revoked or unknown cached token (a reset sandbox, a rotated secret): start over.
        self.cache.clear()
        self._client_credentials()
        return True


def _start_over(exc: APIError) -> bool:
    """Whether a failed refresh leaves a client-credentials exchange as the way on.

    Yes when the grant was refused (the refresh token is spent or revoked), and when its
    answer was lost: the connection dropped or timed out after the request went out, or
    the server failed (5xx) or turned it away (429). A refresh is not repeated (the client
    does not retry it): if it did arrive, it invalidated the cached pair, and its repeat
    would only be refused. The client-credentials exchange needs nothing cached and is
    retried like a GET. Not when nothing reached the server (refused, DNS, TLS): the
    cached refresh token is still good and an exchange would fail the same way; nor once
    the caller's deadline has run out.
    """
    if isinstance(exc, DeadlineExceededError):
        return False
    if isinstance(exc, APIStatusError):
        status = exc.status or 0
        return status in (400, 401, 403, 429) or status >= 500
    if isinstance(exc, APIConnectionError):
        return exc.kind in ("timeout", "network")
    return False
