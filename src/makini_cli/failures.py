"""What an API error means to the user: its exit code and what to do next.

The API layer raises `APIError`s in the API's terms (status, code, message, request id,
the request that failed). Here, and only here, they become `CliError`s: an exit code from
the documented table and a hint that names the right thing (the variable that holds a
rejected token, the list command of the kind of thing not found, the running sync to
watch).
"""

from __future__ import annotations

import re

from makini_cli.api.errors import (
    APIConnectionError,
    APIError,
    CapabilityMissingError,
    ClientSetupError,
    InvalidRequestURLError,
    MalformedResponseError,
    NotAuthenticatedError,
)
from makini_cli.config.credentials import Credentials
from makini_cli.errors import CliError, ExitCode

HINTS: dict[str, str] = {
    "PERMISSION_DENIED": "this call needs a different kind of token (admin vs connection)",
    "INSUFFICIENT_CREDITS": "free credits by deleting a connection, or add credits to the account",
    "VALIDATION_FAILED": "fix the fields named above and try again",
    "INVALID_REQUEST": "check the command's arguments (`--help`)",
    "RATE_LIMIT_EXCEEDED": "wait a little, or raise --max-retries",
    "REAUTHORIZATION_REQUIRED": "the connected system rejected its credentials: reconnect it",
    "IDEMPOTENCY_KEY_REUSED": "use a new --idempotency-key for a different request",
    "SYSTEM_UNREACHABLE": "the connected system is offline; Makini retries by itself",
}

#: what a 404 means, by the path that answered it (most specific first)
_NOT_FOUND: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/api/system/syncs/"), "check the sync id; `makini sync list` shows recent ones"),
    (
        re.compile(r"^/api/system/connections/[^/]+/metadata/"),
        "no such metadata entry; `makini connections metadata get KEY` lists them",
    ),
    (
        re.compile(r"^/api/system/connections/[^/]+/custom-fields/"),
        "no such custom field; `makini custom-fields list KEY` lists them",
    ),
    (
        re.compile(r"^/api/system/connections/[^/]+/(syncs|schedule)"),
        "check the connection key; `makini connections list` shows the keys",
    ),
    (
        re.compile(r"^/api/system/connections/"),
        "check the connection key; `makini connections list` shows the keys",
    ),
    (
        re.compile(r"^/api/system/webhooks/"),
        "check the webhook id; `makini webhooks list` shows them",
    ),
    (
        re.compile(r"^/api/system/deliveries/"),
        "check the delivery id; `makini webhooks deliveries WEBHOOK_ID` lists them",
    ),
    (re.compile(r"^/sandbox/"), "this server has no sandbox control routes: is it a sandbox?"),
)


def exit_code_for(status: int | None) -> ExitCode:
    if status in (401, 403):
        return ExitCode.AUTH
    if status is not None and (status == 429 or status >= 500):
        return ExitCode.UNAVAILABLE
    if status == 409:
        return ExitCode.CONFLICT
    return ExitCode.ERROR


def to_cli_error(exc: APIError, credentials: Credentials | None = None) -> CliError:
    """The user-facing error for `exc`; `credentials` (those in use) name what to fix when
    the server rejects them."""
    if isinstance(exc, APIConnectionError):
        return _connection(exc)
    if isinstance(exc, NotAuthenticatedError):
        return CliError(
            exc.message,
            code=exc.code,
            hint="run `makini auth login`, or set MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET",
            exit_code=ExitCode.AUTH,
        )
    if isinstance(exc, CapabilityMissingError):
        where = (
            "this server speaks Makini's documented API only"
            if exc.documented_only
            else "this server offers other extensions, not this one"
        )
        return CliError(
            exc.message,
            code=exc.code,
            hint=f"{where}; use the Makini dashboard for this, or point --base-url at a "
            "server with the extension",
            exit_code=ExitCode.ERROR,
        )
    if isinstance(exc, ClientSetupError):
        return CliError(
            exc.message,
            code=exc.code,
            hint=f"fix or unset {exc.setting}",
            exit_code=ExitCode.CONFIG,
        )
    if isinstance(exc, InvalidRequestURLError):
        # Only what the user typed goes into a path (a key, an id): theirs to fix.
        return CliError(
            exc.message,
            code=exc.code,
            hint="check the ids and keys you gave",
            exit_code=ExitCode.USAGE,
        )
    if isinstance(exc, MalformedResponseError):
        return CliError(
            exc.message,
            code=exc.code,
            http_status=exc.status,
            request_id=exc.request_id,
            hint="check the base URL points at a Makini API; --debug shows the exchange",
            exit_code=ExitCode.ERROR,
        )
    return CliError(
        exc.message,
        code=exc.code,
        http_status=exc.status,
        request_id=exc.request_id,
        details=exc.details,
        hint=_hint(exc, credentials),
        exit_code=exit_code_for(exc.status),
    )


def _hint(exc: APIError, credentials: Credentials | None) -> str | None:
    code, status = exc.code, exc.status
    if code in ("AUTHENTICATION_FAILED", "TOKEN_EXPIRED") or status == 401:
        if credentials is not None and credentials.fix_hint:
            return credentials.fix_hint
        return "run `makini auth login`, or check MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET"
    if code == "SYNC_ALREADY_RUNNING":
        running = exc.details.get("sync_id")
        if running:
            return (
                f"follow it: makini sync watch {running} · or pass --if-running skip|wait"
            )
        return "follow it with `makini sync watch ID`, or pass --if-running skip|wait"
    if status == 404 or code == "NOT_FOUND":
        for pattern, hint in _NOT_FOUND:
            if exc.path and pattern.search(exc.path):
                return hint
        return "check the id or key you gave"
    if status is not None and status >= 500 and code not in HINTS:
        return "try again later, or raise --max-retries"
    return HINTS.get(code)


def _connection(exc: APIConnectionError) -> CliError:
    check_url = "check the base URL; `makini auth status` shows which is in use"
    hints = {
        "dns": f"{check_url}; on a network that needs a proxy, set HTTPS_PROXY",
        "tls": (
            "check http:// vs https:// in the base URL" if exc.detail == "not_tls" else check_url
        ),
        "unsupported": check_url,
        # Reached, but too slow: the network and the URL are fine.
        "timeout": "the server is slow or stuck: try again later, or raise --timeout "
        "(MAKINI_HTTP_TIMEOUT)",
    }
    if exc.code == "DEADLINE_EXCEEDED":
        hint = "the server was too slow for the time allowed: raise --timeout, or try later"
    elif exc.code in ("PROXY_UNREACHABLE", "PROXY_ERROR"):
        hint = (
            f"check the proxy {exc.proxy} (from {exc.proxy_variable}), or list the host in "
            "NO_PROXY to bypass it"
        )
    elif exc.kind == "tls_certificate":
        hint = {
            "hostname": "check the host name in the base URL; the server's certificate "
            "names another",
            "expired": "the server's operator must renew it (or this machine's clock is wrong)",
        }.get(
            exc.detail,
            "pass --ca-bundle FILE or set MAKINI_CA_BUNDLE / SSL_CERT_FILE to a PEM file "
            "holding the CA that signed it (behind a TLS-inspecting proxy, your company's CA)",
        )
    else:
        hint = hints.get(
            exc.kind,
            "check the base URL and your network; `makini auth status` shows which is in use",
        )
    return CliError(exc.message, code=exc.code, hint=hint, exit_code=ExitCode.UNAVAILABLE)
