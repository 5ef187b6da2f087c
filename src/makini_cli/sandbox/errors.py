"""The sandbox's API errors and the one envelope they are answered with (contract §3).

Domain code raises `ApiError`; the app turns it, and every other failure, into
`{"error": {"code", "type", "message", "request_id", "details"}}`.

Codes are the contract's table only, so a client written against Makini meets no code
it cannot know; HTTP statuses the table has no row for (405, 413, 421) carry
`INVALID_REQUEST`. The one (ext) code, `SYNC_NOT_CANCELLABLE`, comes only from the (ext)
cancel route.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

ERROR_TYPES: Mapping[str, str] = {
    "INVALID_REQUEST": "invalid_request_error",
    "VALIDATION_FAILED": "invalid_request_error",
    "AUTHENTICATION_FAILED": "authentication_error",
    "TOKEN_EXPIRED": "authentication_error",
    "INSUFFICIENT_CREDITS": "billing_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "SYNC_ALREADY_RUNNING": "conflict_error",
    "SYNC_NOT_CANCELLABLE": "conflict_error",
    "IDEMPOTENCY_KEY_REUSED": "conflict_error",
    "REAUTHORIZATION_REQUIRED": "connection_error",
    "SYSTEM_UNREACHABLE": "connection_error",
    "RATE_LIMIT_EXCEEDED": "rate_limit_error",
    "INTERNAL_ERROR": "api_error",
    "SERVICE_UNAVAILABLE": "api_error",
}

# The code an HTTP status gets when nothing more specific is known (Starlette's own
# errors, injected faults).
DEFAULT_CODES: Mapping[int, str] = {
    400: "INVALID_REQUEST",
    401: "AUTHENTICATION_FAILED",
    402: "INSUFFICIENT_CREDITS",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "IDEMPOTENCY_KEY_REUSED",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def default_code(status: int) -> str:
    if status in DEFAULT_CODES:
        return DEFAULT_CODES[status]
    return "INTERNAL_ERROR" if status >= 500 else "INVALID_REQUEST"


def error_type(code: str) -> str:
    return ERROR_TYPES.get(code, "api_error")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def validation_failed(fields: Mapping[str, list[str]], message: str | None = None) -> ApiError:
    names = ", ".join(fields)
    return ApiError(
        422,
        "VALIDATION_FAILED",
        message or f"The request has invalid fields: {names}.",
        details={"fields": dict(fields)},
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} was not found.")


def envelope(
    code: str, message: str, request_id: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "type": error_type(code),
            "message": message,
            "request_id": request_id,
            "details": dict(details or {}),
        }
    }


def envelope_bytes(
    code: str, message: str, request_id: str, details: Mapping[str, Any] | None = None
) -> bytes:
    # Compact, like FastAPI's JSONResponse, so every error body looks the same.
    return json.dumps(envelope(code, message, request_id, details), separators=(",", ":")).encode()
