"""`POST /link/token`: the OAuth token endpoint (contract §1), JSON or form-encoded."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response

from makini_cli.sandbox import tokens
from makini_cli.sandbox.errors import ApiError, validation_failed
from makini_cli.sandbox.routes.common import NowDep, RuntimeDep

_GRANT_FIELDS = {
    "client_credentials": ("client_id", "client_secret"),
    "refresh_token": ("refresh_token", "client_id", "client_secret"),
}

_TOKEN_BODY_SCHEMA = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {
            "type": "string",
            "enum": ["client_credentials", "refresh_token", "authorization_code"],
        },
        "client_id": {"type": "string"},
        "client_secret": {"type": "string"},
        "refresh_token": {"type": "string"},
        "code": {"type": "string"},
        "redirect_uri": {"type": "string"},
    },
}


async def token_fields(request: Request) -> dict[str, Any]:
    """The token request's fields, from a form-encoded or a JSON body."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "INVALID_REQUEST", "The form body is not valid UTF-8.") from None
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "INVALID_REQUEST", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(
            400, "INVALID_REQUEST", "The body must be a JSON object or form-encoded fields."
        )
    return data


def build_router() -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.post(
        "/link/token",
        summary="Issue or refresh a token pair",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _TOKEN_BODY_SCHEMA},
                    "application/x-www-form-urlencoded": {"schema": _TOKEN_BODY_SCHEMA},
                },
            }
        },
    )
    def issue_token(
        response: Response,
        runtime: RuntimeDep,
        now: NowDep,
        fields: Annotated[dict[str, Any], Depends(token_fields)],
    ) -> dict[str, Any]:
        grant = fields.get("grant_type")
        if not isinstance(grant, str) or not grant:
            raise validation_failed({"grant_type": ["The grant_type field is required."]})
        if grant == "authorization_code":
            raise ApiError(
                400,
                "INVALID_REQUEST",
                "The sandbox has no Makini Link UI, so it never issues authorization codes. "
                "Use grant_type=client_credentials for an admin token, and "
                "POST /api/system/connections/{key}/token for a connection token.",
                details={"grant_type": grant},
            )
        if grant not in _GRANT_FIELDS:
            raise ApiError(
                400,
                "INVALID_REQUEST",
                f"Unsupported grant_type {grant!r}; use client_credentials or refresh_token.",
                details={"grant_type": grant},
            )
        missing = {
            name: [f"The {name} field is required."]
            for name in _GRANT_FIELDS[grant]
            if not isinstance(fields.get(name), str) or not fields[name]
        }
        if missing:
            raise validation_failed(missing)
        settings = runtime.settings
        if not (
            hmac.compare_digest(str(fields["client_id"]).encode(), settings.client_id.encode())
            and hmac.compare_digest(
                str(fields["client_secret"]).encode(), settings.client_secret.encode()
            )
        ):
            raise ApiError(401, "AUTHENTICATION_FAILED", "Invalid client credentials.")
        with runtime.store.transaction() as conn:
            if grant == "client_credentials":
                pair = tokens.issue_pair(conn, now, "admin", settings.client_id)
            else:
                pair = tokens.refresh_pair(conn, now, str(fields["refresh_token"]))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "bearer",
            "expires_in": int(pair.access_expires_at),
        }

    return router
