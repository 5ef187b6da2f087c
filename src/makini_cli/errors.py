"""The error family every layer raises, and the exit codes they map to.

Only `main.py` turns these into a process exit; everything else raises. This module must
stay import-light: it is on the start-up path of every command.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit codes are a public promise (cli-guide §3): never renumber."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    UNAVAILABLE = 5
    ABORTED = 6
    CONFLICT = 7
    PENDING = 8
    CHECK_FAILED = 9
    SYNC_FAILED = 10
    SYNC_CANCELLED = 12
    INTERRUPTED = 130
    TERMINATED = 143


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success, including an empty list",
    ExitCode.ERROR: "other error (404, 422, a missing server capability, …)",
    ExitCode.USAGE: "usage: bad flag or argument",
    ExitCode.CONFIG: "configuration or profile problem",
    ExitCode.AUTH: "authentication or permission (401/403)",
    ExitCode.UNAVAILABLE: "API unavailable after retries (network, timeout, 5xx, 429)",
    ExitCode.ABORTED: "aborted: confirmation declined, or input needed under --no-input",
    ExitCode.CONFLICT: "conflict: sync already running (--if-running fail), other 409",
    ExitCode.PENDING: "still pending: a wait or watch reached --timeout; the job goes on",
    ExitCode.CHECK_FAILED: (
        "check failed: a webhook signature did not verify (`webhooks verify`),"
        " `custom-fields diff` found drift, or `connections status --until` cannot hold"
    ),
    ExitCode.SYNC_FAILED: "the sync ended failed",
    ExitCode.SYNC_CANCELLED: "the sync was cancelled",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); a wait detaches, the server job goes on",
    ExitCode.TERMINATED: "terminated (SIGTERM, as CI sends on cancel); like Ctrl-C",
}


class CliError(Exception):
    """Base of every error the user may see.

    `code` is a stable machine-readable identifier (the API's error code when the error came
    from the API), `hint` says what to do next.
    """

    exit_code: ExitCode = ExitCode.ERROR
    default_code: str = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        exit_code: ExitCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.hint = hint
        self.http_status = http_status
        self.request_id = request_id
        self.details = details or {}
        if exit_code is not None:
            self.exit_code = exit_code

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "http_status": self.http_status,
            "request_id": self.request_id,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
        }


class UsageError(CliError):
    exit_code = ExitCode.USAGE
    default_code = "USAGE"


class ConfigError(CliError):
    exit_code = ExitCode.CONFIG
    default_code = "CONFIG_ERROR"


class AuthError(CliError):
    exit_code = ExitCode.AUTH
    default_code = "AUTHENTICATION_FAILED"


class UnavailableError(CliError):
    exit_code = ExitCode.UNAVAILABLE
    default_code = "UNAVAILABLE"


class AbortedError(CliError):
    exit_code = ExitCode.ABORTED
    default_code = "ABORTED"


class QuietExit(Exception):
    """End the run with `exit_code`; whatever needed saying was already said."""

    def __init__(self, exit_code: ExitCode) -> None:
        super().__init__(int(exit_code))
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds like Ctrl-C: a wait detaches, a
    live display gives the terminal back, and the run exits 143."""


def interruption_code(exc: BaseException) -> ExitCode:
    return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED


class OutputClosed(Exception):
    """Whoever read stdout went away (`makini … | head`). Not an OSError on purpose:
    Typer turns a broken pipe OSError into exit 1, and this is no failure."""
