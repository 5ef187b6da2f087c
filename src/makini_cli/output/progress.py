"""How a waiting `sync run` / `sync watch` shows progress, on stderr.

On a terminal: a Rich progress display (scope, records, elapsed), one row per sync.
Elsewhere: a plain line per state change and at most one progress line every few seconds
per sync, with no control codes, so CI logs stay readable.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from makini_cli.durations import format_duration
from makini_cli.models.sync import Sync
from makini_cli.output.sanitize import clean


def describe(sync: Sync) -> str:
    """`running work-orders 1,200/5,000 records` — the gist of a sync's state."""
    parts = [sync.status or "?"]
    progress = sync.progress
    if progress and (progress.scope or progress.records_total):
        if progress.scope:
            parts.append(clean(progress.scope))
        if progress.records_total:
            parts.append(f"{progress.records_processed or 0:,}/{progress.records_total:,} records")
    return " ".join(parts)


class ProgressView(Protocol):
    def update(self, key: str, sync: Sync) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def update(self, key: str, sync: Sync) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        every: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str | None, float, float]] = {}

    def update(self, key: str, sync: Sync) -> None:
        now = self.monotonic()
        with self._lock:
            status, started, last = self._seen.get(key, (None, now, -1e9))
            if sync.status == status and now - last < self.every:
                return
            self._seen[key] = (sync.status, started, now)
        label = f"{key} {sync.id}" if sync.id else key
        self.stream.write(f"{label}: {describe(sync)} ({format_duration(now - started)})\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class RichProgress:
    def __init__(self, color: str = "auto") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(stderr=True, no_color=color == "never", highlight=False)
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[state]}", markup=False),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._progress.start()

    def update(self, key: str, sync: Sync) -> None:
        progress = sync.progress
        total = progress.records_total if progress and progress.records_total else None
        done = progress.records_processed or 0 if progress else 0
        if sync.finished and total:
            done = total if sync.status == "succeeded" else done
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                task = self._progress.add_task(clean(key), total=total, state=describe(sync))
                self._tasks[key] = task
        self._progress.update(task, total=total, completed=done, state=describe(sync))
        if sync.finished:
            self._progress.stop_task(task)

    def close(self) -> None:
        self._progress.stop()
