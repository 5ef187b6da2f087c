"""Start syncs, follow them to the end, and turn what happened into outcomes.

Shared by `sync run` (one connection or a fan-out over many) and `sync watch` (syncs
already running, or already ended: those are reported at once).

Concurrency bounds requests in flight, not syncs: every sync is started as soon as a
worker is free, and one scheduler (the caller's thread) keeps a queue of when each
followed sync is next due for a poll, handing due polls to the workers. So 200 syncs that
each take a minute on the server finish in about a minute, not in 200/8 minutes.

One `ApiClient` serves every worker: httpx's sync client is thread-safe, its connection
pool is shared, and the client's rate pacer spaces requests across all of them. Measured
here (issue 3), threads on one sync client scale where httpx's async pool degrades above
about 8 requests in flight.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from makini_cli.api.errors import APIError, DeadlineExceededError
from makini_cli.api.resources.syncs import (
    AlreadyRunning,
    Detached,
    DocumentedTracker,
    EtaEstimate,
    PollPolicy,
    SyncsAPI,
    Tracker,
)
from makini_cli.errors import CliError, ExitCode
from makini_cli.failures import to_cli_error
from makini_cli.models.sync import Sync
from makini_cli.output.progress import ProgressView, ran_for

if TYPE_CHECKING:
    from makini_cli.api.client import ApiClient
    from makini_cli.api.resources.events import SyncEndings

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

#: What can happen to one connection's sync run. These are outcomes of the command, not
#: Sync statuses: a sync that never started has no status, and none is invented for it.
RESULT_CODES: dict[str, ExitCode] = {
    "succeeded": ExitCode.OK,
    "started": ExitCode.OK,  # --no-wait: the sync was started and left to run
    "skipped": ExitCode.OK,  # --if-running skip: another sync was already running
    "conflict": ExitCode.CONFLICT,
    "timeout": ExitCode.PENDING,
    "failed": ExitCode.SYNC_FAILED,
    "cancelled": ExitCode.SYNC_CANCELLED,
    "detached": ExitCode.INTERRUPTED,
}


@dataclass
class Outcome:
    key: str
    #: one of RESULT_CODES, or "error" (the command failed before or while following)
    result: str
    sync: Sync | None = None
    error: CliError | None = None
    request_id: str | None = None
    #: how long the sync ran on the server, by its own times (`ran_for`); when it has
    #: none (or none was started), how long this run spent on it
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
        """What `-o json|jsonl` prints, one shape for one connection or many: the outcome,
        the Sync as the API sent it (null when none was started), and the error that
        explains a bad outcome (the API's, or the failed sync's own)."""
        error: dict[str, Any] | None = None
        if self.error is not None:
            error = {
                "code": self.error.code,
                "message": self.error.message,
                "http_status": self.error.http_status,
                "request_id": self.error.request_id,
            }
        elif self.result == "failed" and self.sync is not None and self.sync.error is not None:
            error = {"code": self.sync.error.code, "message": self.sync.error.message}
        return {
            "connection_key": self.key,
            "outcome": self.result,
            "sync": self.sync.to_api() if self.sync is not None else None,
            "error": error,
        }

    def flat(self) -> dict[str, Any]:
        """The record as one row of scalars, for `-o csv`."""
        sync = self.sync
        error = self.record()["error"] or {}
        return {
            "connection_key": self.key,
            "outcome": self.result,
            "sync_id": sync.id if sync else None,
            "sync_status": sync.status if sync else None,
            "error_code": error.get("code"),
            "error_message": error.get("message"),
        }


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
    #: when `timeout` runs out, on the runner's monotonic clock (`limit_requests`)
    deadline: float | None = None


def limit_requests(options: RunOptions, client: ApiClient) -> None:
    """Start `--timeout`'s countdown now, for the whole command: every request from here
    on (a listing before the runner starts, a start, a poll, their retries and waits) is
    cut short or given up when it runs out, so a server that answers slowly, or a byte at
    a time, cannot hold the command past it."""
    if options.timeout is not None and options.deadline is None:
        options.deadline = client.monotonic() + options.timeout
    client.deadline = options.deadline


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


@dataclass
class _Followed:
    key: str
    tracker: Tracker
    started: float
    deadline: float | None
    intervals: Iterator[float]
    stall: _StallWatch
    eta: EtaEstimate = field(default_factory=EtaEstimate)
    latest: Sync | None = None


#: While a run follows the event log, each sync is still polled now and then, in case
#: its ending never shows in the log (a server that drops events): a slow safety net.
SAFETY_POLL_S = 120.0
#: Up to this many syncs on a terminal's live bars are also polled as before: their bars
#: show progress, which only a poll reports. Beyond it (or with no bars) the log alone.
PROGRESS_POLL_LIMIT = 8


class SyncRunner:
    def __init__(
        self,
        api: SyncsAPI,
        options: RunOptions,
        progress: ProgressView,
        warn: Callable[[str], None],
        *,
        explain: Callable[[APIError], CliError] = to_cli_error,
        monotonic: Callable[[], float] = time.monotonic,
        endings: Callable[[], SyncEndings | None] | None = None,
    ) -> None:
        self.api = api
        #: how to open the event log's sync endings, for a fan-out (None: poll each sync)
        self.open_endings = endings
        #: API errors become the CLI's (exit code, hint) as they are recorded
        self.explain = explain
        self.options = options
        self.progress = progress
        self.warn = warn
        self.monotonic = monotonic
        self.stop = threading.Event()
        #: syncs being followed right now, by connection key (for Ctrl-C's advice)
        self.active: dict[str, Tracker] = {}
        #: when --timeout runs out for the whole command; polls stop then (exit 8)
        self.deadline = options.deadline

    def sleep(self, seconds: float) -> None:
        """The client's retry sleep during a run: Ctrl-C must not wait out a Retry-After."""
        if self.stop.wait(seconds):
            raise Detached()

    # ------------------------------------------------------------------ starting

    def begin(self, key: str) -> Outcome | Tracker:
        """Start one connection's sync (in a worker): a Tracker to follow, or an Outcome."""
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
                return self._already_running(key, running)
            if not opts.wait:
                first = tracker.poll() if isinstance(tracker, DocumentedTracker) else None
                sync = first or getattr(tracker, "latest", None)
                return Outcome(key, "started", sync, request_id=tracker.request_id)
            return tracker
        except Detached:
            return Outcome(key, "detached", None, elapsed=self.monotonic() - started)
        except (CliError, APIError) as exc:
            # Time ran out before the start was answered: no sync is known to run, so it
            # is the API's slowness (exit 5), not a pending sync (exit 8, which promises
            # that the job goes on). A start that was sent may still have happened.
            error = self._cli(exc)
            if isinstance(exc, DeadlineExceededError) and exc.sent and exc.method == "POST":
                error.hint = (
                    f"the sync may have started all the same: `makini sync list {key}` "
                    "shows it; raise --timeout for a slow server"
                )
            return Outcome(key, "error", None, error=error, elapsed=self.monotonic() - started)

    def _already_running(self, key: str, running: AlreadyRunning) -> Outcome | Tracker:
        policy = self.options.if_running
        if policy == "fail":
            return Outcome(
                key,
                "conflict",
                None,
                error=self.explain(running.error),
                request_id=running.error.request_id,
            )
        if running.sync_id and self.api.extended:
            tracker: Tracker = self.api.track(running.sync_id)
        else:
            tracker = self.api.follow_documented(key)
        if policy == "skip":
            return Outcome(key, "skipped", tracker.poll(), request_id=tracker.request_id)
        return tracker

    # ------------------------------------------------------------------ following

    def run_many(
        self,
        keys: list[str],
        concurrency: int,
        trackers: dict[str, Tracker] | None = None,
    ) -> Iterator[Outcome]:
        """Start `keys` (and follow `trackers`), yielding outcomes as they finish.

        On Ctrl-C (KeyboardInterrupt in the caller's thread) the workers stop;
        `self.active` then holds the syncs left running on the server.
        """
        if self.deadline is None and self.options.timeout is not None:
            self.deadline = self.monotonic() + self.options.timeout
        client = self.api.client
        before = client.deadline
        # The requests of every worker stop at the deadline, and so then does the run:
        # a start, a poll or a retry wait in flight cannot hold it past --timeout.
        client.deadline = self.deadline
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="makini-sync")
        inflight: dict[Future[Any], tuple[str, str]] = {}
        to_start = list(reversed(keys))
        followed: dict[str, _Followed] = {}
        due: list[tuple[float, int, str]] = []
        order = itertools.count()
        # The run follows the event log when the server keeps one: one read per interval
        # learns every ending, where polling costs a request per sync.
        log = self._open_log() if self.options.wait else None
        log_waits = self.options.policy.intervals()
        log_due = self.monotonic()
        bars = getattr(self.progress, "shows_bars", False)
        progress_polls = bars and len(keys) + len(trackers or {}) <= PROGRESS_POLL_LIMIT

        def follow(key: str, tracker: Tracker, poll_now: bool) -> None:
            now = self.monotonic()
            item = _Followed(
                key=key,
                tracker=tracker,
                started=now,
                # --timeout bounds the whole command, not each sync from its start: a
                # fan-out whose starts queued behind --concurrency ends on time too.
                deadline=self.deadline,
                intervals=self.options.policy.intervals(),
                stall=_StallWatch(now, self.options.stall_after),
                latest=getattr(tracker, "latest", None),
            )
            followed[key] = item
            self.active[key] = tracker
            if item.latest is not None:
                self.progress.update(key, item.latest)
            if (
                poll_now
                or item.latest is None
                or item.latest.finished
                or getattr(tracker, "replayed", False)
            ):
                # Also a replayed start: its sync may have ended before the log was opened,
                # and the log will not tell of it again.
                wait_s = 0.0
            elif log is not None and not progress_polls:
                wait_s = SAFETY_POLL_S
                if self.deadline is not None:  # --timeout still ends it on time
                    wait_s = min(wait_s, max(0.0, self.deadline - now))
            else:
                wait_s = next(item.intervals)
            heapq.heappush(due, (now + wait_s, next(order), key))

        def finish(item: _Followed, result: str, error: CliError | None = None) -> Outcome:
            followed.pop(item.key, None)
            if result != "detached":
                self.active.pop(item.key, None)
            # The last Sync seen stays in the outcome even when following it failed: the
            # sync goes on on the server, and its id is how to find it again.
            # An ended sync by its own times (no "now" needed); one still going as the
            # display counts it, since it knows which clock to trust for "now".
            latest, ran = item.latest, None
            if latest is not None:
                ran = ran_for(latest, 0.0) if latest.finished else self.progress.seconds(item.key)
            return Outcome(
                item.key,
                result,
                item.latest,
                error=error,
                request_id=item.tracker.request_id,
                elapsed=self.monotonic() - item.started if ran is None else ran,
            )

        try:
            for key, tracker in (trackers or {}).items():
                # Read just now by the caller: one that has ended is reported at once. One
                # still going is polled at once all the same, since it may have ended
                # before the event log was opened, and the log will not tell of it.
                follow(key, tracker, poll_now=True)
                item = followed[key]
                if item.latest is not None and item.latest.finished:
                    yield finish(item, self._polled(item, item.latest) or "failed")
            # `followed`, not `due`: a sync that ended through the log leaves its safety
            # poll behind in `due`, which must not hold the run.
            while to_start or inflight or followed:
                while to_start and len(inflight) < concurrency:
                    key = to_start.pop()
                    inflight[pool.submit(self.begin, key)] = ("start", key)
                now = self.monotonic()
                reading = any(kind == "log" for kind, _ in inflight.values())
                if log is not None and followed and not reading and now >= log_due:
                    inflight[pool.submit(log.read)] = ("log", "")
                while due and due[0][0] <= now and len(inflight) < concurrency:
                    _, _, key = heapq.heappop(due)
                    if key not in followed:
                        continue  # ended through the event log: its safety poll is moot
                    item = followed[key]
                    if item.deadline is not None and now >= item.deadline:
                        yield finish(item, "timeout")
                        continue
                    inflight[pool.submit(item.tracker.poll)] = ("poll", key)
                pause = 0.25 if not due else min(0.25, max(0.0, due[0][0] - self.monotonic()))
                if log is not None and followed:
                    pause = min(pause, max(0.0, log_due - self.monotonic()))
                if inflight:
                    done, _ = wait(list(inflight), timeout=pause, return_when=FIRST_COMPLETED)
                else:
                    done = set()
                    time.sleep(pause)
                for future in done:
                    kind, key = inflight.pop(future)
                    if kind == "log":
                        try:
                            ended = future.result()
                        except Detached:
                            continue
                        except (CliError, APIError) as exc:
                            # The log failed us: poll each sync instead, as without one.
                            self.warn(f"cannot read the event log ({exc}); polling each sync")
                            log = None
                            for item in followed.values():
                                heapq.heappush(due, (self.monotonic(), next(order), item.key))
                            continue
                        finished = self._ended(followed, ended)
                        for item, sync in finished:
                            outcome = self._polled(item, sync)
                            if outcome is not None:
                                yield finish(item, outcome)
                        if finished:
                            log_waits = self.options.policy.intervals()  # activity
                        log_due = self._log_due(next(log_waits), len(followed))
                        continue
                    if kind == "start":
                        started = future.result()
                        if isinstance(started, Outcome):
                            yield started
                        else:
                            follow(key, started, poll_now=False)
                        continue
                    if key not in followed:
                        continue  # its ending came through the log meanwhile
                    item = followed[key]
                    try:
                        sync = future.result()
                    except Detached:
                        continue
                    except DeadlineExceededError:
                        # The poll was cut short by --timeout: the sync goes on (exit 8).
                        yield finish(item, "timeout")
                        continue
                    except (CliError, APIError) as exc:
                        yield finish(item, "error", self._cli(exc))
                        continue
                    outcome = self._polled(item, sync)
                    if outcome is not None:
                        yield finish(item, outcome)
                    else:
                        heapq.heappush(due, (self._next_due(item, len(followed)), next(order), key))
        finally:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            client.deadline = before
            self.progress.close()

    def _open_log(self) -> SyncEndings | None:
        """The event log's sync endings, or None: then each sync is polled, as against a
        server without a log. Any failure here leaves the run to meet it where it can
        report it (the start), never ends it."""
        if self.open_endings is None:
            return None
        try:
            return self.open_endings() if self.api.extended else None
        except (APIError, CliError, Detached):
            return None

    def _ended(
        self, followed: dict[str, _Followed], ended: list[Sync]
    ) -> list[tuple[_Followed, Sync]]:
        """The followed syncs among `ended` (by sync id), with their final state."""
        by_id = {item.tracker.sync_id: item for item in followed.values()}
        return [(by_id[sync.id], sync) for sync in ended if sync.id in by_id]

    def _log_due(self, wait_s: float, following: int) -> float:
        """When to read the log next: as `_next_due` paces a poll, but for one reader."""
        now = self.monotonic()
        wait_s = max(wait_s, self.api.client.pacer.interval)
        if self.deadline is not None:
            wait_s = min(wait_s, max(0.0, self.deadline - now))
        return now + wait_s

    def _cli(self, exc: CliError | APIError) -> CliError:
        return self.explain(exc) if isinstance(exc, APIError) else exc

    def _polled(self, item: _Followed, sync: Sync) -> str | None:
        """Record a poll's answer; the result's name once the sync is over."""
        item.latest = sync
        self.progress.update(item.key, sync)
        now = self.monotonic()
        quiet_for = item.stall.still(sync, now)
        if quiet_for is not None:
            self.warn(
                f"{item.key}: sync {sync.id or ''} has made no progress for "
                f"{int(quiet_for)} s; it may be stalled"
            )
        if sync.finished:
            return sync.status if sync.status in ("succeeded", "failed", "cancelled") else "failed"
        if item.deadline is not None and now >= item.deadline:
            return "timeout"
        return None

    def _next_due(self, item: _Followed, following: int) -> float:
        """Fast at first, then backing off; never before the predicted end (from the
        progress rate); and while the rate limit binds, each followed sync gets only
        its share of the request budget, since polling faster would just queue behind
        the pacer."""
        now = self.monotonic()
        wait_s = max(
            next(item.intervals),
            item.eta.seconds_left(item.latest, now) if item.latest else 0.0,
            self.api.client.pacer.interval * following,
        )
        if item.deadline is not None:
            wait_s = min(wait_s, max(0.0, item.deadline - now))
        return now + wait_s
