"""Turn an HTTP answer into a typed error.

Branches on the contract's `error.code`, never on the message. Copes with Laravel-style
bodies (`{"message", "errors"}`), empty bodies and non-JSON bodies (a proxy's HTML page).
"""

from __future__ import annotations

import json
from typing import Any

from makini_cli.errors import (
    AuthError,
    CliError,
    ConflictError,
    ExitCode,
    UnavailableError,
)

#: HTTP status → the contract's code, used when a body carries no code of its own.
STATUS_CODES: dict[int, str] = {
    400: "INVALID_REQUEST",
    401: "AUTHENTICATION_FAILED",
    402: "INSUFFICIENT_CREDITS",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_REQUEST",
    409: "CONFLICT",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}

HINTS: dict[str, str] = {
    "AUTHENTICATION_FAILED": "run `makini auth login`, or check MAKINI_CLIENT_ID and "
    "MAKINI_CLIENT_SECRET",
    "TOKEN_EXPIRED": "run `makini auth login` again",
    "PERMISSION_DENIED": "this call needs a different kind of token (admin vs connection)",
    "NOT_FOUND": "check the key; `makini connections list` shows what exists",
    "INSUFFICIENT_CREDITS": "free credits by deleting a connection, or add credits to the account",
    "VALIDATION_FAILED": "fix the fields named above and try again",
    "INVALID_REQUEST": "check the command's arguments (`--help`)",
    "RATE_LIMIT_EXCEEDED": "wait a little, or raise --max-retries",
    "SYNC_ALREADY_RUNNING": "wait for it with `makini sync watch`, or use --if-running skip|wait",
    "REAUTHORIZATION_REQUIRED": "the connected system rejected its credentials: reconnect it",
    "IDEMPOTENCY_KEY_REUSED": "use a new --idempotency-key for a different request",
    "SYSTEM_UNREACHABLE": "the connected system is offline; Makini retries by itself",
}


class ApiError(CliError):
    """An error answer from the API."""

    default_code = "API_ERROR"


class ApiAuthError(AuthError):
    pass


class ApiConflictError(ConflictError):
    pass


class ApiUnavailableError(UnavailableError):
    pass


def exit_code_for(status: int, code: str) -> ExitCode:
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 429 or status >= 500:
        return ExitCode.UNAVAILABLE
    if status == 409:
        return ExitCode.CONFLICT
    return ExitCode.ERROR


def parse_error_body(
    status: int, body: bytes, content_type: str
) -> tuple[str, str, dict[str, Any]]:
    """Return (code, message, details) from any of the body shapes servers send."""
    default_code = STATUS_CODES.get(status, f"HTTP_{status}")
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return default_code, f"the server answered HTTP {status} with an empty body", {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        kind = (
            "an HTML page"
            if "html" in content_type.lower() or text.startswith("<")
            else "a non-JSON body"
        )
        return default_code, f"the server answered HTTP {status} with {kind}", {}
    if isinstance(doc, dict):
        error = doc.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or default_code)
            message = str(error.get("message") or f"HTTP {status}")
            raw = error.get("details")
            details: dict[str, Any] = raw if isinstance(raw, dict) else {}
            return code, message, details
        if isinstance(error, str):
            return default_code, error, {}
        if "message" in doc:
            fields = doc.get("errors")
            laravel: dict[str, Any] = {"fields": fields} if isinstance(fields, dict) else {}
            return default_code, str(doc["message"]) or f"HTTP {status}", laravel
    return default_code, f"the server answered HTTP {status}", {}


def field_summary(details: dict[str, Any]) -> str:
    fields = details.get("fields")
    if not isinstance(fields, dict) or not fields:
        return ""
    parts = []
    for name, problems in fields.items():
        text = "; ".join(map(str, problems)) if isinstance(problems, list) else str(problems)
        parts.append(f"{name}: {text}")
    return " (" + ", ".join(parts) + ")"


def error_from_response(
    status: int, body: bytes, content_type: str, request_id: str | None
) -> CliError:
    code, message, details = parse_error_body(status, body, content_type)
    message = message + field_summary(details)
    exit_code = exit_code_for(status, code)
    cls: type[CliError] = {
        ExitCode.AUTH: ApiAuthError,
        ExitCode.CONFLICT: ApiConflictError,
        ExitCode.UNAVAILABLE: ApiUnavailableError,
    }.get(exit_code, ApiError)
    return cls(
        message,
        code=code,
        hint=HINTS.get(code),
        http_status=status,
        request_id=request_id,
        details=details,
        exit_code=exit_code,
    )
