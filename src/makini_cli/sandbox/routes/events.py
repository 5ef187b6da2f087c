"""`GET /api/system/events` (ext, admin token): the event log, oldest first.

The same payloads that webhooks carry (`events.py`), in the order they were recorded.
`after=<event id>` keeps the events recorded strictly after that one (an id the log does
not hold is 422 VALIDATION_FAILED), before filters and paging apply, so a client tails
the log by passing the last id it saw. Filters, sorting and paging are every list's
(`listing.py`): `filter[event]`, `filter[connection_key]`, `filter[created_at:gt]`, …

Exact `filter[event]` and `filter[connection_key]` are also applied in SQL (with the
cursor), so a tail of one connection or one kind of event reads only its rows; the
listing applies them again, which changes nothing.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from makini_cli.sandbox import events
from makini_cli.sandbox.errors import validation_failed
from makini_cli.sandbox.routes.common import AdminDep, RuntimeDep, list_parameters, page_of

EVENT_FIELDS: tuple[str, ...] = ("id", "event", "created_at", "connection_key")
# Exact filters the query can narrow in SQL: `filter[...]` name → column.
_SQL_FILTERS = {"filter[event]": "event", "filter[connection_key]": "connection_key"}


def _logged(
    conn: sqlite3.Connection, after: str | None, exact: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    where: list[str] = []
    params: list[Any] = []
    if after is not None:
        row = conn.execute("SELECT seq FROM events WHERE id = ?", (after,)).fetchone()
        if row is None:
            raise validation_failed(
                {"after": [f"No event {after!r} in the log (it may have been reset)."]}
            )
        where.append("seq > ?")
        params.append(row["seq"])
    for column, value in exact:
        where.append(f"{column} = ?")
        params.append(value)
    sql = "SELECT * FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY seq", params).fetchall()
    return [events.payload_of(row) for row in rows]


def _exact_filters(request: Request) -> list[tuple[str, str]]:
    """The filters the SQL may apply: plain equality, combined with AND (the default)."""
    params = request.query_params
    if params.get("filterMatch") == "any":
        return []
    return [
        (_SQL_FILTERS[name], value)
        for name, value in params.multi_items()
        # "" and "null" match a missing connection key in the listing: leave those to it.
        if name in _SQL_FILTERS and value not in ("", "null")
    ]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/system", tags=["events"])

    @router.get(
        "/events",
        summary="The event log, oldest first (ext)",
        dependencies=[Depends(list_parameters)],
    )
    def list_events(
        _: AdminDep,
        runtime: RuntimeDep,
        request: Request,
        after: Annotated[
            str | None,
            Query(description="Only events recorded after this event id (a cursor)."),
        ] = None,
    ) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            items = _logged(conn, after, _exact_filters(request))
        return page_of(request, items, fields=EVENT_FIELDS)

    return router
