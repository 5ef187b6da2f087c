"""Tailing connection status (`connections status --watch|--until`): the engine.

`StatusWatch` keeps the status object of every selected connection current at the cost
of one event-log read per interval plus one read per connection an event concerns:

- `start()` opens the event log at its end, then reads the connection list (every page,
  500 a page) once: the selection, in display order, and a `snapshot` update for each.
  The log is opened first so nothing that happens during the list read is missed; a
  re-read of a connection the list already showed current changes nothing.
- `step()` does what is due: the log after the cursor; a re-read (`GET …/status`) of
  each connection a `connection.*` or `sync.*` event names (record and custom-field
  events change no status field); every `SAFETY_NET_S` a full list read in case an
  event never came; against a server without the log (`events` capability), a full list
  read every interval instead. Then the alerts.
- An update is `changed` when a field of the status object differs from what was seen
  last (`changed` names them); progress of a running sync (`progress=True`, the terminal
  view) fills `object["sync"]` and is never a change of its own.
- `alert` once per outage (per connection and `health_since`) when a connection has been
  offline longer than `alert_after`, measured from `health_since` on this machine's clock
  (`wall`), like every age the CLI shows; a server that does not say `health_since` gets
  the moment this watch first saw the connection offline.

The selection is fixed at the start: KEYs, or the connections matching `status` and
`health` then (so `--health offline --until health=online` waits for the outages of
now). Without KEYs a connection created later joins if it matches the filters, with a
`snapshot`. A deleted connection gets one last update of type `deleted` carrying the
object as it last was (no status is made up for it: the API simply has it no more),
leaves `objects` for `deleted`, and is not read again.

Failures: a transient one (network, 429, 5xx, after the client's own retries) sets
`last_error` and the step ends early; what it had yet to re-read is re-read next time.
Anything else (401/403, a missing capability, a malformed answer) raises.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from makini_cli.api.client import MAX_PER_PAGE
from makini_cli.api.errors import APIError, APIStatusError, DeadlineExceededError
from makini_cli.api.resources.connections import not_found
from makini_cli.api.resources.events import Cursor, transient

if TYPE_CHECKING:
    from makini_cli.api.facade import Makini

#: The status object, in the order it is printed (contract §4's status call, plus the
#: name and platform a person recognises a connection by).
STATUS_FIELDS: tuple[str, ...] = (
    "key",
    "name",
    "platform",
    "status",
    "health",
    "health_since",
    "sync_status",
    "last_sync_at",
    "last_successful_sync_at",
    "next_sync_at",
    "error",
)
#: What a server with Makini's documented calls only says of a connection's state.
DOCUMENTED_FIELDS: tuple[str, ...] = ("key", "name", "status")
#: Fields of the status object that are objects, and what can be asked of them (`--until`).
NESTED_FIELDS: dict[str, tuple[str, ...]] = {"error": ("code", "message")}
#: `sync_status` of a connection whose sync is queued or running (Makini writes
#: `inprogress`; `in_progress` is taken too).
IN_PROGRESS = frozenset({"inprogress", "in_progress"})
#: Even when the event log tells of every change, the whole list is read this often, in
#: case an event never came (as `sync run` polls each sync now and then).
SAFETY_NET_S = 120.0
#: At most this many running syncs have their progress read each step (the view's bars).
PROGRESS_LIMIT = 8
#: Events whose names start so can change a connection's status fields.
STATUS_EVENTS = ("connection.", "sync.")
#: A step that comes this early still counts as due (sleep and clock granularity).
_SLACK_S = 0.005
#: What waking up and writing a line take, on top of the reads (see `step`).
_EARLY_S = 0.02

UpdateType = Literal["snapshot", "changed", "alert", "deleted"]


@dataclass(frozen=True)
class Update:
    type: UpdateType
    #: ISO-8601 UTC, this machine's clock
    at: str
    key: str
    #: the status-object fields that changed; () for a snapshot or an alert
    changed: tuple[str, ...]
    #: the whole status object after the change (`deleted`: as it last was)
    object: dict[str, Any]
    #: alerts: when the outage began
    since: str | None = None

    def record(self) -> dict[str, Any]:
        """The stream's line for this update (output/status_stream.py)."""
        line: dict[str, Any] = {"type": self.type, "at": self.at}
        if self.type == "changed":
            line["changed"] = list(self.changed)
        if self.type == "alert":
            line["alert"] = "offline_too_long"
            line["since"] = self.since
        line["object"] = self.object
        return line


def wall_clock() -> float:
    """This machine's clock, which alerts and `at` are measured on (tests pin it to the
    sandbox's manual clock)."""
    return time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(value: Any) -> float | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def one_line(exc: APIError) -> str:
    """A failure as one line of text: its message and code."""
    text = " ".join(str(exc.message).split())
    return f"{text} [{exc.code}]" if exc.code else text


def status_object(
    data: Mapping[str, Any], fields: tuple[str, ...], before: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The status object of `data` (a listed connection, or a status answer). A field the
    answer leaves out keeps its value from `before` (a status call of a server that does
    not name the connection), else is null."""
    obj: dict[str, Any] = {}
    for name in fields:
        if name in data:
            obj[name] = data[name]
        else:
            obj[name] = before.get(name) if before is not None else None
    error = obj.get("error")
    if isinstance(error, Mapping):
        obj["error"] = {"code": error.get("code"), "message": error.get("message")}
    return obj


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: Iterable[str]
) -> tuple[str, ...]:
    """The fields whose values differ, in the object's order."""
    return tuple(name for name in fields if before.get(name) != after.get(name))


def _concerns(event_name: str) -> bool:
    return event_name.startswith(STATUS_EVENTS)


class StatusWatch:
    """The status objects of the selected connections, kept current (module docstring)."""

    def __init__(
        self,
        api: Makini,
        keys: list[str] | None,
        *,
        status: list[str] | None,
        health: list[str] | None,
        interval: float,
        alert_after: float,
        progress: bool,
        wall: Callable[[], float],
        monotonic: Callable[[], float],
        safety_net: float = SAFETY_NET_S,
        follow: bool = True,
    ) -> None:
        """`follow=False`: one read of the list only (no event log is opened)."""
        self.api = api
        self.keys = list(dict.fromkeys(keys)) if keys else None
        self.status_filter = frozenset(status or ())
        self.health_filter = frozenset(health or ())
        self.interval = interval
        self.alert_after = alert_after
        self.progress = progress
        self.wall = wall
        self.monotonic = monotonic
        self.safety_net = max(safety_net, interval)
        self.follow = follow
        #: current status objects by key, in display order
        self.objects: dict[str, dict[str, Any]] = {}
        #: monotonic time of the last successful read
        self.last_ok: float | None = None
        #: the last transient failure as one line; None once reads work again
        self.last_error: str | None = None
        #: the failure behind `last_error`, for a caller that explains errors its own way
        self.last_exception: APIError | None = None
        #: the status-object fields this server has (documented only: key, name, status)
        self.fields: tuple[str, ...] = STATUS_FIELDS
        self._cursor: Cursor | None = None
        #: connections an event named that have yet to be re-read
        self._pending: dict[str, None] = {}
        #: connections that exist but are not watched
        self._others: set[str] = set()
        #: connections deleted while watched, in the order they went
        self.deleted: dict[str, None] = {}
        #: (key, outage start) of the alerts given
        self._alerted: set[tuple[str, str]] = set()
        #: when this watch first saw a connection offline (a server without health_since)
        self._offline_seen: dict[str, str] = {}
        #: a server whose list lacks the status fields: each listed connection's status
        #: call fills them in (the status call is the older extension)
        self._status_calls = False
        #: the running sync of a connection, from `sync.started` (progress only)
        self._sync_ids: dict[str, str] = {}
        self._next_read = 0.0
        self._next_full = 0.0
        #: how long a round of reads takes (a running mean), to start the next one early
        self._round = 0.0

    # ------------------------------------------------------------------ the rounds

    @property
    def polling(self) -> bool:
        """True when the server keeps no event log: every step reads the whole list."""
        return self._cursor is None

    def start(self) -> list[Update]:
        """Load the selection; one `snapshot` update per connection, in display order."""
        begin = self.monotonic()
        caps = self.api.capabilities
        if self.health_filter:
            caps.require("status", "filtering connections by health")
        self.fields = STATUS_FIELDS if caps.has("status") else DOCUMENTED_FIELDS
        # None: the server keeps no event log, and each step reads the whole list instead.
        self._cursor = self.api.events.cursor_at_end() if self.follow else None
        listed = self._list()
        if listed:
            first = next(iter(listed.values()))
            self._status_calls = caps.has("status") and "sync_status" not in first
        if self.keys is not None:
            for key in self.keys:
                if key not in listed:
                    raise not_found(key)
            chosen = [key for key in self.keys if self._matches(listed[key])]
        else:
            chosen = [key for key, data in listed.items() if self._matches(data)]
        updates: list[Update] = []
        at = iso(self.wall())
        for key in chosen:
            obj = status_object(self._complete(key, listed[key]), self.fields)
            if self.progress:
                obj["sync"] = None
            self.objects[key] = obj
            updates.append(Update("snapshot", at, key, (), dict(obj)))
        self._others = set(listed) - set(chosen)
        now = self.monotonic()
        self.last_ok = now
        # Counted from when the log was opened: a change from then on shows within one
        # interval (`step` has why it starts early).
        self._next_read = begin + max(self.interval / 2, self.interval - _EARLY_S)
        self._next_full = now + self.safety_net
        if self.progress:
            self._read_progress()
        wall = self.wall()
        for key, obj in self.objects.items():  # an outage with no start is timed from now
            self._outage(key, obj, wall, remember=True)
        return updates

    def step(self) -> list[Update]:
        """One round of what is due: reads (module docstring), then alerts."""
        updates: list[Update] = []
        now = self.monotonic()
        if now + _SLACK_S >= self._next_read:
            self._next_read = now + self.interval
            try:
                updates += self._read(now)
            except DeadlineExceededError:
                raise  # the caller's --timeout, not the server's trouble
            except APIError as exc:
                if not transient(exc):
                    raise
                self.last_exception = exc
                self.last_error = one_line(exc)
            else:
                self.last_ok = self.monotonic()
                self.last_error = None
                self.last_exception = None
                # A change shows a log read, a connection read and a line after it
                # happened: the next round starts that much early (the reads' mean time
                # twice, and _EARLY_S for waking up and writing), so that a change shows
                # within one interval.
                self._round = (self._round + (self.last_ok - now)) / 2
                early = 2 * self._round + _EARLY_S
                self._next_read = now + max(self.interval / 2, self.interval - early)
        updates += self._alerts()
        return updates

    def next_wait(self) -> float:
        """Seconds until `step()` has something to do (a read, or an alert falling due)."""
        wait = self._next_read - self.monotonic()
        now = self.wall()
        for key, obj in self.objects.items():
            began = self._outage(key, obj, now, remember=False)
            if began is not None and (key, began[0]) not in self._alerted:
                wait = min(wait, began[1] + self.alert_after - now)
        return max(0.0, min(wait, self.interval))

    # ------------------------------------------------------------------ reading

    def _read(self, now: float) -> list[Update]:
        updates: list[Update] = []
        if self._cursor is not None:
            for event in self._cursor.read():
                key = event.connection_key
                if not key or not _concerns(event.event):
                    continue
                self._note_sync(key, event.event, event.body)
                if key not in self.deleted and key not in self._others:
                    self._pending[key] = None
        if self._cursor is None or now >= self._next_full:
            updates += self._reload()
            self._next_full = now + self.safety_net
        else:
            for key in list(self._pending):
                update = self._reread(key)
                self._pending.pop(key, None)
                if update is not None:
                    updates.append(update)
        if self.progress:
            self._read_progress()
        return updates

    def _list(self) -> dict[str, dict[str, Any]]:
        """Every connection, by key, in the server's order."""
        return {
            conn.key: conn.to_api()
            for conn in self.api.connections.list(per_page=MAX_PER_PAGE)
            if conn.key
        }

    def _complete(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        """A listed connection with the status call's fields, where the list lacks them."""
        if not self._status_calls:
            return data
        return {**data, **self.api.connections.status(key).to_api()}

    def _matches(self, data: Mapping[str, Any]) -> bool:
        """Whether a connection passes --status and --health."""
        if self.status_filter and data.get("status") not in self.status_filter:
            return False
        return not self.health_filter or data.get("health") in self.health_filter

    def _reload(self) -> list[Update]:
        """The whole list read: every watched connection compared, the deleted ones told,
        new ones that match the filters taken in."""
        listed = self._list()
        self._pending.clear()
        updates: list[Update] = []
        for key in list(self.objects):
            if key in self.deleted:
                continue
            if key not in listed:
                updates.append(self._deleted(key))
                continue
            update = self._apply(key, self._complete(key, listed[key]))
            if update is not None:
                updates.append(update)
        for key, data in listed.items():
            if key in self.objects or key in self._others:
                continue
            if self.keys is None and self._matches(data):
                update = self._apply(key, self._complete(key, data))
                if update is not None:
                    updates.append(update)
            else:
                self._others.add(key)
        return updates

    def _reread(self, key: str) -> Update | None:
        """Read one connection an event named: its change, its deletion, or (a new
        connection, without KEYs) its first state."""
        if key in self.deleted:
            return None
        known = key in self.objects
        if not known and self.keys is not None:
            self._others.add(key)
            return None
        try:
            data = self._read_one(key)
        except APIStatusError as exc:
            if exc.status != 404:
                raise
            return self._deleted(key) if known else None
        if not known and not self._matches(data):
            self._others.add(key)
            return None
        return self._apply(key, data)

    def _read_one(self, key: str) -> dict[str, Any]:
        connections = self.api.connections
        if self.api.capabilities.has("status"):
            return connections.status(key).to_api()
        return connections.get(key).to_api()

    def _apply(self, key: str, data: Mapping[str, Any]) -> Update | None:
        before = self.objects.get(key)
        after = status_object(data, self.fields, before)
        if self.progress:
            after["sync"] = before.get("sync") if before is not None else None
        self.objects[key] = after
        at = iso(self.wall())
        if before is None:
            return Update("snapshot", at, key, (), dict(after))
        changed = changed_fields(before, after, self.fields)
        if not changed:
            return None
        return Update("changed", at, key, changed, dict(after))

    def _deleted(self, key: str) -> Update:
        """The last update of a connection deleted while watched."""
        self.deleted[key] = None
        self._pending.pop(key, None)
        self._sync_ids.pop(key, None)
        last = self.objects.pop(key)
        return Update("deleted", iso(self.wall()), key, (), dict(last))

    # ------------------------------------------------------------------ progress

    def _note_sync(self, key: str, name: str, body: Any) -> None:
        if not self.progress or not isinstance(body, dict):
            return
        if name == "sync.started" and isinstance(body.get("sync_id"), str):
            self._sync_ids[key] = body["sync_id"]
        elif name in ("sync.completed", "sync.failed"):
            self._sync_ids.pop(key, None)

    def _read_progress(self) -> None:
        """The running syncs of up to PROGRESS_LIMIT busy connections: object["sync"]."""
        if not self.api.capabilities.has("syncs"):
            return
        busy = [
            key
            for key, obj in self.objects.items()
            if key not in self.deleted and obj.get("sync_status") in IN_PROGRESS
        ][:PROGRESS_LIMIT]
        for key, obj in self.objects.items():
            if key not in busy:
                obj["sync"] = None
        for key in busy:
            try:
                self.objects[key]["sync"] = self._running_sync(key)
            except APIStatusError as exc:
                if exc.status != 404:
                    raise
                # The connection or its sync went meanwhile: its event tells the rest.
                self._sync_ids.pop(key, None)
                self.objects[key]["sync"] = None

    def _running_sync(self, key: str) -> dict[str, Any] | None:
        syncs = self.api.syncs
        sync_id = self._sync_ids.get(key)
        if sync_id is None:
            latest = next(iter(syncs.history(key, status=None, limit=1)), None)
            if latest is None or latest.finished or not latest.id:
                return None
            sync_id = self._sync_ids[key] = latest.id
        sync = syncs.get(sync_id)
        if sync.finished:
            self._sync_ids.pop(key, None)
            return None
        return {
            "id": sync.id,
            "status": sync.status,
            "progress": sync.progress.to_api() if sync.progress is not None else None,
        }

    # ------------------------------------------------------------------ alerts

    def _outage(
        self, key: str, obj: Mapping[str, Any], now: float, *, remember: bool
    ) -> tuple[str, float] | None:
        """(when it began as written, as Unix seconds) of a connection's outage; None
        when it is not offline."""
        if key in self.deleted or obj.get("health") != "offline":
            if remember:
                self._offline_seen.pop(key, None)
            return None
        since = obj.get("health_since")
        if not isinstance(since, str) or _moment(since) is None:
            since = self._offline_seen.get(key)
            if since is None:
                if not remember:
                    return None  # first seen at the next step
                since = self._offline_seen[key] = iso(now)
        began = _moment(since)
        return None if began is None else (since, began)

    def _alerts(self) -> list[Update]:
        now = self.wall()
        updates: list[Update] = []
        for key, obj in self.objects.items():
            outage = self._outage(key, obj, now, remember=True)
            if outage is None:
                continue
            since, began = outage
            if (key, since) in self._alerted or now - began < self.alert_after:
                continue
            self._alerted.add((key, since))
            updates.append(Update("alert", iso(now), key, (), dict(obj), since=since))
        return updates


# ---------------------------------------------------------------------- --until


@dataclass(frozen=True)
class Condition:
    """`FIELD=VALUE` of `--until`: the field of the status object (dotted into an object,
    `error.code`) shown as text equals VALUE; `null` matches a field that is null."""

    path: tuple[str, ...]
    value: str
    text: str

    def holds(self, obj: Mapping[str, Any]) -> bool:
        return as_text(value_at(obj, self.path)) == self.value


def value_at(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def as_text(value: Any) -> str:
    """A field's value as `--until` compares it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def parse_condition(text: str) -> Condition:
    """One `FIELD=VALUE`; ValueError says what is wrong with it."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--until {text!r} is not FIELD=VALUE")
    path = tuple(name.split("."))
    head = path[0]
    if head not in STATUS_FIELDS:
        raise ValueError(f"--until {text!r}: {head!r} is no field of the status object")
    if len(path) > 1:
        allowed = NESTED_FIELDS.get(head, ())
        if len(path) != 2 or path[1] not in allowed:
            inside = ", ".join(f"{head}.{part}" for part in allowed) or "none"
            raise ValueError(
                f"--until {text!r}: {head!r} has no field {'.'.join(path[1:])!r}"
                f" (fields inside it: {inside})"
            )
    return Condition(path, value.strip(), text)


def holds(conditions: Iterable[Condition], objects: Mapping[str, Mapping[str, Any]]) -> bool:
    """Every condition holds for every connection (true of none)."""
    rules = list(conditions)
    return all(holds_for(rules, obj) for obj in objects.values())


def holds_for(rules: list[Condition], obj: Mapping[str, Any]) -> bool:
    """Every condition holds for this one connection."""
    return all(rule.holds(obj) for rule in rules)


#: Why a wait can no longer end well for a connection (`hopeless`).
Hopeless = Literal["reauth_required"]


def hopeless(conditions: Iterable[Condition], obj: Mapping[str, Any]) -> Hopeless | None:
    """Why `conditions` cannot come to hold for `obj` by itself: it needs
    reauthorization (only a person reconnecting it fixes that) while a condition wants
    another health. None while waiting makes sense. (A deleted connection has no object
    left: see `StatusWatch.deleted`.)"""
    rules = list(conditions)
    if holds_for(rules, obj):
        return None
    if obj.get("health") == "reauth_required" and any(
        rule.path == ("health",) and rule.value != "reauth_required" for rule in rules
    ):
        return "reauth_required"
    return None
