"""The output sanitiser (output/sanitize.py) and the places output passes through it: its
rules by example, its properties for any text (hypothesis), and the Renderer, Messages,
progress views and GitHub output fed hostile text directly."""

from __future__ import annotations

import io
import json
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from makini_cli.errors import CliError
from makini_cli.models.sync import Sync
from makini_cli.output.github import SummaryRow, annotation, summary_table
from makini_cli.output.messages import Messages, format_error
from makini_cli.output.progress import PlainProgress, RichProgress
from makini_cli.output.render import Column, Renderer
from makini_cli.output.sanitize import clean, clean_lines, csv_cell, dumps

EVIL = "\x1b[31m\x1b]0;pwned\x07\x1b[2J\r\nforged: line\u202eevil\x07\x9b7m\x85"
KEPT_FORMAT = {"\u200c", "\u200d"}  # ZWNJ and ZWJ: they join, they neither hide nor reorder
LINE_BREAKS = "\t\n\v\f\r\x85\u2028\u2029"


def unsafe(ch: str) -> bool:
    """What must never reach a terminal from `clean`."""
    category = unicodedata.category(ch)
    if category == "Cf":
        return ch not in KEPT_FORMAT
    return category in ("Cc", "Cs") or ch in "\u2028\u2029"


def assert_safe(text: str) -> None:
    bad = [ch for ch in text if unsafe(ch)]
    assert not bad, f"{bad!r} in {text!r}"


def assert_inert(text: str) -> None:
    """Terminal output: raw controls none, and nothing left of the payload's sequences."""
    assert_safe(text.replace("\n", ""))
    assert "pwned" not in text and "]0;" not in text and "[2J" not in text, text
    assert not any(line.lstrip().startswith("forged") for line in text.splitlines()), text


# ------------------------------------------------------------------ the rules by example


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;title\x07after", "after"),  # OSC to BEL: nothing of it remains
        ("\x1b]0;title\x1b\\after", "after"),  # OSC to ST
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # a hyperlink's target
        ("before\x1b]0;never ended", "before"),  # unterminated: a terminal swallows it all
        ("\x1bP1$r0m\x1b\\x", "x"),  # DCS
        ("\x1b_apc\x1b\\x\x1b^pm\x1b\\y\x1bXsos\x1b\\z", "xyz"),  # APC, PM, SOS
        ("\x1b[1;31mred\x1b[0m", "red"),  # CSI, parameters and all
        ("\x1b[2J\x1b[H\x1b[?25l", ""),  # clear, home, hide the cursor
        ("\x9b31mred", "red"),  # the 8-bit CSI
        ("\x9d0;title\x9cafter", "after"),  # the 8-bit OSC and ST
        ("a\x1bcb\x1b(Bc\x1b7d", "abcd"),  # reset, charset, save cursor
        ("bell\x07 del\x7f nul\x00 nel-free\x84", "bell del nul nel-free"),
        ("one\ntwo\r\nthree\rfour\tfive", "one two three four five"),  # our lines only
        ("a\x85b\u2028c\u2029d\x0be\x0cf", "a b c d e f"),
        ("txt.exe\u202e", "txt.exe"),  # bidi override
        ("\u2066i\u2069\u200ef\u200f\u061c\u202a\u202b\u202c\u202d", "if"),  # bidi, all
        ("zero\u200bwidth\ufeff\u2060\u00ad", "zerowidth"),  # invisible
        ("hidden\U000e0041\U000e0042", "hidden"),  # tag characters
        ("Acme – S/4HANA", "Acme – S/4HANA"),  # printable Unicode survives
        ("工場 3 · Zürich 👷‍♀️ ‌فارسی", "工場 3 · Zürich 👷‍♀️ ‌فارسی"),  # ZWJ, ZWNJ kept
        ("lone\ud800surrogate", "lone\ufffdsurrogate"),  # cannot be encoded: replaced
        ("Plant [bold]A[/bold]", "Plant [bold]A[/bold]"),  # markup is text, kept as is
    ],
)
def test_clean_by_example(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_every_format_character_but_the_joiners_is_removed() -> None:
    """The hand-written list of Cf characters in sanitize.py covers the running Python's
    Unicode database (a newer Python may add some: then the list needs them)."""
    missed = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Cf"
        and chr(code) not in KEPT_FORMAT
        and clean(chr(code)) != ""
    ]
    assert not missed


def test_json_escapes_what_clean_removes_and_keeps_the_data() -> None:
    value = {"k\x1b]0;t\x07": "\u202e\x85\u2028\x9b\x7f\ud800\U000e0041 Acme – S/4HANA"}
    text = dumps(value)
    assert json.loads(text) == value
    assert text == (
        '{"k\\u001b]0;t\\u0007": "\\u202e\\u0085\\u2028\\u009b\\u007f\\ud800'
        '\\udb40\\udc41 Acme – S/4HANA"}'
    )
    assert dumps({"a": [1]}, indent=2) == json.dumps({"a": [1]}, indent=2)


@pytest.mark.parametrize(
    ("raw", "written"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "' =1+1"),  # TAB became a space; what follows still counts
        ("\r\n-1", "' -1"),
        ("plain", "plain"),
        ("a=b", "a=b"),  # only the first character makes a formula
        ("=\x1b]0;t\x07x", "'=x"),
    ],
)
def test_csv_cells_never_start_a_formula(raw: str, written: str) -> None:
    assert csv_cell(raw) == written


def test_csv_numbers_stay_numbers_and_field_names_are_cells_too() -> None:
    buf = io.StringIO()
    Renderer(explicit_mode="csv", stdout=buf, stdout_is_tty=False).stream(
        [{"n": -3, "f": -0.5, "s": "-3", "b": False, "d": {"x": "=1"}, f"={EVIL}": EVIL}], None
    )
    header, row = buf.getvalue().splitlines()
    assert header == "n,f,s,b,d,'= forged: lineevil "
    assert row.split(",")[:4] == ["-3", "-0.5", "'-3", "false"]
    assert '"{""x"":""=1""}"' in row  # nested: JSON, starting with "{"


def test_clean_lines_keeps_line_breaks_as_lf() -> None:
    assert clean_lines("a\x1b]0;x\ny\x07b\nc\r\nd\u2028e") == "ab\nc\nd\ne"


# ------------------------------------------------------------------ properties

#: Printable text of every script: no controls, format characters or line separators.
PRINTABLE = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=40
)
#: Anything at all, with the characters that matter made likely.
HOSTILE = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from(
            list("\x1b\x07\x9b\x9c\x9d\x90\x85\r\n\t\x7f\u202e\u2066\u200b\u200d[];0Pm\\")
        ),
    ),
    max_size=60,
)


@given(HOSTILE)
@example(EVIL)
@example("\x1b\x1b]\x07")
def test_clean_output_is_safe_and_one_line(text: str) -> None:
    shown = clean(text)
    assert_safe(shown)
    assert not any(ch in LINE_BREAKS for ch in shown)


@given(HOSTILE)
@example("\x1b\x00[31m")
def test_clean_is_idempotent(text: str) -> None:
    once = clean(text)
    assert clean(once) == once


@given(PRINTABLE)
def test_clean_keeps_printable_text_unchanged(text: str) -> None:
    assert clean(text) == text


def per_character(text: str) -> str:
    """What `clean` does to text without escape sequences, one character at a time."""
    text = text.replace("\r\n", " ")
    return "".join(
        " " if ch in LINE_BREAKS else "\ufffd" if unicodedata.category(ch) == "Cs"
        else "" if unsafe(ch) else ch
        for ch in text
    )


@given(HOSTILE.filter(lambda t: not any(ch in t for ch in "\x1b\x90\x98\x9b\x9d\x9e\x9f")))
def test_without_sequences_clean_works_character_by_character(text: str) -> None:
    assert clean(text) == per_character(text)


SEQUENCES = st.one_of(
    # CSI: parameters, intermediates, final byte
    st.builds(
        lambda intro, params, inter, final: intro + params + inter + final,
        st.sampled_from(["\x1b[", "\x9b"]),
        st.text(st.sampled_from("0123456789;:<=>?"), max_size=6),
        st.text(st.sampled_from(" !\"#$%&'()*+,-./"), max_size=2),
        st.characters(min_codepoint=0x40, max_codepoint=0x7E),
    ),
    # OSC, DCS, SOS, PM, APC, with a printable payload, ended by BEL or ST
    st.builds(
        lambda intro, payload, end: intro + payload + end,
        st.sampled_from(["\x1b]", "\x1bP", "\x1bX", "\x1b^", "\x1b_", "\x9d", "\x90"]),
        PRINTABLE,
        st.sampled_from(["\x07", "\x1b\\", "\x9c"]),
    ),
    # any other ESC sequence: intermediates, then a final byte
    st.builds(
        lambda inter, final: "\x1b" + inter + final,
        st.text(st.sampled_from(" !\"#$%&'()*+,-./"), max_size=2),
        st.characters(min_codepoint=0x30, max_codepoint=0x7E).filter(
            lambda c: c not in "[]PX^_"
        ),
    ),
)


@given(PRINTABLE, SEQUENCES, PRINTABLE)
def test_escape_sequences_go_whole(before: str, sequence: str, after: str) -> None:
    assert clean(before + sequence + after) == before + after


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE, inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_json_is_exact_and_has_nothing_raw(value: Any) -> None:
    for text in (dumps(value, indent=2), dumps(value, separators=(",", ":"))):
        assert json.loads(text) == value
        assert_safe(text.replace("\n", ""))
        text.encode("utf-8")  # strict: what a real stdout must do


@given(HOSTILE)
def test_csv_cell_is_clean_and_no_formula(text: str) -> None:
    written = csv_cell(text)
    assert written in (clean(text), "'" + clean(text))
    assert written.startswith("'") or not written.lstrip(" ").startswith(("=", "+", "-", "@"))


@given(HOSTILE)
def test_clean_lines_leaves_clean_lines(text: str) -> None:
    for line in clean_lines(text).split("\n"):
        assert clean(line) == line


# ------------------------------------------------------------------ where output leaves

HOSTILE_ITEM: dict[str, Any] = {
    "key": "k" + EVIL,
    "name": "Acme – S/4HANA" + EVIL,
    f"field{EVIL}": {"nested" + EVIL: ["x" + EVIL, 1]},
}


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize("color", ["never", "always"])
def test_tables_with_server_field_names_as_headers(tty: bool, color: str) -> None:
    buf = io.StringIO()
    r = Renderer(explicit_mode="table", stdout=buf, stdout_is_tty=tty, color=color, width=300)
    r.stream([HOSTILE_ITEM], None)  # no columns: the field names are the headers
    out = buf.getvalue()
    if color == "always" and tty:
        out = out.replace("\x1b[1m", "").replace("\x1b[0m", "")  # Rich's bold header
    assert_inert(out)
    assert "Acme – S/4HANA" in out and "FIELD FORGED: LINEEVIL" in out.upper()
    assert len(out.strip().splitlines()) == 2


@pytest.mark.parametrize("tty", [True, False])
def test_detail_views_and_text_lines(tty: bool) -> None:
    buf = io.StringIO()
    r = Renderer(explicit_mode="table", stdout=buf, stdout_is_tty=tty, color="never")
    r.object(HOSTILE_ITEM, [Column("KEY", "key")])
    r.text("sync_1" + EVIL)
    out = buf.getvalue()
    assert_inert(out)
    assert out.splitlines()[-1] == "sync_1 forged: lineevil "


def test_json_modes_print_exact_values_and_nothing_raw() -> None:
    for mode in ("json", "jsonl"):
        buf = io.StringIO()
        Renderer(explicit_mode=mode, stdout=buf, stdout_is_tty=True).stream([HOSTILE_ITEM], None)
        assert_safe(buf.getvalue().replace("\n", ""))
        assert json.loads(buf.getvalue()) in ([HOSTILE_ITEM], HOSTILE_ITEM)  # one line: ok


def test_every_kind_of_message_is_cleaned() -> None:
    buf = io.StringIO()
    m = Messages(stderr=buf, color="never")
    m.notice("notice " + EVIL)
    m.warn("warn " + EVIL)
    m.hint("makini sync watch sync_1" + EVIL)
    m.debug("debug " + EVIL)
    m.raw("::error::raw" + EVIL)
    m.error(CliError("error " + EVIL, code="CODE" + EVIL, hint="hint" + EVIL,
                     request_id="req" + EVIL, http_status=500))
    out = buf.getvalue()
    assert_inert(out)
    assert len(out.splitlines()) == 6
    assert "[CODE forged: lineevil ]" in out


def test_json_errors_keep_the_exact_text() -> None:
    buf = io.StringIO()
    err = CliError("msg" + EVIL, code="CODE" + EVIL, request_id="req" + EVIL, http_status=404)
    Messages(stderr=buf, json_errors=True).error(err)
    assert_safe(buf.getvalue().replace("\n", ""))
    assert len(buf.getvalue().splitlines()) == 1
    assert json.loads(buf.getvalue())["error"] == err.to_dict()


def test_format_error_cleans_the_code() -> None:
    line = format_error(CliError("gone", code="X\x1b]0;t\x07\nY", http_status=404))
    assert line == "error: gone [X Y]"


def hostile_sync(status: str) -> Sync:
    return Sync.model_validate({
        "id": "sync_1" + EVIL,
        "status": status,
        "progress": {"scope": "assets" + EVIL, "records_processed": 5, "records_total": 10},
    })


def test_plain_progress_lines_are_cleaned() -> None:
    buf = io.StringIO()
    view = PlainProgress(buf, monotonic=lambda: 0.0, names={"k" + EVIL: "Plant" + EVIL})
    view.update("k" + EVIL, hostile_sync("running" + EVIL))
    view.update("j" + EVIL, hostile_sync("running"))
    view.close("done" + EVIL)
    out = buf.getvalue()
    assert_inert(out)
    assert len(out.splitlines()) == 3


def test_rich_progress_rows_are_cleaned() -> None:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200, color_system="standard")
    view = RichProgress(console=console, names={"k" + EVIL: "Plant" + EVIL},
                        monotonic=lambda: 0.0)
    view.update("k" + EVIL, hostile_sync("running" + EVIL))
    view.update("j" + EVIL, hostile_sync("succeeded"))
    view.set_label("j" + EVIL, "Name" + EVIL)
    view.close("done" + EVIL)
    out = buf.getvalue()
    # Rich draws with its own escape sequences; none of the server's may be among them.
    for marker in ("pwned", "]0;", "[2J", "\x07", "\x9b", "\u202e", "\x85", "\r\nforged"):
        assert marker not in out, marker
    assert "Plant forged: lineevil" in out


def test_github_annotation_and_summary_are_cleaned() -> None:
    line = annotation("makini sync run" + EVIL, "k: failed" + EVIL)
    assert_inert(line)
    assert "\n" not in line and line.startswith("::error title=makini sync run")
    table = summary_table([SummaryRow("k" + EVIL, "sync_1" + EVIL, "failed", 5, 1.0,
                                      "CODE" + EVIL + "|")])
    assert_inert(table)
    assert len(table.splitlines()) == 6  # heading, blank, header, rule, one row, blank
