"""The API's errors, in the API's terms: what was asked, what came back. No exit codes, no
hints and no command names: the CLI turns these into what a user sees at its one
boundary (`makini_cli.failures`), as an SDK's caller would.

Parsing branches on the contract's `error.code`, never on the message, and copes with
Laravel-style bodies (`{"message", "errors"}`), empty bodies and non-JSON bodies (a
proxy's HTML page).
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper JSON than this is no answer of this API (its objects nest a few levels), and
#: decoding, validating or printing it would overflow a recursion limit somewhere.
MAX_JSON_DEPTH = 64
#: How much of the server's own text (an error message, a field list) a message quotes:
#: the error is one line on a terminal, not the server's whole body.
MAX_QUOTED = 300
#: The contract's codes are short identifiers; anything else is not a code to branch on.
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
#: A request id longer than this is no id: the error line stays one short line.
MAX_REQUEST_ID = 128

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


class APIError(Exception):
    """Base of every error the API layer raises."""

    default_code = "API_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status
        self.request_id = request_id
        self.details: dict[str, Any] = details or {}
        #: the request that failed, so the CLI can say which kind of thing was not found
        self.method = method
        self.path = path


class APIStatusError(APIError):
    """The server answered with an error status."""


class APIConnectionError(APIError):
    """No HTTP answer: the name did not resolve, the connection was refused or timed out,
    the certificate was not trusted, the proxy failed.

    `kind` is one of: dns, tls_certificate, tls, proxy, refused, connect_timeout, connect,
    timeout, network, unsupported; `detail` refines it (tls_certificate: hostname|expired,
    tls: not_tls).
    """

    default_code = "UNREACHABLE"

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        url: str,
        detail: str = "",
        proxy: str | None = None,
        proxy_variable: str | None = None,
        retries: int = 0,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.kind = kind
        self.url = url
        self.detail = detail
        self.proxy = proxy
        self.proxy_variable = proxy_variable
        self.retries = retries


class DeadlineExceededError(APIConnectionError):
    """The time the caller allowed the whole operation (`ApiClient.deadline`) ran out
    before an answer came, or left no room for the next try.

    `sent` is True when a request was on its way: it may have been carried out (a POST
    that starts a sync may have started it)."""

    default_code = "DEADLINE_EXCEEDED"

    def __init__(self, message: str, *, url: str, sent: bool, method: str, path: str) -> None:
        super().__init__(message, kind="timeout", url=url)
        self.sent = sent
        self.method = method
        self.path = path


class MalformedResponseError(APIError):
    """The server answered, but not with what the API promises."""

    default_code = "MALFORMED_RESPONSE"


class InvalidRequestURLError(APIError):
    """A request URL httpx refuses to build (a path too long to send): what the caller
    passed in, not anything the server did."""

    default_code = "INVALID_URL"


class NotAuthenticatedError(APIError):
    """A call needs credentials and none were configured."""

    default_code = "NOT_LOGGED_IN"


class CapabilityMissingError(APIError):
    """The server lacks an extension the operation needs (contract: capabilities)."""

    default_code = "CAPABILITY_MISSING"

    def __init__(
        self, message: str, *, capability: str, operation: str, documented_only: bool = True
    ) -> None:
        super().__init__(message)
        self.capability = capability
        self.operation = operation
        #: the server offers no extension at all (Makini today), not just not this one
        self.documented_only = documented_only


class ClientSetupError(APIError):
    """The client cannot be set up as configured (an unusable CA bundle)."""

    default_code = "CLIENT_SETUP_FAILED"

    def __init__(self, message: str, *, code: str, setting: str) -> None:
        super().__init__(message, code=code)
        #: which setting to fix, as the user knows it (an environment variable, a flag)
        self.setting = setting


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON nests containers more than `limit` levels deep.

    Iterative, so measuring a hostile answer cannot itself overflow the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def load_json(text: str | bytes) -> Any:
    """`json.loads`, with nesting a Makini answer never has turned into a ValueError.

    CPython's decoder recurses once per level: 100,000 `[` raise RecursionError, which is
    no error of ours to report as a bug. Shallower but still absurd nesting decodes, then
    fails later in pydantic or a renderer; it is refused here, once, for every caller."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    if too_deep(doc):
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return doc


def quoted(text: str, limit: int = MAX_QUOTED) -> str:
    """The server's text, cut to what one line of an error can hold."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def request_id_from(value: Any) -> str | None:
    """`value` if it can be a request id (a short string), else None. What it holds is
    the server's text, cleaned where it is shown."""
    return value if isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID else None


def parse_error_body(
    status: int, body: bytes, content_type: str
) -> tuple[str, str, dict[str, Any], str | None]:
    """Return (code, message, details, request id) from any of the body shapes servers
    send; the request id is the envelope's `error.request_id`, when it holds one.

    Whatever the body holds, the result is short: the code is a code or the status's
    default, and the message quotes at most MAX_QUOTED characters of the server's text."""
    default_code = STATUS_CODES.get(status, f"HTTP_{status}")
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return default_code, f"the server answered HTTP {status} with an empty body", {}, None
    try:
        doc = load_json(text)
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            return default_code, f"the server answered HTTP {status} with {exc}", {}, None
        kind = (
            "an HTML page"
            if "html" in content_type.lower() or text.startswith("<")
            else "a non-JSON body"
        )
        return default_code, f"the server answered HTTP {status} with {kind}", {}, None
    if isinstance(doc, dict):
        error = doc.get("error")
        if isinstance(error, dict):
            raw_code = error.get("code")
            code = (
                raw_code
                if isinstance(raw_code, str) and _CODE.fullmatch(raw_code)
                else default_code
            )
            message = quoted(str(error.get("message") or f"HTTP {status}"))
            raw = error.get("details")
            details: dict[str, Any] = raw if isinstance(raw, dict) else {}
            return code, message, details, request_id_from(error.get("request_id"))
        if isinstance(error, str):
            return default_code, quoted(error), {}, None
        if "message" in doc:
            fields = doc.get("errors")
            laravel: dict[str, Any] = {"fields": fields} if isinstance(fields, dict) else {}
            return default_code, quoted(str(doc["message"])) or f"HTTP {status}", laravel, None
    return default_code, f"the server answered HTTP {status}", {}, None


def field_summary(details: dict[str, Any], message: str = "") -> str:
    """The field problems of a 422's `details.fields` that `message` does not already say."""
    fields = details.get("fields")
    if not isinstance(fields, dict) or not fields:
        return ""
    parts = []
    for name, problems in fields.items():
        listed = problems if isinstance(problems, list) else [problems]
        said = [str(p) for p in listed if str(p).rstrip(". ") not in message]
        if not said:
            continue
        text = "; ".join(quoted(p, 100) for p in said)
        parts.append(f"{quoted(str(name), 60)}: {quoted(text, 100)}")
    return " (" + quoted(", ".join(parts)) + ")" if parts else ""


def error_from_response(
    status: int,
    body: bytes,
    content_type: str,
    request_id: str | None,
    *,
    method: str | None = None,
    path: str | None = None,
) -> APIStatusError:
    """The error an answer with status `status` means. `request_id` is the header's; the
    body's own (the contract's `error.request_id`) wins when it has one."""
    code, message, details, body_request_id = parse_error_body(status, body, content_type)
    return APIStatusError(
        message + field_summary(details, message),
        code=code,
        status=status,
        request_id=body_request_id or request_id,
        details=details,
        method=method,
        path=path,
    )
