"""Syncs: start, follow, cancel and schedule (contract §5).

With the `syncs` capability the client uses the (ext) admin routes. Without it (Makini
today), `run` goes through the documented token-scoped calls: a connection token,
`POST /api/integrations/sync`, then polling `GET /api/integrations/sync/status`, whose
`inprogress|done|fulldone|error|fail` is mapped onto the Sync statuses so both paths end
in the same outcomes and exit codes. Both answers may come bare (`{"status": …}`, as
Makini documents them) or in a `{"data": …}` envelope. A connection token lives 300 s,
less than a long sync: it is re-issued before it runs out, and once more if the server
says it has (401 TOKEN_EXPIRED).

Scope names are sent as Makini names them (`work_orders`); `work-orders` is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient, cast_to, new_idempotency_key
from makini_cli.api.errors import APIStatusError, MalformedResponseError
from makini_cli.api.resources.connections import ConnectionsAPI

# Here first, and still importable from here: other resources take it from this module.
from makini_cli.api.session import ConnectionTokenSession as ConnectionTokenSession
from makini_cli.models.connection import Connection
from makini_cli.models.sync import DocumentedSyncStatus, Schedule, Sync

#: documented `sync/status` → (Sync status, error code)
DOCUMENTED_STATUS: dict[str, tuple[str, str | None]] = {
    "inprogress": ("running", None),
    "done": ("succeeded", None),
    "fulldone": ("succeeded", None),
    "error": ("failed", "SYNC_ERROR"),
    "fail": ("failed", "REAUTHORIZATION_REQUIRED"),
}


def makini_scope(name: str) -> str:
    """A scope as Makini names it: `work-orders`, `Work_Orders` → `work_orders`."""
    return name.strip().lower().replace("-", "_")


def makini_scopes(names: list[str] | None) -> list[str] | None:
    """`names` in Makini's spelling, each once, in the order given; None for none."""
    if not names:
        return None
    return list(dict.fromkeys(makini_scope(n) for n in names if n.strip())) or None


class AlreadyRunning(Exception):
    """A sync of the connection is queued or running (409 SYNC_ALREADY_RUNNING)."""

    def __init__(self, key: str, sync_id: str | None, error: APIStatusError) -> None:
        super().__init__(error.message)
        self.key = key
        self.sync_id = sync_id
        self.error = error


class Tracker(Protocol):
    key: str
    request_id: str | None

    @property
    def sync_id(self) -> str | None: ...

    def poll(self) -> Sync: ...


class ExtTracker:
    def __init__(
        self, api: SyncsAPI, sync: Sync, request_id: str | None, *, replayed: bool = False
    ) -> None:
        self.api = api
        self.key = sync.connection_key or ""
        self.latest = sync
        self.request_id = request_id
        #: `latest` is a replay of an earlier start's answer (Idempotent-Replayed): the
        #: sync may have moved on, even ended, since that answer was first given
        self.replayed = replayed

    @property
    def sync_id(self) -> str | None:
        return self.latest.id

    def poll(self) -> Sync:
        if not self.latest.id:
            raise MalformedResponseError(
                "the server started a sync but gave it no id to follow",
                request_id=self.request_id,
            )
        resp = self.api.client.get(paths.sync(self.latest.id))
        self.request_id = resp.request_id
        self.latest = cast_to(
            Sync, resp.data, path=paths.sync(self.latest.id), request_id=resp.request_id
        )
        return self.latest


class DocumentedTracker:
    """Follows a sync through Makini's documented `sync/status` call."""

    sync_id = None

    def __init__(
        self,
        api: SyncsAPI,
        key: str,
        session: ConnectionTokenSession,
        sync_type: str,
        scopes: list[str] | None,
    ) -> None:
        self.api = api
        self.key = key
        self.session = session
        self.request_id: str | None = None
        self.base: dict[str, Any] = {
            "id": None,
            "connection_key": key,
            "type": sync_type,
            "trigger": "manual",
            "scopes": scopes,
        }

    def poll(self) -> Sync:
        resp = self.session.request(self.api.client, "GET", paths.INTEGRATION_SYNC_STATUS)
        self.request_id = resp.request_id
        answer = cast_to(
            DocumentedSyncStatus,
            resp.data,
            path=paths.INTEGRATION_SYNC_STATUS,
            request_id=resp.request_id,
        )
        raw = answer.status or ""
        status, code = DOCUMENTED_STATUS.get(raw, ("running", None))
        error = {"code": code, "message": f"the sync ended with status {raw!r}"} if code else None
        return Sync.model_validate({**self.base, "status": status, "error": error})


@dataclass
class PollPolicy:
    """Fast at first (a short sync ends quickly), then backing off to `ceiling`."""

    first: float = 0.5
    factor: float = 1.5
    ceiling: float = 5.0

    def intervals(self) -> Iterator[float]:
        wait = min(self.first, self.ceiling)
        while True:
            yield wait
            wait = min(self.ceiling, wait * self.factor)


#: Never wait longer than this for a predicted end: the display should still move.
ETA_CAP_S = 30.0


class EtaEstimate:
    """Predicts when a running sync ends from how fast its records move between polls."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None

    def seconds_left(self, sync: Sync, now: float) -> float:
        progress = sync.progress
        if sync.status != "running" or not progress or not progress.records_total:
            return 0.0
        done = progress.records_processed or 0
        if self.first is None or done < self.first[1]:
            self.first = (now, done)
            return 0.0
        elapsed, moved = now - self.first[0], done - self.first[1]
        if elapsed <= 0 or moved <= 0:
            return 0.0
        left = (progress.records_total - done) * elapsed / moved
        return min(ETA_CAP_S, left)


class Detached(Exception):
    """The wait was stopped (Ctrl-C); the sync goes on."""


class SyncsAPI:
    def __init__(
        self, client: ApiClient, capabilities: Capabilities, connections: ConnectionsAPI
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self.connections = connections

    @property
    def extended(self) -> bool:
        return self.capabilities.has("syncs")

    def _require(self, operation: str) -> None:
        self.capabilities.require("syncs", operation)

    # ------------------------------------------------------------------ start

    def start(
        self,
        key: str,
        *,
        scopes: list[str] | None,
        full: bool,
        idempotency_key: str | None,
    ) -> Tracker:
        """Start a sync and return something to follow it with.

        Raises AlreadyRunning when the connection has a sync queued or running.
        """
        scopes = makini_scopes(scopes)
        if not self.extended:
            return self._start_documented(key, scopes=scopes, full=full)
        body: dict[str, Any] = {"full": full}
        if scopes:
            body["scopes"] = scopes
        key_header = idempotency_key or new_idempotency_key()
        try:
            resp = self.client.request(
                "POST", paths.connection_syncs(key), json_body=body, idempotency_key=key_header
            )
        except APIStatusError as exc:
            if exc.code == "SYNC_ALREADY_RUNNING":
                running = exc.details.get("sync_id")
                raise AlreadyRunning(key, str(running) if running else None, exc) from exc
            raise
        sync = cast_to(
            Sync, resp.data, path=paths.connection_syncs(key), request_id=resp.request_id
        )
        if not sync.connection_key:
            sync.connection_key = key
        replayed = resp.headers.get("idempotent-replayed", "").lower() == "true"
        return ExtTracker(self, sync, resp.request_id, replayed=replayed)

    def _start_documented(self, key: str, *, scopes: list[str] | None, full: bool) -> Tracker:
        session = ConnectionTokenSession(self.connections, key)
        sync_type = "full" if full else "incremental"
        body: dict[str, Any] = {"type": sync_type}
        if scopes:
            body["scopes"] = scopes
        try:
            # The answer (`{"status": "inprogress", …}`, bare or in "data") says nothing the
            # first poll will not: it is not read.
            resp = session.request(self.client, "POST", paths.INTEGRATION_SYNC, json_body=body)
        except APIStatusError as exc:
            if exc.code == "SYNC_ALREADY_RUNNING":
                raise AlreadyRunning(key, None, exc) from exc
            raise
        tracker = DocumentedTracker(self, key, session, sync_type, scopes)
        tracker.request_id = resp.request_id
        return tracker

    def follow_documented(self, key: str) -> DocumentedTracker:
        """Follow whatever sync the connection runs now, through the documented status
        call (a sync someone else started: there is no id to follow it by)."""
        session = ConnectionTokenSession(self.connections, key)
        return DocumentedTracker(self, key, session, "incremental", None)

    def track(self, sync_id: str) -> ExtTracker:
        self._require("following a sync by id")
        resp = self.client.get(paths.sync(sync_id))
        sync = cast_to(Sync, resp.data, path=paths.sync(sync_id), request_id=resp.request_id)
        return ExtTracker(self, sync, resp.request_id)

    def latest(self, key: str) -> ExtTracker | None:
        """Follow the connection's queued or running sync, else its latest; None when it
        has had none. One read: the history is newest first, and while a sync of the
        connection is open no other can start, so the open one is the newest."""
        self._require("following a connection's sync")
        newest = next(iter(self.history(key, status=None, limit=1)), None)
        if newest is None:
            return None
        if not newest.connection_key:
            newest.connection_key = key
        return ExtTracker(self, newest, None)

    def in_progress(self) -> Iterator[tuple[Connection, Sync]]:
        """Every queued or running sync, with its connection, in the connections' order.

        There is no list of syncs across connections: each connection's newest sync is
        read, except where the listing's (ext) `sync_status` already says none is open."""
        self._require("listing the running syncs")
        for conn in self.connections.list():
            sync_status = conn.to_api().get("sync_status")
            if isinstance(sync_status, str) and sync_status != "inprogress":
                continue
            tracker = self.latest(conn.key)
            if tracker is not None and not tracker.latest.finished:
                yield conn, tracker.latest

    # ------------------------------------------------------------------ the rest

    def get(self, sync_id: str) -> Sync:
        self._require("`sync get`")
        return self.client.get_as(Sync, paths.sync(sync_id))

    def cancel(self, sync_id: str) -> Sync:
        self._require("`sync cancel`")
        return self.client.request_as(
            Sync, "POST", paths.sync_cancel(sync_id), idempotency_key=new_idempotency_key()
        )

    def history(self, key: str | None, *, status: str | None, limit: int | None) -> Iterator[Sync]:
        self._require("`sync list`")
        params = {"filter[status]": status} if status else None
        keys = [key] if key else [c.key for c in self.connections.list()]
        count = 0
        for conn_key in keys:
            remaining = None if limit is None else limit - count
            for sync in self.client.paginate_as(
                Sync, paths.connection_syncs(conn_key), params=params, limit=remaining
            ):
                yield sync
                count += 1
            if limit is not None and count >= limit:
                return

    def schedule(self, key: str) -> Schedule:
        self.capabilities.require("schedules", "`sync schedule`")
        return self.client.get_as(Schedule, paths.connection_schedule(key))

    def set_schedule(self, key: str, *, enabled: bool, interval_minutes: int) -> Schedule:
        self.capabilities.require("schedules", "`sync schedule set`")
        return self.client.request_as(
            Schedule,
            "PUT",
            paths.connection_schedule(key),
            json_body={"enabled": enabled, "interval_minutes": interval_minutes},
        )
