"""How a waiting `sync run` / `sync watch` shows progress, on stderr.

On a terminal: a Rich progress display, one row per sync, named after its connection;
bars move between polls at the rate the last polls showed, and a finished row turns green
(✓), red (✗) or yellow (⊘). Elsewhere: a plain line per state change and at most one
progress line every few seconds per sync, with no control codes, so CI logs stay readable.

Every name, key, id, status and scope on a row is the server's text and is cleaned here
(output/sanitize.py), so callers pass what they got.

Either way the caller may end with a total line (`3 syncs finished in 42s`):
`view.close(view.totals())`.

Times are how long each sync ran on the server, by the Sync's own `started_at` and
`finished_at` (`ran_for`), not how long this run watched it: a sync that ended before
`sync watch` began still shows its real length. Only a sync the server gives no times
(Makini's documented status call) is timed here, from when the view first saw it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from makini_cli.durations import format_duration
from makini_cli.models.sync import TERMINAL, Sync
from makini_cli.output.ages import parse_time
from makini_cli.output.sanitize import clean

if TYPE_CHECKING:
    from rich.progress import ProgressColumn, Task

#: How a finished row looks on a terminal: (glyph, colour) by final status.
FINAL_LOOK: dict[str, tuple[str, str]] = {
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("⊘", "yellow"),
}


def describe(sync: Sync) -> str:
    """`running work_orders 1,200/5,000 records` — the gist of a sync's state; the status
    and scope are the server's words, so cleaned (output/sanitize.py)."""
    parts = [clean(sync.status or "?")]
    progress = sync.progress
    if progress and (progress.scope or progress.records_total):
        if progress.scope:
            parts.append(clean(progress.scope))
        if progress.records_total:
            parts.append(f"{progress.records_processed or 0:,}/{progress.records_total:,} records")
    return " ".join(parts)


def _epoch(value: str | None) -> float | None:
    moment = parse_time(value)
    return None if moment is None else moment.timestamp()


def ran_for(sync: Sync, now: float) -> float | None:
    """How long `sync` ran on the server, by its own times: `finished_at - started_at`
    once it ended, `now - started_at` while it runs (`now`: this machine's clock, taken
    for the server's; see `_Board.ran` for when it is not), 0 while it is queued or when
    it ended before it started. None when the server gave it no times to go by."""
    started, finished = _epoch(sync.started_at), _epoch(sync.finished_at)
    if started is None:
        known = sync.created_at is not None or finished is not None
        return 0.0 if known else None
    if finished is None and sync.finished:
        return None  # ended, but the server did not say when
    end = now if finished is None else finished
    # A server clock a little ahead of this one must not make a running sync negative.
    return max(0.0, end - started)


#: How far this machine's clock may seem to disagree with the server's before a running
#: sync's time is counted here instead (a sandbox on a fast or manual clock).
CLOCK_SLACK_S = 5.0


def totals_line(statuses: Iterable[str | None], seconds: float) -> str:
    """`3 syncs finished in 42s`, `3 syncs finished in 42s: 2 succeeded, 1 failed`, or
    `1 of 2 syncs finished in 30m00s` when some were still going."""
    states = list(statuses)
    done = Counter(s for s in states if s in TERMINAL)
    finished = sum(done.values())
    noun = "sync" if len(states) == 1 else "syncs"
    count = f"{finished}" if finished == len(states) else f"{finished} of {len(states)}"
    line = f"{count} {noun} finished in {format_duration(seconds)}"
    if set(done) - {"succeeded"}:
        line += ": " + ", ".join(f"{n} {status}" for status, n in sorted(done.items()))
    return line


class ProgressView(Protocol):
    def update(self, key: str, sync: Sync) -> None: ...

    def set_label(self, key: str, name: str) -> None:
        """Show `name` (the connection's name) for `key`'s row instead of the key."""
        ...

    def totals(self) -> str:
        """The run's total line: how many syncs finished, how, and in how long."""
        ...

    def seconds(self, key: str) -> float | None:
        """How long `key`'s sync has run on the server, as far as the view can tell."""
        ...

    def close(self, summary: str | None = None) -> None:
        """Stop the display (again is harmless); then print `summary` as its last line."""
        ...


class _Board:
    """What every view remembers: row names, each row's latest state, the start time."""

    #: Whether it draws progress bars, which only polling a sync can feed.
    shows_bars = False

    def __init__(
        self,
        names: Mapping[str, str] | None,
        monotonic: Callable[[], float],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.names = {key: clean(name) for key, name in (names or {}).items() if name}
        self.monotonic = monotonic
        #: this machine's clock, for how long a running sync has run by its `started_at`
        self.wall = wall
        self.started = monotonic()
        self.statuses: dict[str, str | None] = {}
        #: each row's latest Sync, for the server's times
        self.syncs: dict[str, Sync] = {}
        #: when this view first saw each row, and saw it ended (monotonic): the times of
        #: a sync the server gives none
        self.first_seen: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        #: when this view last saw each row's sync not yet started, and first saw it
        #: started (monotonic): what this machine knows of how long it has run
        self.waiting: dict[str, float] = {}
        self.running_since: dict[str, float] = {}

    def _saw(self, key: str, sync: Sync, now: float) -> None:
        self.statuses[key] = sync.status
        self.syncs[key] = sync
        self.first_seen.setdefault(key, now)
        if sync.finished:
            self.ended.setdefault(key, now)
        if sync.started_at is None and not sync.finished:
            self.waiting[key] = now
        else:
            self.running_since.setdefault(key, now)

    def ran(self, key: str, sync: Sync, now: float) -> float:
        """How long the row's sync has run: by the server's times, else as seen here.

        While it runs, that is this machine's clock less the server's `started_at`, as
        long as the two clocks can agree: not when the start lies ahead of this clock, nor
        when it lies further back than the moment this view still saw the sync queued.
        (A sandbox on a fast or manual clock.) Then it is counted here, from when it was
        first seen running; its end, by the server's times, sets it right."""
        wall = self.wall()
        seconds = ran_for(sync, wall)
        if seconds is None:
            return self.ended.get(key, now) - self.first_seen.get(key, now)
        started = _epoch(sync.started_at)
        if sync.finished or started is None:
            return seconds
        waited = self.waiting.get(key)
        by_server = wall - started
        if by_server < -CLOCK_SLACK_S or (
            waited is not None and by_server > now - waited + CLOCK_SLACK_S
        ):
            return now - self.running_since.get(key, now)
        return seconds

    def seconds(self, key: str) -> float | None:
        """How long `key`'s sync has run (`ran`), or None when the view never saw it."""
        sync = self.syncs.get(key)
        return None if sync is None else self.ran(key, sync, self.monotonic())

    def set_label(self, key: str, name: str) -> None:
        if name:
            self.names[key] = clean(name)

    def label(self, key: str) -> str:
        return self.names.get(key) or clean(key)

    def totals(self) -> str:
        """From the first sync's start to the last one's end, by the server's times; by
        this view's own clock when no sync had any (the documented status call)."""
        now = self.monotonic()
        spans: list[tuple[float, float]] = []
        for key, sync in self.syncs.items():
            started = _epoch(sync.started_at)
            if started is not None and (sync.finished_at or not sync.finished):
                spans.append((started, started + self.ran(key, sync, now)))
        if spans:
            seconds = max(end for _, end in spans) - min(start for start, _ in spans)
        else:
            seconds = self.monotonic() - self.started
        return totals_line(self.statuses.values(), seconds)


class NullProgress(_Board):
    """--quiet: remembers enough for `totals()`, shows nothing."""

    def __init__(
        self,
        *,
        names: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(names, monotonic, wall)

    def update(self, key: str, sync: Sync) -> None:
        self._saw(key, sync, self.monotonic())

    def close(self, summary: str | None = None) -> None:
        pass


class PlainProgress(_Board):
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        every: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        names: Mapping[str, str] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(names, monotonic, wall)
        self.stream = stream or sys.stderr
        self.every = every
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str | None, float]] = {}

    def update(self, key: str, sync: Sync) -> None:
        now = self.monotonic()
        with self._lock:
            self._saw(key, sync, now)
            status, last = self._seen.get(key, (None, -1e9))
            if sync.status == status and now - last < self.every:
                return
            self._seen[key] = (sync.status, now)
            ran = self.ran(key, sync, now)
        # The key stays on the line even when the row has a name: a log is searched by key.
        name = self.names.get(key)
        label = f"{name} ({key})" if name and name != key else key
        if sync.id:
            label += f" {sync.id}"
        line = f"{label}: {describe(sync)} ({format_duration(ran)})"
        # Cleaned whole, where it leaves: key, id, name, status and scope are the server's.
        self.stream.write(clean(line) + "\n")
        self.stream.flush()

    def close(self, summary: str | None = None) -> None:
        if summary:
            self.stream.write(clean(summary) + "\n")
            self.stream.flush()


#: How long a bar may run on from its last poll. `sync run` waits up to 30 s between
#: polls when it expects the end then (its ETA cap), and the bar should move all that time.
LONGEST_POLL_GAP = 30.0


class RateEstimate:
    """How many records a bar shows between polls.

    Polls come seconds apart, so a bar that only moved on them would jump and then sit
    still. Between polls the count goes on at the rate seen between the last two polls:
    for no longer than twice the last gap between polls or LONGEST_POLL_GAP (a sync that
    stalls must not run on to 100%), never up to the total (only a poll fills the bar),
    and never backwards: a poll snaps the bar up to the real count, and when the estimate
    ran ahead the bar waits for it. The row's text always shows the polled count.
    """

    def __init__(self) -> None:
        self.done = 0
        self.total: int | None = None
        self.at: float | None = None
        self.rate = 0.0
        self.horizon = 0.0
        self.shown = 0.0

    def observe(self, done: int, total: int | None, now: float, *, final: bool = False) -> None:
        if self.at is None or total != self.total or done < self.done:
            # First poll, or the sync sized itself anew: nothing to extrapolate from yet.
            self.rate, self.horizon, self.shown = 0.0, 0.0, float(done)
        elif now > self.at and done > self.done:
            self.rate = (done - self.done) / (now - self.at)
            self.horizon = max(2 * (now - self.at), LONGEST_POLL_GAP)
        if final:
            self.rate = 0.0
        self.done, self.total, self.at = done, total, now
        self.shown = max(self.shown, float(done))

    def value(self, now: float) -> float:
        guess = float(self.done)
        if self.at is not None and self.rate > 0:
            guess += self.rate * min(max(0.0, now - self.at), self.horizon)
        if self.total is not None:
            # Only a poll may fill the bar: an estimate that reached the total would make
            # a running sync look finished.
            guess = min(guess, max(float(self.done), self.total - 0.5))
        self.shown = max(self.shown, guess)
        return self.shown


class RichProgress(_Board):
    shows_bars = True

    def __init__(
        self,
        color: str = "auto",
        *,
        names: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        console: Any = None,
    ) -> None:
        """`console` replaces the stderr console (tests draw into a recording one)."""
        from rich.console import Console
        from rich.progress import Progress

        super().__init__(names, monotonic, wall)
        # soft_wrap: lines written to stderr while the display runs (warnings, hints to
        # copy) reach the terminal as written; Rich would otherwise re-wrap them.
        self._console = console or Console(
            stderr=True, no_color=color == "never", highlight=False, soft_wrap=True
        )
        self._lock = threading.Lock()
        self._estimates: dict[str, RateEstimate] = {}
        self._tasks: dict[str, Any] = {}
        self._closed = False
        self._progress = Progress(
            *_columns(self._estimated, self._ran),
            console=self._console,
            transient=False,
            get_time=monotonic,
        )
        try:
            self._progress.start()
        except BaseException:
            # Ctrl-C or SIGTERM as the display comes up: the cursor may already be hidden,
            # no caller holds this object yet to stop it, and the display may be half set
            # up (stopping it can then fail), so the cursor is shown by hand as well.
            with contextlib.suppress(Exception):
                self._progress.stop()
            with contextlib.suppress(Exception):
                self._console.show_cursor(True)
            raise

    def _estimated(self, task: Task) -> float:
        key = task.fields.get("key")
        with self._lock:
            estimate = self._estimates.get(key) if isinstance(key, str) else None
            return task.completed if estimate is None else estimate.value(self.monotonic())

    def _ran(self, task: Task) -> float | None:
        """The row's clock: how long its sync has run on the server; None while queued."""
        key = task.fields.get("key")
        if not isinstance(key, str):
            return None
        with self._lock:
            sync = self.syncs.get(key)
            if sync is None or sync.status == "queued":
                return None
            return self.ran(key, sync, self.monotonic())

    def set_label(self, key: str, name: str) -> None:
        super().set_label(key, name)
        task = self._tasks.get(key)
        if task is not None:
            self._progress.update(task, label=self.label(key))

    def update(self, key: str, sync: Sync) -> None:
        progress = sync.progress
        total = progress.records_total if progress and progress.records_total else None
        done = progress.records_processed or 0 if progress else 0
        if sync.status == "succeeded" and total:
            done = total
        glyph, tone = FINAL_LOOK.get(sync.status or "", ("", ""))
        # Never call into Rich while holding the lock: its refresh thread holds Rich's own
        # lock while it asks `_estimated` for a bar's position.
        with self._lock:
            self._saw(key, sync, self.monotonic())
            estimate = self._estimates.setdefault(key, RateEstimate())
            estimate.observe(done, total, self.monotonic(), final=sync.finished)
        task = self._tasks.get(key)
        if task is None:
            task = self._progress.add_task(
                "", total=total, key=key, label=self.label(key), state="", glyph="", tone=""
            )
            self._tasks[key] = task
        self._progress.update(
            task,
            total=total,
            completed=done,
            state=describe(sync),
            glyph=glyph,
            tone=tone,
            queued=sync.status == "queued",
        )
        if sync.finished:
            self._progress.stop_task(task)

    def close(self, summary: str | None = None) -> None:
        with self._lock:
            closing, self._closed = not self._closed, True
        if closing:
            try:
                self._progress.stop()
            finally:
                # Even when a signal cut the stop short, the terminal gets its cursor back.
                with contextlib.suppress(Exception):
                    self._console.show_cursor(True)
        if summary:
            from rich.text import Text

            self._console.print(Text(clean(summary)), soft_wrap=True)


def _columns(
    estimated: Callable[[Task], float], ran: Callable[[Task], float | None]
) -> list[ProgressColumn]:
    """The display's columns; defined here because Rich is imported only on a terminal."""
    from datetime import timedelta

    from rich.progress import BarColumn, ProgressColumn
    from rich.progress_bar import ProgressBar
    from rich.spinner import Spinner
    from rich.table import Column
    from rich.text import Text

    # Name and state give way on a narrow terminal (Rich narrows wrappable columns first),
    # each cut with "…" on its one line; the bar and the clock keep their width.
    class RowName(ProgressColumn):
        """Glyph and connection name; a spinner while running, a dot while queued."""

        def __init__(self) -> None:
            super().__init__(table_column=Column(max_width=34))
            self._spinner = Spinner("dots")

        def render(self, task: Task) -> Text:
            glyph, tone = str(task.fields.get("glyph", "")), str(task.fields.get("tone", ""))
            if glyph:
                mark = Text(glyph, style=tone)
            elif task.fields.get("queued"):
                mark = Text("·", style="dim")
            else:
                frame = self._spinner.render(task.get_time())
                mark = frame if isinstance(frame, Text) else Text("…")
            name = Text(str(task.fields.get("label", "")), style=tone)
            return Text.assemble(mark, " ", name, no_wrap=True, overflow="ellipsis")

    class EstimatedBar(BarColumn):
        """The bar at the estimated count, in the row's final colour once it is over."""

        def render(self, task: Task) -> ProgressBar:
            bar = super().render(task)
            if task.total is not None and not task.finished:
                bar.completed = estimated(task)
            tone = str(task.fields.get("tone", ""))
            if tone:
                bar.complete_style = bar.finished_style = tone
            return bar

    class State(ProgressColumn):
        def render(self, task: Task) -> Text:
            tone = str(task.fields.get("tone", ""))
            text = str(task.fields.get("state", ""))
            return Text(text, style=tone, no_wrap=True, overflow="ellipsis")

    class RanFor(ProgressColumn):
        """How long the sync has run on the server (H:MM:SS), frozen once it ended."""

        def render(self, task: Task) -> Text:
            seconds = ran(task)
            if seconds is None:
                return Text("-:--:--", style="progress.elapsed")
            return Text(str(timedelta(seconds=int(seconds))), style="progress.elapsed")

    fixed = Column(no_wrap=True)
    return [
        RowName(),
        # Rich's default pink-red for a running bar would read as a failure next to ✗.
        EstimatedBar(
            bar_width=16, complete_style="cyan", finished_style="green", table_column=fixed
        ),
        State(),
        RanFor(table_column=Column(no_wrap=True)),
    ]
