"""`connections status --watch` on a terminal: a live table of connection status.

A Rich Live view in the normal screen (not the alternate one), redrawn in place; when it
ends, its last frame stays in the scrollback. It redraws after every step of the watch
engine (api/watch.py) and about once a second for the ages, and in between waits on the
keyboard with select(), so an idle view costs next to no CPU. `q` quits, Ctrl-C too.

- A header: connections counted by health, how many have been offline too long, and
  "updated Ns ago" (with the last failed read's message, dimmed, while reads fail).
- One row per connection: key, name, platform, status, health (coloured), sync state with
  its progress, last sync and next sync as ages, and the last error. Nothing wraps: the
  columns are fitted to the width at every redraw (output/render.py's `fit_columns`), so
  a resized terminal gets a table of its new width.
- A row that changed is shown in reverse video for a few seconds.
- A connection offline for longer than `alert_after` reads `⚠ offline 1h12m`.

Every value is the server's text: cleaned (output/sanitize.py) and put in `Text`, never
read as markup.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeGuard

from makini_cli.durations import format_duration
from makini_cli.output.ages import age, parse_time, utc_now
from makini_cli.output.columns import _error_text
from makini_cli.output.keys import CTRL_C, KeyReader, TerminalKeys
from makini_cli.output.render import Column, cell, fit_columns

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from makini_cli.terminal import Terminal

Outcome = Literal["quit", "until", "timeout", "interrupted"]

#: How long a changed row stays highlighted.
HIGHLIGHT_SECONDS = 3.0
#: The longest wait between two redraws: ages and "updated Ns ago" move on.
TICK = 1.0
#: Lines of the screen that are not rows: the header, the column headers, the "… more"
#: line, and the line the cursor rests on below the view.
_CHROME = 4

HEALTH_STYLES: dict[str, str] = {
    "online": "green",
    "offline": "red",
    "reauth_required": "yellow",
}
ALERT_STYLE = "bold red"

#: The table's columns: the lowest priority goes first on a narrow terminal; keys and
#: health are never dropped, names and errors are cut with "…" before anything goes.
COLUMNS = [
    Column("KEY", "key", keep=True),
    Column("NAME", "name", priority=50, cut=True, min_width=12),
    Column("PLATFORM", "platform", priority=10),
    Column("STATUS", "status", priority=30),
    Column("HEALTH", "health", keep=True),
    Column("SYNC", "sync_status", priority=45),
    Column("LAST SYNC", "last_sync_at", priority=20, time=True),
    Column("NEXT SYNC", "next_sync_at", priority=15, time=True),
    Column("LAST ERROR", "error", priority=40, cut=True, min_width=16),
]


class Update(Protocol):
    """What the view reads of the engine's updates (api/watch.py `Update`)."""

    @property
    def type(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def changed(self) -> tuple[str, ...]: ...
    @property
    def object(self) -> dict[str, Any]: ...
    @property
    def since(self) -> str | None: ...


class Watch(Protocol):
    """What the view needs of the watch engine (api/watch.py `StatusWatch`)."""

    @property
    def objects(self) -> Mapping[str, dict[str, Any]]: ...
    @property
    def last_ok(self) -> float | None: ...
    @property
    def last_error(self) -> str | None: ...

    def start(self) -> Iterable[Update]: ...
    def step(self) -> Iterable[Update]: ...
    def next_wait(self) -> float: ...


def live_console(terminal: Terminal, color: str = "auto") -> Console:
    """The console the view draws on: the run's stdout (the table is the data), its
    width read from the terminal at every redraw unless the terminal fixes one."""
    from rich.console import Console

    return Console(
        file=terminal.stdout,
        width=terminal.columns,
        no_color=color == "never",
        force_terminal=True if color == "always" else None,
        highlight=False,
    )


# ---------------------------------------------------------------------- cells


def span(seconds: float) -> str:
    """`1h`, `90m`, `45s`: a threshold as people say it; other lengths as durations."""
    whole = round(seconds)
    if whole >= 3600 and whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole >= 60 and whole % 60 == 0:
        return f"{whole // 60}m"
    return format_duration(seconds)


def sync_text(obj: Mapping[str, Any]) -> str:
    """`in_progress 1,234/5,000`, `in_progress 40%`, or the bare sync state."""
    sync = obj.get("sync") if isinstance(obj.get("sync"), dict) else None
    state = obj.get("sync_status") or (sync or {}).get("status")
    parts = [cell(state)] if state else []
    progress = (sync or {}).get("progress")
    if isinstance(progress, dict):
        done, total = progress.get("records_processed"), progress.get("records_total")
        percent = progress.get("percent", progress.get("percentage"))
        if _count(total) and total > 0 and _count(done):
            parts.append(f"{done:,}/{total:,}")
        elif isinstance(percent, int | float) and not isinstance(percent, bool):
            parts.append(f"{percent:.0f}%")
        elif _count(done):
            parts.append(f"{done:,}")
    return " ".join(parts)


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _when(value: Any, now: datetime) -> str:
    moment = parse_time(value)
    return age(moment, now) if moment is not None else cell(value)


def _ago(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds < 60 else format_duration(seconds)


# ---------------------------------------------------------------------- the view


class StatusBoard:
    """The view's state and its drawing: a Rich renderable fitted to the width it is
    given at each render."""

    def __init__(
        self,
        watch: Watch,
        *,
        alert_after: float,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
        highlight_for: float = HIGHLIGHT_SECONDS,
    ) -> None:
        self.watch = watch
        self.alert_after = alert_after
        self.monotonic = monotonic
        self.now = now
        self.highlight_for = highlight_for
        #: monotonic time of each connection's last change
        self.changed_at: dict[str, float] = {}
        #: when each connection's outage began, from the engine's alerts
        self.alert_since: dict[str, str] = {}
        #: draw every row whatever the height: the last frame, which stays in scrollback
        self.everything = False

    def apply(self, updates: Iterable[Update]) -> None:
        at = self.monotonic()
        for update in updates:
            if update.type == "changed":
                self.changed_at[update.key] = at
                if update.object.get("health") != "offline":
                    self.alert_since.pop(update.key, None)
            elif update.type == "alert":
                since = update.since or update.object.get("health_since")
                if isinstance(since, str):
                    self.alert_since[update.key] = since

    # ------------------------------------------------------------------ facts

    def offline_for(self, key: str, obj: Mapping[str, Any], now: datetime) -> float | None:
        """Seconds the connection has been offline, when it is and that is known."""
        if obj.get("health") != "offline":
            return None
        began = parse_time(self.alert_since.get(key) or obj.get("health_since"))
        return None if began is None else max(0.0, (now - began).total_seconds())

    def alerting(self, key: str, obj: Mapping[str, Any], now: datetime) -> bool:
        if obj.get("health") != "offline":
            return False
        if key in self.alert_since:
            return True
        seconds = self.offline_for(key, obj, now)
        return seconds is not None and seconds > self.alert_after

    def highlighted(self, key: str) -> bool:
        at = self.changed_at.get(key)
        return at is not None and self.monotonic() - at < self.highlight_for

    # ------------------------------------------------------------------ drawing

    def header(self, now: datetime) -> Any:
        from rich.text import Text

        objects = self.watch.objects
        # A server with Makini's documented calls only says no health: count statuses.
        field = "health" if any(o.get("health") for o in objects.values()) else "status"
        # No health: no system connected yet (pending), so the status says more.
        counts = Counter(
            cell(obj.get(field) or obj.get("status")) or "unknown" for obj in objects.values()
        )
        order = [h for h in HEALTH_STYLES if counts[h]] + sorted(
            h for h in counts if h not in HEALTH_STYLES
        )
        line = Text(no_wrap=True, overflow="ellipsis")
        for n, health in enumerate(order):
            if n:
                line.append(" · ", style="dim")
            line.append(f"{counts[health]} {health}", style=HEALTH_STYLES.get(health, ""))
        if not objects:
            line.append("no connections", style="dim")
        alerts = sum(self.alerting(k, o, now) for k, o in objects.items())
        if alerts:
            line.append("   ")
            line.append(f"⚠ {alerts} offline > {span(self.alert_after)}", style=ALERT_STYLE)
        last_ok = self.watch.last_ok
        line.append("   ")
        if last_ok is None:
            line.append("not updated yet", style="dim")
        else:
            line.append(f"updated {_ago(max(0.0, self.monotonic() - last_ok))} ago", style="dim")
        if self.watch.last_error:
            line.append(f" · {cell(self.watch.last_error)}", style="dim")
        if not self.everything:
            line.append("   q quits", style="dim")
        return line

    def cells(self, key: str, obj: Mapping[str, Any], now: datetime) -> dict[str, tuple[str, str]]:
        """Each column's (text, style) for one connection."""
        health = cell(obj.get("health"))
        health_style = HEALTH_STYLES.get(health, "")
        if self.alerting(key, obj, now):
            seconds = self.offline_for(key, obj, now)
            health = "⚠ offline" + (f" {format_duration(seconds)}" if seconds is not None else "")
            health_style = ALERT_STYLE
        return {
            "key": (cell(obj.get("key") or key), ""),
            "name": (cell(obj.get("name")), ""),
            "platform": (cell(obj.get("platform")), ""),
            "status": (cell(obj.get("status")), ""),
            "health": (health, health_style),
            "sync_status": (sync_text(obj), ""),
            "last_sync_at": (_when(obj.get("last_sync_at"), now), ""),
            "next_sync_at": (_when(obj.get("next_sync_at"), now), ""),
            "error": (cell(_error_text(obj.get("error"))), ""),
        }

    def table(self, width: int, height: int | None) -> Iterator[Any]:
        """The table at `width`, with at most the rows that fit `height` lines."""
        from rich.cells import cell_len
        from rich.table import Table
        from rich.text import Text

        now = self.now()
        items = list(self.watch.objects.items())
        hidden = 0
        if height is not None and not self.everything:
            room = max(1, height - _CHROME)
            if len(items) > room:
                # One line for "… N more" instead of the last row that would fit.
                items, hidden = items[: room - 1], len(items) - (room - 1)
        grid = [self.cells(key, obj, now) for key, obj in items]
        natural = [
            max(cell_len(col.header), *(cell_len(row[col.key][0]) for row in grid))
            for col in COLUMNS
        ]
        fitted = fit_columns(COLUMNS, natural, width)
        # Rich's default padding without box drawing leaves GAP cells between columns,
        # which is what `fit_columns` counts.
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for i, w in fitted:
            col = COLUMNS[i]
            if col.cut:
                table.add_column(
                    Text(col.header), no_wrap=True, overflow="ellipsis", width=w, min_width=w
                )
            else:
                # Keys and the rest are never cut or folded: never narrower than their value.
                table.add_column(Text(col.header), no_wrap=True, overflow="ignore", min_width=w)
        for (key, _), row in zip(items, grid, strict=True):
            table.add_row(
                *(Text(row[COLUMNS[i].key][0], style=row[COLUMNS[i].key][1]) for i, _ in fitted),
                style="reverse" if self.highlighted(key) else None,
            )
        yield table
        if hidden:
            yield Text(f"… {hidden} more (a taller window shows them)", style="dim", no_wrap=True)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Fitted anew at every render: the width (and height) may have changed since.
        width = options.max_width
        header = self.header(self.now())
        header.truncate(width, overflow="ellipsis")
        yield header
        yield from self.table(width, console.height)


def run_live(
    watch: Watch,
    *,
    console: Console,
    terminal: Terminal,
    keys_reader: KeyReader | None = None,
    until: Callable[[Mapping[str, dict[str, Any]]], bool] | None = None,
    deadline: float | None = None,
    alert_after: float = 3600.0,
    monotonic: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = utc_now,
) -> Outcome:
    """Show the live view until `q` ("quit"), Ctrl-C ("interrupted"), `until` holds for the
    connections ("until") or the monotonic `deadline` passes ("timeout").

    It calls `watch.start()` itself, before the display comes up, so an error loading the
    connections is reported like any other. `keys_reader` defaults to the terminal's
    stdin (output/keys.py); the terminal's modes are restored however the view ends.
    """
    from rich.live import Live

    board = StatusBoard(watch, alert_after=alert_after, monotonic=monotonic, now=now)
    try:
        board.apply(watch.start())
    except KeyboardInterrupt:
        return "interrupted"
    reader = keys_reader or TerminalKeys(terminal.stdin, is_tty=terminal.is_tty("stdin"))
    live = Live(
        board,
        console=console,
        screen=False,
        transient=False,
        # Redrawn by the loop below only: a refresh thread would wake four times a second.
        auto_refresh=False,
    )
    with reader:
        try:
            try:
                live.start(refresh=True)
                return _loop(watch, board, live, reader, until, deadline, monotonic)
            finally:
                # The last frame stays in the scrollback, with every row.
                board.everything = True
                try:
                    live.stop()
                finally:
                    with contextlib.suppress(Exception):
                        console.show_cursor(True)
        except KeyboardInterrupt:
            return "interrupted"


def _loop(
    watch: Watch,
    board: StatusBoard,
    live: Any,
    reader: KeyReader,
    until: Callable[[Mapping[str, dict[str, Any]]], bool] | None,
    deadline: float | None,
    monotonic: Callable[[], float],
) -> Outcome:
    width = live.console.width
    while True:
        if until is not None and until(watch.objects):
            return "until"
        at = monotonic()
        if deadline is not None and at >= deadline:
            return "timeout"
        wait = min(watch.next_wait(), TICK)
        if deadline is not None:
            wait = min(wait, deadline - at)
        typed = reader.read(max(0.0, wait))
        if CTRL_C in typed:
            return "interrupted"
        if "q" in typed:
            return "quit"
        if watch.next_wait() <= 0:
            board.apply(watch.step())
        width = _redraw(live, width)


def _redraw(live: Any, width: int) -> int:
    """Draw the view anew over its last frame; the console's width now."""
    console = live.console
    now_width = int(console.width)
    render = getattr(live, "_live_render", None)
    if now_width < width and render is not None and hasattr(render, "_shape"):
        # A narrower terminal re-wraps the last frame's lines (tmux and VTE terminals do),
        # so Rich, moving up over the frame's old height, would leave pieces of it above
        # the new one: the view starts again at the top of a cleared screen instead.
        from rich.control import Control

        console.control(Control.clear(), Control.home())
        render._shape = None
    live.refresh()
    return now_width
