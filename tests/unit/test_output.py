from __future__ import annotations

import io
import json
from typing import Any

from makini_cli.errors import CliError, ExitCode
from makini_cli.output.messages import Messages, format_error
from makini_cli.output.render import Column, Renderer

ITEMS: list[dict[str, Any]] = [
    {"key": "1", "name": "Plant [bold]A[/bold]", "tags": ["x"], "extra": None},
    {"key": "2", "name": "Evil\x1b[31m\x07name", "tags": [], "extra": {"a": 1}},
]
COLS = [Column("KEY", "key"), Column("NAME", "name"), Column("TAGS", "tags")]


def render(mode: str | None, tty: bool, fn: str = "stream") -> str:
    buf = io.StringIO()
    r = Renderer(explicit_mode=mode, stdout=buf, stdout_is_tty=tty, color="never")
    if fn == "stream":
        r.stream(iter(ITEMS), COLS)
    else:
        r.object(ITEMS[0], COLS)
    return buf.getvalue()


def test_default_modes_follow_the_terminal() -> None:
    assert [json.loads(x) for x in render(None, False).splitlines()] == ITEMS  # jsonl piped
    assert json.loads(render(None, False, "object")) == ITEMS[0]  # json piped
    assert "KEY" in render(None, True)


def test_json_array_is_complete_and_keeps_every_field() -> None:
    assert json.loads(render("json", False)) == ITEMS
    buf = io.StringIO()
    Renderer(explicit_mode="json", stdout=buf, stdout_is_tty=False).stream(iter([]), COLS)
    assert json.loads(buf.getvalue()) == []


def test_csv_uses_columns_and_encodes_nested_values() -> None:
    lines = render("csv", False).splitlines()
    assert lines[0] == "key,name,tags"
    assert lines[1] == '1,Plant [bold]A[/bold],"[""x""]"'


def test_table_never_reads_markup_and_strips_control_characters() -> None:
    out = render("table", True)
    assert "Plant [bold]A[/bold]" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "Evilname" in out.replace("[31m", "")


def test_piped_table_is_plain_text_without_box_drawing() -> None:
    out = render("table", False)
    assert out.splitlines()[0].split() == ["KEY", "NAME", "TAGS"]
    assert not any(ch in out for ch in "│─┃━")


def test_human_error_names_code_hint_and_ends_with_request_id() -> None:
    err = CliError("connection '9' not found", code="NOT_FOUND", http_status=404,
                   request_id="req_abc", hint="check the key")
    line = format_error(err)
    assert line == "error: connection '9' not found [NOT_FOUND]; check the key (request req_abc)"


def test_json_error_is_one_object() -> None:
    buf = io.StringIO()
    err = CliError("nope", code="X", exit_code=ExitCode.CONFLICT, request_id="r")
    Messages(stderr=buf, json_errors=True).error(err)
    doc = json.loads(buf.getvalue())
    assert doc == {"error": {"code": "X", "message": "nope", "http_status": None,
                             "request_id": "r", "hint": None, "exit_code": 7}}


def test_quiet_silences_notices_but_not_errors() -> None:
    buf = io.StringIO()
    m = Messages(stderr=buf, quiet=True)
    m.notice("progress")
    m.error(CliError("bad"))
    assert buf.getvalue() == "error: bad\n"
