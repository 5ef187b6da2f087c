from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from makini_cli.errors import CliError, ExitCode, OutputClosed
from makini_cli.models.sync import Sync
from makini_cli.output.messages import Messages, format_error
from makini_cli.output.progress import PlainProgress, RateEstimate, RichProgress, totals_line
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
    err = CliError(
        "connection '9' not found",
        code="NOT_FOUND",
        http_status=404,
        request_id="req_abc",
        hint="check the key",
    )
    line = format_error(err)
    assert line == "error: connection '9' not found [NOT_FOUND]; check the key (request req_abc)"


def test_json_error_is_one_object() -> None:
    buf = io.StringIO()
    err = CliError("nope", code="X", exit_code=ExitCode.CONFLICT, request_id="r")
    Messages(stderr=buf, json_errors=True).error(err)
    doc = json.loads(buf.getvalue())
    assert doc == {
        "error": {
            "code": "X",
            "message": "nope",
            "http_status": None,
            "request_id": "r",
            "hint": None,
            "exit_code": 7,
        }
    }


def test_quiet_silences_notices_but_not_errors() -> None:
    buf = io.StringIO()
    m = Messages(stderr=buf, quiet=True)
    m.notice("progress")
    m.error(CliError("bad"))
    assert buf.getvalue() == "error: bad\n"


# ------------------------------------------------------------------ a failure mid-list


class Flushes(io.StringIO):
    """Records what a reader of the pipe has seen: the text at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def flush(self) -> None:
        self.seen.append(self.getvalue())


def second_item_fails() -> Iterator[dict[str, Any]]:
    yield ITEMS[0]
    raise CliError("page 2 failed")


def test_failed_json_list_leaves_stdout_empty() -> None:
    buf = io.StringIO()
    with pytest.raises(CliError):
        Renderer(explicit_mode="json", stdout=buf, stdout_is_tty=False).stream(
            second_item_fails(), COLS
        )
    assert buf.getvalue() == ""


def test_failed_jsonl_list_leaves_only_complete_flushed_lines() -> None:
    buf = Flushes()
    with pytest.raises(CliError):
        Renderer(explicit_mode="jsonl", stdout=buf, stdout_is_tty=False).stream(
            second_item_fails(), COLS
        )
    assert buf.getvalue().endswith("\n")
    assert [json.loads(line) for line in buf.getvalue().splitlines()] == [ITEMS[0]]
    assert buf.seen == [buf.getvalue()]  # flushed as soon as it was whole


def test_failed_csv_list_leaves_only_complete_rows() -> None:
    buf = Flushes()
    with pytest.raises(CliError):
        Renderer(explicit_mode="csv", stdout=buf, stdout_is_tty=False).stream(
            second_item_fails(), COLS
        )
    assert buf.getvalue() == 'key,name,tags\n1,Plant [bold]A[/bold],"[""x""]"\n'
    assert all(seen.endswith("\n") for seen in buf.seen)


def test_wide_is_a_table_mode() -> None:
    out = render("wide", True)
    assert out.splitlines()[0].split() == ["KEY", "NAME", "TAGS"]
    assert json.loads(render("json", False, "object")) == ITEMS[0]
    assert render("wide", False).splitlines()[0].split() == ["KEY", "NAME", "TAGS"]


# ------------------------------------------------------------------ hints


def test_hint_is_the_command_alone_on_one_raw_line() -> None:
    buf = io.StringIO()
    m = Messages(stderr=buf, quiet=True)
    m.warn("k: still running when the wait timed out; the sync goes on. Follow it:")
    m.hint("makini sync watch sync_123\x1b[2J\n")
    lines = buf.getvalue().splitlines()
    assert lines[-1] == "  makini sync watch sync_123"  # the escape sequence goes whole


# ------------------------------------------------------------------ progress


def a_sync(status: str, done: int = 0, total: int | None = 1000) -> Sync:
    return Sync.model_validate(
        {
            "id": "sync_1",
            "status": status,
            "progress": {"scope": "assets", "records_processed": done, "records_total": total},
        }
    )


def test_rate_estimate_moves_between_polls_but_never_back_or_past_the_total() -> None:
    est = RateEstimate()
    est.observe(100, 10_000, now=0.0)
    assert est.value(0.5) == 100  # one poll: no rate yet
    est.observe(110, 10_000, now=1.0)  # 10 records/s
    assert est.value(1.5) == pytest.approx(115)
    assert est.value(11.0) == pytest.approx(210)
    assert est.value(100.0) == pytest.approx(410)  # runs on for 30 s at most: maybe stalled
    est.observe(350, 10_000, now=100.0)  # ran ahead of the real count: the bar waits
    assert est.value(100.5) == pytest.approx(410)
    est.observe(900, 10_000, now=101.0)  # a poll snaps the bar up
    assert est.value(101.0) == 900
    assert est.value(200.0) == 9_999.5  # never up to the total: only a poll fills the bar
    est.observe(10_000, 10_000, now=201.0, final=True)
    assert est.value(202.0) == 10_000
    done = RateEstimate()
    done.observe(10, 100, now=0.0)
    done.observe(20, 100, now=1.0, final=True)
    assert done.value(5.0) == 20  # a finished sync does not move on


def test_totals_line_counts_outcomes_and_time() -> None:
    assert totals_line(["succeeded"] * 3, 42.0) == "3 syncs finished in 42s"
    assert totals_line(["succeeded"], 4.25) == "1 sync finished in 4.2s"
    assert totals_line(["succeeded", "failed", "cancelled"], 90) == (
        "3 syncs finished in 1m30s: 1 cancelled, 1 failed, 1 succeeded"
    )
    assert totals_line(["succeeded", "running"], 30) == "1 of 2 syncs finished in 30s"


def test_plain_progress_names_rows_and_ends_with_the_total() -> None:
    now = [0.0]
    buf = io.StringIO()
    view = PlainProgress(buf, monotonic=lambda: now[0], names={"k": "Plant\x1b[31m A"})
    view.set_label("j", "")  # no name: the key stays
    view.update("k", a_sync("running", 10))
    view.update("j", a_sync("running", 10))
    now[0] = 42.0
    view.update("k", a_sync("succeeded", 1000))
    view.update("j", a_sync("failed", 10))
    view.close()  # the runner stops the view; the command adds the total
    view.close(view.totals())
    assert buf.getvalue().splitlines() == [
        "Plant A (k) sync_1: running assets 10/1,000 records (0.0s)",
        "j sync_1: running assets 10/1,000 records (0.0s)",
        "Plant A (k) sync_1: succeeded assets 1,000/1,000 records (42s)",
        "j sync_1: failed assets 10/1,000 records (42s)",
        "2 syncs finished in 42s: 1 failed, 1 succeeded",
    ]


def test_rich_progress_marks_finished_rows_by_outcome() -> None:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(
        file=buf, force_terminal=True, width=100, color_system="standard", no_color=False
    )
    now = [0.0]
    view = RichProgress(console=console, monotonic=lambda: now[0])
    view.update("k1", a_sync("running", 10))
    view.set_label("k1", "Plant [bold]A[/bold]")
    view.update("k2", a_sync("queued"))
    view.update("k3", a_sync("running", 10))
    now[0] = 3.0
    view.update("k1", a_sync("succeeded", 1000))
    view.update("k2", a_sync("failed", 0))
    view.update("k3", a_sync("cancelled", 10))
    view.close()
    view.close(view.totals())
    final = buf.getvalue().split("\x1b[2K")[-1]  # the last frame the live display drew
    rows = final.splitlines()
    assert "✓" in rows[0] and "Plant [bold]A[/bold]" in rows[0] and "\x1b[32m" in rows[0]
    assert "✗" in rows[1] and "k2" in rows[1] and "\x1b[31m" in rows[1]
    assert "⊘" in rows[2] and "k3" in rows[2] and "\x1b[33m" in rows[2]
    assert rows[-1].endswith("3 syncs finished in 3.0s: 1 cancelled, 1 failed, 1 succeeded")


class _Recording(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes: list[str] = []

    def flush(self) -> None:
        self.flushes.append(self.getvalue())


class _Closed(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError


def test_a_line_keeps_our_paint_and_reaches_the_reader_at_once() -> None:
    out = _Recording()
    renderer = Renderer(explicit_mode=None, stdout=out, stdout_is_tty=True)
    painted = "\x1b[32mok\x1b[0m  sync.completed"
    renderer.line(painted)
    # Written whole, colour codes and all (`text` would clean them), and flushed with it.
    assert out.getvalue() == painted + "\n"
    assert out.flushes == [painted + "\n"]
    with pytest.raises(OutputClosed):
        Renderer(explicit_mode=None, stdout=_Closed(), stdout_is_tty=False).line("x")
