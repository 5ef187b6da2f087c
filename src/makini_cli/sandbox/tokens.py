"""Bearer tokens: admin pairs, connection pairs and single connection tokens.

Tokens are JWT-shaped, as Makini's `bearerFormat: JWT` and its samples are
(`eyJ0eXAiOiJKV1Qi…` for access tokens, `eyJ0eXAiOiJSZWZy…` for refresh tokens): a
header, claims (`iss`, `aud`, `sub`, `iat`, `exp`, a random `jti`) and 32 random bytes
where a signature goes. The sandbox trusts a token by looking it up, never by reading
its claims, so the "signature" needs no key. A connection token issued through the
admin API lives 300 s, the documented sample's `expires_in`.

Only the SHA-256 of a token is stored, so a copied `sandbox.db` grants nothing. A
token has an audience (`admin` for `/api/system/*` and `/sandbox/*`, `connection` for
the token-scoped APIs) and a subject (the client id, or a connection key). Tokens
issued together share a `pair_id`: refreshing revokes the whole previous pair.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from makini_cli.sandbox.errors import ApiError

Audience = Literal["admin", "connection"]

DAY = 86_400.0
ACCESS_TTL = 30 * DAY
REFRESH_TTL = 31 * DAY
CONNECTION_TOKEN_TTL = 300.0

#: The JOSE header of each kind of token, as in Makini's samples.
_HEADERS = {"access": {"typ": "JWT", "alg": "HS256"}, "refresh": {"typ": "Refresh", "alg": "HS256"}}
_BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="makini-sandbox"'}


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_at: float


@dataclass(frozen=True)
class Principal:
    audience: Audience
    subject: str
    token_hash: str

    @property
    def idempotency_subject(self) -> str:
        # Per subject, not per token: a client that refreshes mid-retry keeps its keys.
        return f"{self.audience}:{self.subject}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: Mapping[str, object]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _new_token(audience: Audience, kind: str, subject: str, now: float, ttl: float) -> str:
    claims: dict[str, object] = {
        "iss": "makini-sandbox",
        "aud": audience,
        "sub": subject,
        "iat": int(now),
        "exp": int(now + ttl),
        "jti": secrets.token_hex(16),
    }
    signature = _b64url(secrets.token_bytes(32))
    return f"{_segment(_HEADERS[kind])}.{_segment(claims)}.{signature}"


def _insert(
    conn: sqlite3.Connection,
    raw: str,
    *,
    kind: str,
    audience: Audience,
    subject: str,
    pair_id: str,
    now: float,
    ttl: float,
) -> None:
    conn.execute(
        "INSERT INTO tokens (token_hash, kind, audience, subject, pair_id, issued_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (hash_token(raw), kind, audience, subject, pair_id, now, now + ttl),
    )


def issue_pair(conn: sqlite3.Connection, now: float, audience: Audience, subject: str) -> TokenPair:
    pair_id = uuid.uuid4().hex
    access = _new_token(audience, "access", subject, now, ACCESS_TTL)
    refresh = _new_token(audience, "refresh", subject, now, REFRESH_TTL)
    for raw, kind, ttl in ((access, "access", ACCESS_TTL), (refresh, "refresh", REFRESH_TTL)):
        _insert(
            conn,
            raw,
            kind=kind,
            audience=audience,
            subject=subject,
            pair_id=pair_id,
            now=now,
            ttl=ttl,
        )
    return TokenPair(access, refresh, now + ACCESS_TTL)


def issue_connection_token(
    conn: sqlite3.Connection, now: float, connection_key: str
) -> tuple[str, float]:
    """A single short-lived connection token (no refresh token), and its lifetime."""
    raw = _new_token("connection", "access", connection_key, now, CONNECTION_TOKEN_TTL)
    _insert(
        conn,
        raw,
        kind="access",
        audience="connection",
        subject=connection_key,
        pair_id=uuid.uuid4().hex,
        now=now,
        ttl=CONNECTION_TOKEN_TTL,
    )
    return raw, CONNECTION_TOKEN_TTL


def _row(conn: sqlite3.Connection, raw: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM tokens WHERE token_hash = ?", (hash_token(raw),)
    ).fetchone()
    return row


def _unauthenticated(message: str, code: str = "AUTHENTICATION_FAILED") -> ApiError:
    return ApiError(401, code, message, headers=_BEARER_CHALLENGE)


def authenticate(conn: sqlite3.Connection, now: float, raw: str | None) -> Principal:
    """The principal behind an access token, or the 401 that explains why there is none."""
    if not raw:
        raise _unauthenticated("Missing bearer token: send 'Authorization: Bearer <token>'.")
    row = _row(conn, raw)
    if row is None:
        raise _unauthenticated("Unknown access token.")
    if row["kind"] != "access":
        raise _unauthenticated(
            "A refresh token cannot authorize API calls; exchange it at POST /link/token."
        )
    if row["revoked_at"] is not None:
        raise _unauthenticated("This access token was revoked.")
    if row["expires_at"] <= now:
        raise _unauthenticated("The access token has expired.", "TOKEN_EXPIRED")
    return Principal(row["audience"], row["subject"], row["token_hash"])


def peek_principal(conn: sqlite3.Connection, now: float, raw: str | None) -> Principal | None:
    """Like `authenticate`, but None instead of an error."""
    try:
        return authenticate(conn, now, raw)
    except ApiError:
        return None


def refresh_pair(conn: sqlite3.Connection, now: float, raw_refresh: str) -> TokenPair:
    """Rotate: revoke the pair `raw_refresh` belongs to and issue a new one."""
    row = _row(conn, raw_refresh)
    if row is None or row["kind"] != "refresh":
        raise _unauthenticated("Unknown refresh token.")
    if row["revoked_at"] is not None:
        raise _unauthenticated(
            "This refresh token was already used or revoked; request a new pair."
        )
    if row["expires_at"] <= now:
        raise _unauthenticated(
            "The refresh token has expired; request a new pair with client_credentials.",
            "TOKEN_EXPIRED",
        )
    conn.execute(
        "UPDATE tokens SET revoked_at = ? WHERE pair_id = ? AND revoked_at IS NULL",
        (now, row["pair_id"]),
    )
    return issue_pair(conn, now, row["audience"], row["subject"])


def revoke_subject(conn: sqlite3.Connection, now: float, audience: Audience, subject: str) -> int:
    cursor = conn.execute(
        "UPDATE tokens SET revoked_at = ? WHERE audience = ? AND subject = ? "
        "AND revoked_at IS NULL",
        (now, audience, subject),
    )
    return cursor.rowcount
