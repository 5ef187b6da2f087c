"""Text from the API is data, never markup or terminal control.

A server (or anything between it and us) chooses every string we print: names, ids,
status words, error codes and messages, even field names. Written raw, such text can set
the terminal's title, clear the screen, move the cursor, reorder what is shown (bidi
overrides) or forge whole lines that look like ours (a newline, then `error: …` or a
GitHub `::` workflow command). So every server-derived string passes through here at the
place where output leaves the program: the Renderer (tables, detail views, `text()`
lines), Messages (every stderr line) and the progress views. Commands need not remember.

Rules, by destination:

Terminal and plain text (`clean`), also used for piped tables and plain progress lines,
because those end up on a terminal too (`| less -R`, a CI log viewer):

- Escape sequences are removed whole, as a terminal would have consumed them, not just
  their ESC: CSI (`ESC [` … final byte), the string sequences OSC, DCS, SOS, PM and APC
  (`ESC ]` / `ESC P` / `ESC X` / `ESC ^` / `ESC _` … up to BEL or ST, or to the end of
  the text when unterminated, since a terminal would have swallowed it all), every other
  `ESC` + intermediates + final byte, and the 8-bit C1 forms of the same introducers.
  So `\\x1b]0;title\\x07` leaves nothing, not `]0;title`.
- Line structure is ours alone: CR LF, LF, CR, VT, FF, NEL (U+0085), U+2028, U+2029 and
  TAB inside a value each become one space. Every line we write is one line; a value can
  neither forge a line nor misalign a table.
- What is left of C0 (U+0000-U+001F), DEL and C1 (U+0080-U+009F) is removed.
- Invisible format characters (Unicode category Cf) are removed: the bidi controls
  (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) that reorder what is shown,
  zero-width space and word joiners, BOM, soft hyphen, interlinear annotation marks and
  the tag characters (U+E0000 block, used to hide text). Two are kept: ZERO WIDTH JOINER
  and ZERO WIDTH NON-JOINER (U+200D, U+200C) join emoji and shape Persian and Indic
  words; they neither reorder nor forge anything, and removing them misspells names.
- A lone surrogate (JSON can carry one as `\\ud800`) becomes U+FFFD: it cannot be
  encoded, and writing it would crash the command.
- Everything else is kept as it is, printable Unicode of every script included:
  "Acme – S/4HANA", "工場 3", "Zürich 👷‍♀️" survive unchanged. Nothing is collapsed,
  trimmed or escaped into visible codes.

JSON and JSON Lines (`dumps`) are data for scripts, so values stay exact: `json.loads`
gives back exactly what the server sent. `json.dumps` already escapes C0 (`\\u001b`); what
it would leave raw and `clean` removes (DEL, C1, format characters, U+2028/U+2029, lone
surrogates) is written as `\\uXXXX` escapes too. Those characters can only occur inside
JSON strings, where an escape means the same character, so the document is unchanged as
data while no raw control reaches a terminal, and a reader splitting lines on U+2028 or
NEL (Python's `str.splitlines`) still sees one object per line.

CSV (`csv_cell`) is opened in spreadsheets as well as read by scripts: a string cell
is cleaned like terminal text (a newline becomes a space), then, when it starts with
`=`, `+`, `-` or `@` (after leading spaces, which is where TAB and CR went), it gets a
leading `'` so a spreadsheet reads it as text, not as a formula (OWASP, "CSV
Injection"). Only strings: numbers we format ourselves (`-3`, `-0.5`) stay numbers, and
nested objects are written as JSON (`dumps`), which starts with `{` or `[`.

GitHub Actions (output/github.py) uses the same rules: step-summary cells are `clean`
(one line, so a value cannot end the Markdown row) and an annotation's title too; an
annotation's message is `clean_lines`, which keeps its line breaks for the workflow
command's own `%0A` escape, since GitHub shows those inside the one annotation.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

#: Escape sequences, longest form first at each ESC (or 8-bit introducer): the string
#: sequences (OSC, DCS, SOS, PM, APC) up to BEL, ST, CAN or SUB (the terminators and
#: cancels a terminal honours) or the end of the text; CSI with its parameters,
#: intermediates and final byte; then any other ESC with intermediates and a final byte.
_SEQUENCE = (
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|\x18|\x1a|\Z)"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)

#: Line and column structure inside a value: one space each (CR LF counts as one).
_BREAK = r"\r\n|[\t\n\v\f\r\x85\u2028\u2029]"
_LINES = r"\r\n|[\n\v\f\r\x85\u2028\u2029]"

#: Format characters (Unicode category Cf, as of Unicode 15) except U+200C and U+200D,
#: written out because asking `unicodedata` per character would cost every line of
#: output a Python call per non-ASCII character. tests/unit/test_sanitize.py checks this
#: list against the running Python's Unicode database.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)


class _Patterns:
    """The expressions above, compiled on first use: almost every value is printable
    ASCII and never needs them, and compiling these classes costs every run of the tool
    about a millisecond at start-up."""

    def __init__(self) -> None:
        self.sequence = re.compile(_SEQUENCE, re.DOTALL)
        self.line_break = re.compile(_BREAK)
        self.lines = re.compile(_LINES)
        #: Removed from terminal text: what is left of C0, DEL, C1, and format characters.
        self.drop = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_FORMAT}]")
        self.surrogate = re.compile("[\ud800-\udfff]")
        #: Left raw by `json.dumps(ensure_ascii=False)` but unsafe on a terminal.
        self.json_unsafe = re.compile(f"[\\x7f-\\x9f\\u2028\\u2029{_FORMAT}\\ud800-\\udfff]")


@functools.cache
def _patterns() -> _Patterns:
    return _Patterns()


#: The first characters that make a spreadsheet read a cell as a formula (TAB and CR,
#: also on OWASP's list, never survive `clean`).
_FORMULA_START = ("=", "+", "-", "@")


def clean(text: str) -> str:
    """`text` as one line that is safe to write to a terminal (rules: module docstring)."""
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing to do, and no regex run over it
    patterns = _patterns()
    text = patterns.sequence.sub("", text)
    text = patterns.line_break.sub(" ", text)
    text = patterns.drop.sub("", text)
    return patterns.surrogate.sub("\ufffd", text)


def clean_lines(text: str) -> str:
    """`text` cleaned line by line, its line breaks kept as LF: only for a destination
    that escapes newlines itself (a GitHub annotation writes them as %0A), where a line
    break inside the value is data and cannot start a line of output."""
    patterns = _patterns()
    text = patterns.sequence.sub("", text)  # first, so a sequence spanning lines goes whole
    return "\n".join(clean(line) for line in patterns.lines.split(text))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # JSON escapes only 16-bit units: a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


_COMPACT = (",", ":")


@functools.cache
def _compact_encoder() -> json.JSONEncoder:
    return json.JSONEncoder(ensure_ascii=False, separators=_COMPACT)


def dumps(
    value: Any, *, indent: int | None = None, separators: tuple[str, str] | None = None
) -> str:
    """`json.dumps(value, ensure_ascii=False)`, with every character `clean` would drop
    escaped: the same data, nothing raw on a terminal (rules: module docstring)."""
    if indent is None and separators == _COMPACT:
        # One encoder for the compact form (a stream's lines): `json.dumps` with options
        # builds a new one per call, which an export of 100,000 records feels.
        text = _compact_encoder().encode(value)
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    if text.isascii() and "\x7f" not in text:
        return text  # json.dumps escaped all of C0 already; DEL is ASCII's only other
    return _patterns().json_unsafe.sub(_escape, text)


def csv_cell(value: str) -> str:
    """A string cell for `-o csv`: clean, and never read as a spreadsheet formula."""
    text = clean(value)
    if text.lstrip(" ").startswith(_FORMULA_START):
        return "'" + text
    return text
