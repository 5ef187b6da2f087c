"""The live status view (output/status_view.py) and its keyboard (output/keys.py).

The view is drawn by Rich into a StringIO console at fixed widths, fed by a scripted
engine that implements the watch engine's interface; its loop runs on a fake clock that
the scripted keyboard moves on, so no test waits. The keyboard's terminal handling runs
on a real pseudo-terminal.
"""

from __future__ import annotations

import io
import os
import pty
import re
import termios
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from makini_cli.api.watch import StatusWatch
from makini_cli.output.keys import TerminalKeys
from makini_cli.output.status_view import COLUMNS, StatusBoard, Watch, run_live, sync_text
from makini_cli.terminal import Terminal

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta: float) -> str:
    return iso(NOW - timedelta(**delta))


def connection(key: str, health: str = "online", **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "key": key,
        "name": f"Plant {key[-2:]}",
        "platform": "sap_s4hana",
        "status": {"online": "active"}.get(health, health),
        "health": health,
        "health_since": ago(days=3),
        "sync_status": "completed",
        "last_sync_at": ago(minutes=5),
        "last_successful_sync_at": ago(minutes=5),
        "next_sync_at": iso(NOW + timedelta(minutes=55)),
        "error": None,
    }
    obj.update(fields)
    return obj


def fleet() -> list[dict[str, Any]]:
    return [
        connection(
            "10000715260401",
            name="Acme – S/4HANA production plant",
            sync_status="in_progress",
            sync={
                "id": "s1",
                "status": "running",
                "progress": {"records_processed": 1234, "records_total": 5000},
            },
        ),
        connection("10000715260402"),
        connection(
            "10000715260403",
            "offline",
            name="Beta UpKeep",
            health_since=ago(hours=1, minutes=12),
            sync_status="failed",
            error={
                "code": "SYSTEM_UNREACHABLE",
                "message": "The connected system did not answer in time (tried 3 times).",
            },
        ),
        connection(
            "10000715260404",
            "reauth_required",
            error={"code": "REAUTHORIZATION_REQUIRED", "message": "credentials rejected"},
        ),
    ]


def the_engine_is_what_the_view_reads(engine: StatusWatch) -> Watch:
    """Never called: mypy checks that the real engine has the interface the view reads."""
    return engine


@dataclass(frozen=True)
class Update:
    """The engine's update (api/watch.py), as the agreed interface has it."""

    type: str
    at: str
    key: str
    changed: tuple[str, ...]
    object: dict[str, Any]
    since: str | None = None


@dataclass
class Clock:
    t: float = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeWatch:
    """The engine's interface over a script: `steps[n]` is what step n changes (whole
    objects, or a health for a key), each step due `interval` after the last."""

    clock: Clock
    initial: list[dict[str, Any]]
    steps: list[list[dict[str, Any]]] = field(default_factory=list)
    interval: float = 2.0
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_ok: float | None = None
    last_error: str | None = None
    stepped: int = 0
    calls: int = 0
    due: float = 0.0

    def start(self) -> list[Update]:
        self.objects = {o["key"]: dict(o) for o in self.initial}
        self.last_ok = self.clock()
        self.due = self.clock() + self.interval
        return [Update("snapshot", iso(NOW), k, (), o) for k, o in self.objects.items()]

    def step(self) -> list[Update]:
        self.calls += 1
        self.due = self.clock() + self.interval
        self.last_ok = self.clock()
        if self.stepped >= len(self.steps):
            return []
        changes = self.steps[self.stepped]
        self.stepped += 1
        updates = []
        for change in changes:
            obj = self.objects[change["key"]]
            changed = tuple(k for k, v in change.items() if obj.get(k) != v)
            if "health" in changed:
                obj["health_since"] = iso(NOW)
            obj.update(change)
            updates.append(Update("changed", iso(NOW), obj["key"], changed, dict(obj)))
        return updates

    def next_wait(self) -> float:
        return max(0.0, self.due - self.clock())


class ScriptedKeys:
    """A keyboard on the fake clock: `read` moves the clock on by what it waits, and
    gives the keys typed by then (`typed` maps a clock time to keys)."""

    def __init__(self, clock: Clock, typed: Mapping[float, str] | None = None) -> None:
        self.clock = clock
        self.typed = dict(typed or {})
        self.waits: list[float] = []
        self.entered = self.exited = False

    def __enter__(self) -> ScriptedKeys:
        self.entered = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.exited = True

    def read(self, timeout: float) -> str:
        self.waits.append(timeout)
        self.clock.t += timeout
        due = [t for t in self.typed if t <= self.clock.t]
        keys = "".join(self.typed.pop(t) for t in sorted(due))
        if keys == "^C":
            raise KeyboardInterrupt
        return keys


def board(
    objects: Iterable[dict[str, Any]], clock: Clock | None = None, **kwargs: Any
) -> tuple[StatusBoard, FakeWatch]:
    clock = clock or Clock()
    watch = FakeWatch(clock, list(objects))
    shown = StatusBoard(watch, alert_after=3600, monotonic=clock, now=lambda: NOW, **kwargs)
    shown.apply(watch.start())
    return shown, watch


def draw(renderable: Any, width: int, *, height: int = 50, colour: bool = False) -> str:
    console = Console(
        file=io.StringIO(),
        force_terminal=True,
        width=width,
        height=height,
        color_system="standard" if colour else None,
        no_color=not colour,  # the tests' environment says NO_COLOR
        highlight=False,
    )
    console.print(renderable)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def lines_of(text: str) -> list[str]:
    # A live view starts each frame with a carriage return and cursor moves over the last.
    return [line for line in re.split("[\r\n]", ANSI.sub("", text)) if line.strip()]


def header_cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


WIDTHS = [200, 140, 120, 100, 80, 60, 40]


@pytest.mark.parametrize("width", WIDTHS)
def test_each_row_is_one_line_that_fits(width: int) -> None:
    shown, watch = board(fleet())
    lines = lines_of(draw(shown, width))
    assert len(lines) == 2 + len(watch.objects), "\n".join(lines)  # header, titles, rows
    assert all(cell_len(line.rstrip()) <= width for line in lines), "\n".join(lines)
    for key in watch.objects:  # keys whole, each on exactly one line
        assert sum(key in line.split() for line in lines) == 1, key


def test_columns_drop_by_priority_as_the_width_shrinks() -> None:
    shown, _ = board(fleet())
    widths = range(200, 39, -5)
    seen = [header_cells(lines_of(draw(shown, width))[1]) for width in widths]
    order = [c.header for c in COLUMNS]
    assert seen[0] == order  # wide enough: every column
    assert seen[-1] == ["KEY", "HEALTH"]  # narrowest: only what is never dropped
    for headers in seen:
        assert headers == sorted(headers, key=order.index)  # the full table's order
    # The width at which each column first goes: the lower its priority, the sooner.
    # (A narrow one may come back into the room a wider one left, so only the first
    # drop is ordered.)
    gone = {
        c.header: next(n for n, headers in enumerate(seen) if c.header not in headers)
        for c in COLUMNS
        if not c.keep
    }
    by_priority = sorted((c for c in COLUMNS if not c.keep), key=lambda c: c.priority)
    firsts = [gone[c.header] for c in by_priority]
    assert firsts == sorted(firsts), gone
    assert firsts[0] < firsts[-1]


def test_long_text_is_cut_with_an_ellipsis_not_wrapped() -> None:
    shown, _ = board(fleet())
    lines = lines_of(draw(shown, 100))
    beta = next(line for line in lines if "10000715260403" in line)
    assert "SYSTEM_UNREACHA" in beta and "…" in beta
    assert "tried 3 times" not in "\n".join(lines)
    acme = next(line for line in lines if "10000715260401" in line)
    assert "Acme" in acme and "…" in acme


def test_header_counts_by_health_and_says_when_it_was_updated() -> None:
    clock = Clock()
    shown, watch = board(fleet(), clock)
    clock.t += 7
    header = lines_of(draw(shown, 160))[0]
    assert header.startswith("2 online · 1 offline · 1 reauth_required")
    assert "updated 7s ago" in header
    watch.last_error = "GET /api/system/events: 503 Service Unavailable"
    header = lines_of(draw(shown, 200))[0]
    assert "updated 7s ago · GET /api/system/events: 503 Service Unavailable" in header


def test_health_is_coloured() -> None:
    shown, _ = board(fleet())
    raw = draw(shown, 200, colour=True)
    row = {
        key: line
        for line in raw.split("\n")
        for key in ["10000715260402", "10000715260404"]
        if key in line
    }
    assert "\x1b[32monline" in row["10000715260402"]  # green
    assert "\x1b[33mreauth_required" in row["10000715260404"]  # yellow


def test_an_outage_longer_than_alert_after_is_flagged_in_its_row_and_the_header() -> None:
    shown, _ = board(fleet())
    lines = lines_of(draw(shown, 160))
    beta = next(line for line in lines if "10000715260403" in line)
    assert "⚠ offline 1h12m" in beta
    assert "⚠ 1 offline > 1h" in lines[0]
    # A short outage is shown, not flagged.
    short = fleet()
    short[2]["health_since"] = ago(minutes=10)
    lines = lines_of(draw(board(short)[0], 160))
    beta = next(line for line in lines if "10000715260403" in line)
    assert "offline" in beta and "⚠" not in "\n".join(lines)


def test_the_engines_alert_flags_the_row_even_without_health_since() -> None:
    objects = fleet()
    del objects[2]["health_since"]  # a documented-only server has none
    shown, watch = board(objects)
    assert "⚠" not in draw(shown, 160)
    beta = watch.objects["10000715260403"]
    shown.apply([Update("alert", iso(NOW), beta["key"], (), beta, since=ago(hours=2))])
    lines = lines_of(draw(shown, 160))
    assert "⚠ offline 2h00m" in next(line for line in lines if "10000715260403" in line)
    # Recovery clears the flag.
    beta["health"] = "online"
    shown.apply([Update("changed", iso(NOW), beta["key"], ("health",), beta)])
    assert "⚠" not in draw(shown, 160)


def test_a_changed_row_is_highlighted_for_a_few_seconds() -> None:
    clock = Clock()
    shown, watch = board(fleet(), clock)

    def reversed_rows() -> list[str]:
        raw = draw(shown, 160, colour=True)
        return [
            k for k in watch.objects for line in raw.split("\n") if k in line and "\x1b[7m" in line
        ]

    assert reversed_rows() == []  # the first snapshot is no change
    obj = watch.objects["10000715260402"]
    obj["health"] = "offline"
    shown.apply([Update("changed", iso(NOW), obj["key"], ("health",), obj)])
    assert reversed_rows() == ["10000715260402"]
    clock.t += 2.9
    assert reversed_rows() == ["10000715260402"]
    clock.t += 0.2
    assert reversed_rows() == []


def test_server_text_is_cleaned_and_never_markup() -> None:
    objects = fleet()
    objects[1]["name"] = "Evil\x1b]0;pwned\x07 [bold red]x[/bold red]\nforged"
    objects[1]["error"] = {"code": "E[/]", "message": "\x1b[2Jcleared"}
    shown, _ = board(objects)
    raw = draw(shown, 200)
    assert "\x1b" not in raw and "pwned" not in raw
    row = next(line for line in lines_of(raw) if "10000715260402" in line)
    assert "Evil [bold red]x[/bold red] forged" in row
    assert "E[/]: cleared" in row


def test_a_server_without_health_is_counted_by_status() -> None:
    documented = [
        {"key": f"1000071526040{n}", "name": "x", "status": s}
        for n, s in enumerate(["active", "active", "pending"])
    ]
    shown, _ = board(documented)
    assert lines_of(draw(shown, 120))[0].startswith("2 active · 1 pending")


def test_sync_progress_reads_as_counts_or_a_percentage() -> None:
    base = {"sync_status": "in_progress"}
    running = {"id": "s", "status": "running"}
    counted = {**running, "progress": {"records_processed": 1234, "records_total": 5000}}
    assert sync_text({**base, "sync": counted}) == "in_progress 1,234/5,000"
    assert (
        sync_text({**base, "sync": {**running, "progress": {"percent": 42.4}}}) == "in_progress 42%"
    )
    assert (
        sync_text({**base, "sync": {**running, "progress": {"records_processed": 7}}})
        == "in_progress 7"
    )
    assert sync_text({**base, "sync": None}) == "in_progress"
    assert sync_text({"sync_status": None, "sync": running}) == "running"


def test_rows_beyond_the_screen_are_counted_until_the_last_frame() -> None:
    many = [connection(f"100007152604{n:02d}") for n in range(30)]
    shown, _ = board(many)
    lines = lines_of(draw(shown, 120, height=12))
    assert len(lines) <= 12 - 1
    assert lines[-1].startswith("… ") and "more" in lines[-1]
    shown.everything = True
    assert len(lines_of(draw(shown, 120, height=12))) == 2 + 30


# ---------------------------------------------------------------------- the loop


def live_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=160, height=40, color_system=None)


def run(watch: FakeWatch, keys: ScriptedKeys, console: Console, **kwargs: Any) -> str:
    return run_live(
        watch,
        console=console,
        terminal=Terminal(stdin_stream=io.StringIO(), stdin_tty=False),
        keys_reader=keys,
        alert_after=3600,
        monotonic=watch.clock,
        now=lambda: NOW,
        **kwargs,
    )


def test_q_quits_after_showing_the_changes_and_the_last_frame_stays() -> None:
    clock = Clock()
    watch = FakeWatch(clock, fleet(), steps=[[{"key": "10000715260402", "health": "offline"}]])
    keys = ScriptedKeys(clock, {clock.t + 5: "q"})
    console = live_console()
    assert run(watch, keys, console) == "quit"
    assert keys.entered and keys.exited
    assert watch.stepped == 1
    out = console.file.getvalue()  # type: ignore[attr-defined]
    last_frame = lines_of(out.rsplit("\x1b[2K", 1)[-1])
    row = next(line for line in last_frame if "10000715260402" in line)
    assert header_cells(row)[4] == "offline"
    assert "q quits" not in last_frame[0]  # the kept frame has no key help
    assert ANSI.sub("", out).endswith("\n") and "\x1b[?25h" in out  # cursor shown again


def test_the_loop_waits_on_the_keyboard_and_never_spins() -> None:
    clock = Clock()
    watch = FakeWatch(clock, fleet(), interval=5.0)
    keys = ScriptedKeys(clock)
    started = clock.t
    outcome = run(watch, keys, live_console(), deadline=clock.t + 60)
    assert outcome == "timeout"
    assert clock.t == pytest.approx(started + 60)
    # About one wake a second (the ages), each wait at most a second, one step per interval.
    assert max(keys.waits) <= 1.0
    assert len(keys.waits) <= 61 + 12
    assert 11 <= watch.calls <= 13


def test_until_ends_the_view_when_it_holds() -> None:
    clock = Clock()
    steps = [[], [{"key": "10000715260403", "health": "online"}]]
    watch = FakeWatch(clock, fleet(), steps=steps)
    keys = ScriptedKeys(clock)

    def all_healthy(objects: Mapping[str, dict[str, Any]]) -> bool:
        return all(o["health"] != "offline" for o in objects.values())

    assert run(watch, keys, live_console(), until=all_healthy, deadline=clock.t + 60) == "until"
    assert watch.stepped == 2 and clock.t < 1000 + 60


def test_a_narrower_terminal_gets_a_table_of_its_width_on_a_clear_screen() -> None:
    clock = Clock()
    watch = FakeWatch(clock, fleet())
    console = live_console()

    class Resizing(ScriptedKeys):
        def read(self, timeout: float) -> str:
            typed = super().read(timeout)
            if clock.t >= 1003:
                console.size = (70, 40)  # what a resize does to Rich's idea of the terminal
            return typed

    assert run(watch, Resizing(clock, {clock.t + 6: "q"}), console) == "quit"
    out = console.file.getvalue()  # type: ignore[attr-defined]
    wide, narrow = out.split("\x1b[2J", 1)
    assert "PLATFORM" in wide and "\x1b[H" in narrow
    assert all(cell_len(line.rstrip()) <= 70 for line in lines_of(narrow))
    assert "PLATFORM" not in narrow and "10000715260403" in narrow


@pytest.mark.parametrize("typed", ["^C", "\x03"])
def test_ctrl_c_ends_the_view_as_interrupted(typed: str) -> None:
    clock = Clock()
    watch = FakeWatch(clock, fleet())
    keys = ScriptedKeys(clock, {clock.t + 3: typed})
    console = live_console()
    assert run(watch, keys, console) == "interrupted"
    assert keys.exited
    assert "\x1b[?25h" in console.file.getvalue()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- the keyboard


def lflag(fd: int) -> int:
    return int(termios.tcgetattr(fd)[3])


def test_keys_use_cbreak_on_a_terminal_and_restore_its_modes() -> None:
    main, child = pty.openpty()
    stream = os.fdopen(child, "r", closefd=False)
    try:
        before = termios.tcgetattr(child)
        assert lflag(child) & termios.ICANON
        with TerminalKeys(stream) as keys:
            flags = lflag(child)
            assert not flags & termios.ICANON and not flags & termios.ECHO
            assert flags & termios.ISIG  # Ctrl-C still interrupts
            assert keys.read(0) == ""
            os.write(main, b"q")
            assert keys.read(30) == "q"
        assert termios.tcgetattr(child) == before
        with pytest.raises(RuntimeError), TerminalKeys(stream):
            raise RuntimeError("boom")
        assert termios.tcgetattr(child) == before
        with pytest.raises(KeyboardInterrupt), TerminalKeys(stream):
            raise KeyboardInterrupt
        assert termios.tcgetattr(child) == before
    finally:
        stream.close()
        os.close(child)
        os.close(main)


def test_keys_from_no_terminal_only_wait() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"q")
    os.close(write_end)  # at its end: select() would answer at once, forever
    stream = os.fdopen(read_end, "r")
    with stream, TerminalKeys(stream) as keys:
        assert keys.read(0.01) == ""
    keys2 = TerminalKeys(io.StringIO())
    with keys2:
        assert keys2.read(0) == ""


def test_a_terminal_that_goes_away_is_no_longer_read() -> None:
    main, child = pty.openpty()
    stream = os.fdopen(child, "r", closefd=False)
    try:
        with TerminalKeys(stream) as keys:
            os.close(main)
            assert keys.read(30) == ""  # the hang-up wakes it once
            assert keys._fd is None
    finally:
        stream.close()
        os.close(child)
