"""Everything that is not data: notices, warnings and errors, all on stderr."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from makini_cli.errors import CliError
from makini_cli.output.sanitize import clean


class Messages:
    def __init__(
        self,
        *,
        stderr: TextIO | None = None,
        quiet: bool = False,
        json_errors: bool = False,
        color: str = "auto",
    ) -> None:
        self._stderr = stderr
        self.quiet = quiet
        self.json_errors = json_errors
        is_tty = self.stderr.isatty()
        self.color = color == "always" or (color == "auto" and is_tty)

    @property
    def stderr(self) -> TextIO:
        # Looked up on each write: a live progress display swaps sys.stderr for a proxy
        # that prints above it, and messages must go through that proxy.
        return self._stderr or sys.stderr

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def _emit(self, line: str) -> None:
        self.stderr.write(line + "\n")
        self.stderr.flush()

    def notice(self, message: str) -> None:
        """Progress and information; silenced by --quiet."""
        if not self.quiet:
            self._emit(clean(message))

    def warn(self, message: str) -> None:
        self._emit(f"{self._paint('warning:', '33')} {clean(message)}")

    def raw(self, line: str) -> None:
        """A line exactly as given (workflow commands a CI system reads from the log)."""
        self._emit(line)

    def debug(self, message: str) -> None:
        self._emit(self._paint(f"debug: {clean(message)}", "2"))

    def error(self, err: CliError) -> None:
        if self.json_errors:
            self._emit(json.dumps({"error": err.to_dict()}, ensure_ascii=False))
            return
        self._emit(format_error(err, paint=self._paint))


def format_error(err: CliError, paint: object = None) -> str:
    """One line: what went wrong, the API's code, what to do next, the request id last."""
    text = clean(err.message).rstrip(".")
    if err.http_status is not None or err.code not in ("ERROR", err.default_code):
        text += f" [{err.code}]"
    if err.hint:
        text += f"; {clean(err.hint)}"
    if err.request_id:
        text += f" (request {clean(err.request_id)})"
    prefix = "error:"
    if callable(paint):
        prefix = paint(prefix, "31")
    return f"{prefix} {text}"
