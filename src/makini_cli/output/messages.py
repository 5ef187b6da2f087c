"""Everything that is not data: notices, warnings and errors, all on stderr.

Every line goes through `clean` here (output/sanitize.py), whatever the caller put in it:
a message quotes API text (names, ids, error codes and messages) more often than not, and
this is the one place all of stderr's lines pass. Only our own colour codes are added
after cleaning.
"""

from __future__ import annotations

import sys
from typing import TextIO

from makini_cli.errors import CliError
from makini_cli.output.sanitize import clean, dumps

#: How far a command to copy is indented under the message it belongs to.
HINT_INDENT = "  "


def _one_line(text: str) -> str:
    return " ".join(text.split())


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

    def hint(self, command: str) -> None:
        """A command for the user to copy, alone on its own indented line:

            makini sync watch sync_123

        It is written as one raw line, so nothing of ours breaks it (a message that ran on
        into the command would be cut wherever the terminal wraps, often mid-word). It
        follows a warning or error, so --quiet does not silence it; a caller adding it to
        a notice checks `quiet` itself.
        """
        self._emit(HINT_INDENT + _one_line(clean(command)))

    def raw(self, line: str) -> None:
        """A line as given, unwrapped and unprefixed (workflow commands a CI system reads
        from the log). Cleaned all the same: a well-formed workflow command has no control
        characters, so this changes nothing but a forged line."""
        self._emit(clean(line))

    def debug(self, message: str) -> None:
        self._emit(self._paint(f"debug: {clean(message)}", "2"))

    def error(self, err: CliError) -> None:
        if self.json_errors:
            # Exact values for scripts, with nothing raw for a terminal (sanitize.dumps).
            self._emit(dumps({"error": err.to_dict()}))
            return
        self._emit(format_error(err, paint=self._paint))


def format_error(err: CliError, paint: object = None) -> str:
    """One line: what went wrong, the API's code, what to do next, the request id last."""
    text = clean(err.message).rstrip(".")
    if err.http_status is not None or err.code not in ("ERROR", err.default_code):
        text += f" [{clean(err.code)}]"
    if err.hint:
        text += f"; {clean(err.hint)}"
    if err.request_id:
        text += f" (request {clean(err.request_id)})"
    prefix = "error:"
    if callable(paint):
        prefix = paint(prefix, "31")
    return f"{prefix} {text}"
