"""The event log (contract §8, ext; capability `events`): read it, and follow it.

`GET /api/system/events` answers oldest first; `after=<event id>` starts strictly after
that event. A `Cursor` remembers the last event it fetched, whether or not it matched the
filter, so a follow asks only for what is new and never prints an event twice.

Filters: the server filters by connection and by one event name; several names, and
`since` (the server has no time filter), are applied here. Every filter is also checked
here, so a server that ignores one shows nothing it should not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import MAX_PER_PAGE, ApiClient, cast_to
from makini_cli.api.errors import APIConnectionError, APIError, APIStatusError
from makini_cli.api.resources.syncs import PollPolicy
from makini_cli.models.event import Event
from makini_cli.models.sync import Sync

CAPABILITY = "events"
#: The events that end a sync; their body carries the ended Sync (`body.sync`, ext).
SYNC_ENDINGS = ("sync.completed", "sync.failed")
#: The first pause of a follow after activity: events often come in bursts.
FIRST_INTERVAL_S = 0.5


@dataclass(frozen=True)
class EventFilter:
    connection_key: str | None = None
    #: event names; empty means every event
    events: tuple[str, ...] = ()
    #: Unix seconds: only events created at or after this moment
    since: float | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.connection_key:
            params["filter[connection_key]"] = self.connection_key
        if len(self.events) == 1:
            params["filter[event]"] = self.events[0]
        return params

    def matches(self, event: Event) -> bool:
        if self.connection_key and event.connection_key != self.connection_key:
            return False
        if self.events and event.event not in self.events:
            return False
        if self.since is not None:
            created = _timestamp(event.created_at)
            # An event without a readable time is not known to be recent.
            return created is not None and created >= self.since
        return True


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        return None


def transient(exc: APIError) -> bool:
    """A failure worth waiting out while following: the network, a busy or failing server."""
    if isinstance(exc, APIConnectionError):
        return True
    return (
        isinstance(exc, APIStatusError)
        and exc.status is not None
        and (exc.status == 429 or exc.status >= 500)
    )


class Cursor:
    """Reads the log forward from `after` (from the start when None)."""

    def __init__(self, api: EventsAPI, flt: EventFilter, after: str | None = None) -> None:
        self.api = api
        self.filter = flt
        #: the id of the last event fetched, matching or not
        self.after = after

    def read(self) -> Iterator[Event]:
        """Every event after the cursor that matches the filter, page by page; the cursor
        moves past each event fetched, so a failure on a later page loses nothing."""
        params = self.filter.params()
        if self.after is not None:
            params["after"] = self.after
        for item in self.api.client.paginate(paths.EVENTS, params=params, per_page=MAX_PER_PAGE):
            event = cast_to(Event, item, path=paths.EVENTS, request_id=None)
            self.after = event.id
            if self.filter.matches(event):
                yield event


class SyncEndings:
    """The syncs the event log says have ended since it was opened: what a fan-out of
    syncs follows, one log read per interval instead of one poll per sync."""

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor

    def read(self) -> list[Sync]:
        ended: list[Sync] = []
        for event in self.cursor.read():
            body = event.body if isinstance(event.body, dict) else {}
            sync = body.get("sync")
            if isinstance(sync, dict):  # a server that sends only the gist: polls settle it
                ended.append(cast_to(Sync, sync, path=paths.EVENTS, request_id=None))
        return ended


class EventsAPI:
    def __init__(
        self,
        client: ApiClient,
        capabilities: Capabilities,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self.wall = wall

    def cursor(
        self,
        *,
        connection_key: str | None = None,
        events: tuple[str, ...] = (),
        since_seconds: float | None = None,
        operation: str = "`events tail`",
    ) -> Cursor:
        """A cursor at the start of the log; `since_seconds` keeps only the events created
        in that many seconds before now (this machine's clock)."""
        self.capabilities.require(CAPABILITY, operation)
        since = None if since_seconds is None else self.wall() - since_seconds
        return Cursor(self, EventFilter(connection_key, tuple(dict.fromkeys(events)), since))

    def cursor_at_end(self, flt: EventFilter | None = None) -> Cursor | None:
        """A cursor after the log's last event, so it reads what happens from now on;
        None when the server keeps no event log. Costs two requests: how long the log
        is, then its last event."""
        if not self.capabilities.has(CAPABILITY):
            return None
        first = self.client.request("GET", paths.EVENTS, params={"per_page": 1})
        meta = first.body.get("meta") if isinstance(first.body, dict) else None
        last_page = meta.get("last_page") if isinstance(meta, dict) else None
        after: str | None = None
        if isinstance(last_page, int) and last_page > 1:
            last = self.client.request(
                "GET", paths.EVENTS, params={"per_page": 1, "page": last_page}
            )
            items = last.data
        else:
            items = first.data
        if isinstance(items, list) and items and isinstance(items[-1], dict):
            after = str(items[-1].get("id") or "") or None
        return Cursor(self, flt or EventFilter(), after)

    def sync_endings(self) -> SyncEndings | None:
        """A reader of sync endings from now on; None when the server keeps no event log."""
        cursor = self.cursor_at_end(EventFilter(events=SYNC_ENDINGS))
        return None if cursor is None else SyncEndings(cursor)

    def follow(
        self,
        cursor: Cursor,
        *,
        interval: float,
        on_error: Callable[[APIError, float], None],
        on_recovered: Callable[[], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> Iterator[Event]:
        """New events after the cursor, as they come, forever (the caller stops it).

        Polls again soon after activity and backs off to `interval` while the log is
        quiet. A transient failure (network, 5xx, 429: after the client's own retries) is
        handed to `on_error` with the wait before the next poll, and the follow goes on;
        any other error ends it.
        """
        pause = sleep or self.client.sleep
        policy = PollPolicy(first=min(FIRST_INTERVAL_S, interval), ceiling=interval)
        waits = policy.intervals()
        failing = False
        while True:
            before = cursor.after
            try:
                for event in cursor.read():
                    if failing:  # said before the event, which may be the last one wanted
                        failing = False
                        _call(on_recovered)
                    yield event
            except APIError as exc:
                if not transient(exc):
                    raise
                failing = True
                wait = next(waits)
                on_error(exc, wait)
                pause(wait)
                continue
            if failing:
                failing = False
                _call(on_recovered)
            if cursor.after != before:
                waits = policy.intervals()  # activity: look again soon
            pause(next(waits))


def _call(callback: Callable[[], None] | None) -> None:
    if callback is not None:
        callback()
