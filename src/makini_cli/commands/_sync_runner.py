"""Start syncs, follow them to the end, and turn what happened into outcomes.

Shared by `sync run` (one connection or a fan-out over many) and `sync watch`. One
`ApiClient` serves every thread: httpx's sync client is thread-safe, its connection pool
is shared, and the client's rate pacer spaces requests across all threads. Measured here
(see issue 3), threads on one sync client scale where httpx's async pool degrades above
about 8 requests in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from makini_cli.api.resources.syncs import (
    AlreadyRunning,
    Detached,
    DocumentedTracker,
    PollPolicy,
    SyncsAPI,
    Tracker,
    WaitTimeout,
)
from makini_cli.errors import CliError, ExitCode
from makini_cli.models.sync import Sync
from makini_cli.output.progress import ProgressView

#: From harmless to worst: a fan-out exits with the worst outcome's code.
SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.OK,
    ExitCode.CONFLICT,
    ExitCode.PENDING,
    ExitCode.SYNC_CANCELLED,
    ExitCode.SYNC_FAILED,
    ExitCode.ERROR,
    ExitCode.UNAVAILABLE,
    ExitCode.AUTH,
    ExitCode.INTERRUPTED,
)

RESULT_CODES: dict[str, ExitCode] = {
    "succeeded": ExitCode.OK,
    "queued": ExitCode.OK,
    "skipped": ExitCode.OK,
    "conflict": ExitCode.CONFLICT,
    "timeout": ExitCode.PENDING,
    "failed": ExitCode.SYNC_FAILED,
    "cancelled": ExitCode.SYNC_CANCELLED,
    "detached": ExitCode.INTERRUPTED,
}


@dataclass
class Outcome:
    key: str
    result: str
    sync: Sync | None = None
    error: CliError | None = None
    request_id: str | None = None
    elapsed: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        if self.result == "error" and self.error is not None:
            return self.error.exit_code
        return RESULT_CODES.get(self.result, ExitCode.ERROR)

    @property
    def sync_id(self) -> str | None:
        return self.sync.id if self.sync else None

    def record(self) -> dict[str, Any]:
        """What `-o json|jsonl` prints: the Sync object as the API sent it, or a stand-in
        with the same field names when there is none (an error before the sync started)."""
        if self.sync is not None:
            return self.sync.to_api()
        record: dict[str, Any] = {"id": None, "connection_key": self.key, "status": self.result}
        if self.error is not None:
            record["error"] = {"code": self.error.code, "message": self.error.message}
        return record


def worst(outcomes: list[Outcome]) -> ExitCode:
    codes = [o.exit_code for o in outcomes] or [ExitCode.OK]
    return max(codes, key=lambda c: SEVERITY.index(c) if c in SEVERITY else len(SEVERITY))


@dataclass
class RunOptions:
    scopes: list[str] | None = None
    full: bool = False
    wait: bool = True
    timeout: float | None = None
    if_running: str = "fail"
    idempotency_key: str | None = None
    several: bool = False
    policy: PollPolicy = field(default_factory=PollPolicy)
    stall_after: float = 120.0


class _StallWatch:
    """Notices when a sync's progress has not moved for `after` seconds (warns once).

    Only syncs that report progress are watched: Makini's documented status call has
    none, and a long full sync is not a stalled one."""

    def __init__(self, now: float, after: float) -> None:
        self.after = after
        self.since = now
        self.last: tuple[str | None, str | None, int | None] | None = None
        self.warned = False

    def still(self, sync: Sync, now: float) -> float | None:
        progress = sync.progress
        if progress is None or sync.finished:
            return None
        mark = (sync.status, progress.scope, progress.records_processed)
        if mark != self.last:
            self.last, self.since = mark, now
            return None
        if not self.warned and now - self.since > self.after:
            self.warned = True
            return now - self.since
        return None


class SyncRunner:
    def __init__(
        self,
        api: SyncsAPI,
        options: RunOptions,
        progress: ProgressView,
        warn: Callable[[str], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.options = options
        self.progress = progress
        self.warn = warn
        self.monotonic = monotonic
        self.stop = threading.Event()
        #: syncs being followed right now, by connection key
        self.active: dict[str, Tracker] = {}
        self._lock = threading.Lock()

    def _done(self, key: str) -> None:
        with self._lock:
            self.active.pop(key, None)

    # ------------------------------------------------------------------ one connection

    def run_one(self, key: str) -> Outcome:
        started = self.monotonic()
        opts = self.options
        idem = opts.idempotency_key
        if idem and opts.several:
            idem = f"{idem}:{key}"  # one logical operation per connection
        try:
            try:
                tracker = self.api.start(
                    key, scopes=opts.scopes, full=opts.full, idempotency_key=idem
                )
            except AlreadyRunning as running:
                return self._already_running(key, running, started)
            if not opts.wait:
                first = tracker.poll() if isinstance(tracker, DocumentedTracker) else None
                sync = first or getattr(tracker, "latest", None)
                return Outcome(key, "queued", sync, request_id=tracker.request_id)
            return self.follow(key, tracker, started)
        except Detached:
            return Outcome(key, "detached", None, elapsed=self.monotonic() - started)
        except CliError as exc:
            return Outcome(key, "error", None, error=exc, elapsed=self.monotonic() - started)

    def _already_running(self, key: str, running: AlreadyRunning, started: float) -> Outcome:
        policy = self.options.if_running
        if policy == "fail":
            return Outcome(
                key, "conflict", None, error=running.error, request_id=running.error.request_id
            )
        if running.sync_id and self.api.extended:
            tracker: Tracker = self.api.track(running.sync_id)
        else:
            token, _ = self.api.connections.token(key)
            tracker = DocumentedTracker(self.api, key, token, "incremental", None)
        if policy == "skip":
            return Outcome(key, "skipped", tracker.poll(), request_id=tracker.request_id)
        return self.follow(key, tracker, started)

    def follow(self, key: str, tracker: Tracker, started: float | None = None) -> Outcome:
        started = self.monotonic() if started is None else started
        with self._lock:
            self.active[key] = tracker
        stall = _StallWatch(self.monotonic(), self.options.stall_after)

        def on_update(sync: Sync) -> None:
            self.progress.update(key, sync)
            quiet_for = stall.still(sync, self.monotonic())
            if quiet_for is not None:
                self.warn(
                    f"{key}: sync {sync.id or ''} has made no progress for "
                    f"{int(quiet_for)} s; it may be stalled"
                )

        try:
            final = self.api.wait(
                tracker,
                timeout=self.options.timeout,
                policy=self.options.policy,
                on_update=on_update,
                stop=self.stop,
                monotonic=self.monotonic,
            )
        except WaitTimeout as timeout:
            self._done(key)
            return Outcome(
                key,
                "timeout",
                timeout.latest,
                request_id=tracker.request_id,
                elapsed=self.monotonic() - started,
            )
        except Detached:
            latest = getattr(tracker, "latest", None)
            # Left in `self.active`: the caller tells the user how to follow it.
            return Outcome(
                key,
                "detached",
                latest,
                request_id=tracker.request_id,
                elapsed=self.monotonic() - started,
            )
        except CliError as exc:
            self._done(key)
            return Outcome(key, "error", None, error=exc, elapsed=self.monotonic() - started)
        self._done(key)
        result = final.status if final.status in ("succeeded", "failed", "cancelled") else "failed"
        return Outcome(
            key, result, final, request_id=tracker.request_id, elapsed=self.monotonic() - started
        )

    # ------------------------------------------------------------------ many

    def run_many(
        self, keys: list[str], concurrency: int, work: Callable[[str], Outcome] | None = None
    ) -> Iterator[Outcome]:
        """Yield outcomes as they finish, `concurrency` connections at a time.

        On Ctrl-C every wait stops (`self.active` then holds the syncs left running on the
        server) and KeyboardInterrupt propagates to the caller.
        """
        job = work or self.run_one
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, len(keys))), thread_name_prefix="makini-sync"
        )
        pending: set[Future[Outcome]] = {pool.submit(job, key) for key in keys}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            self.progress.close()

    def sleep(self, seconds: float) -> None:
        """The client's retry sleep during a run: Ctrl-C must not wait out a Retry-After."""
        if self.stop.wait(seconds):
            raise Detached()
