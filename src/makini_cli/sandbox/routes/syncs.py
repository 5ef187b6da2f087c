"""Syncs and schedules (ext, admin token); see `sandbox/syncs.py` and `schedules.py`.

`POST /api/system/connections/{id}/syncs` answers 202: the sync is queued and runs on
the sandbox clock. An `Idempotency-Key` on it is honoured by the middleware, like every
POST under /api/.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from makini_cli.sandbox import schedules
from makini_cli.sandbox import syncs as repo
from makini_cli.sandbox.routes.common import (
    AdminDep,
    ConnectionId,
    NowDep,
    RuntimeDep,
    list_parameters,
    page_of,
)


class StartSync(BaseModel):
    scopes: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Unified scopes to sync (default: every scope of the connection).",
        examples=[["work-orders", "assets"]],
    )
    full: bool = Field(default=False, description="Refetch the whole history window.")


class Schedule(BaseModel):
    enabled: bool
    interval_minutes: int = Field(
        ge=schedules.MIN_INTERVAL_MINUTES, le=schedules.MAX_INTERVAL_MINUTES, examples=[60]
    )


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/system", tags=["syncs"])

    @router.post("/connections/{id}/syncs", summary="Start a sync (ext)", status_code=202)
    def start_sync(
        _: AdminDep,
        runtime: RuntimeDep,
        now: NowDep,
        key: ConnectionId,
        body: StartSync | None = None,
    ) -> dict[str, Any]:
        body = body or StartSync()
        with runtime.store.transaction() as conn:
            sync = repo.start_sync(conn, now, key, scopes=body.scopes, full=body.full)
        return {"data": sync}

    @router.get(
        "/connections/{id}/syncs",
        summary="A connection's syncs, newest first (ext)",
        dependencies=[Depends(list_parameters)],
    )
    def list_syncs(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, request: Request, key: ConnectionId
    ) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            items = repo.list_syncs(conn, now, key)
        return page_of(request, items, fields=repo.SYNC_FIELDS)

    @router.get("/syncs/{sync_id}", summary="Get one sync (ext)")
    def get_sync(_: AdminDep, runtime: RuntimeDep, now: NowDep, sync_id: str) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": repo.get_sync(conn, now, sync_id)}

    @router.post("/syncs/{sync_id}/cancel", summary="Cancel a queued or running sync (ext)")
    def cancel_sync(_: AdminDep, runtime: RuntimeDep, now: NowDep, sync_id: str) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            return {"data": repo.cancel_sync(conn, now, sync_id)}

    @router.get("/connections/{id}/schedule", summary="A connection's sync schedule (ext)")
    def get_schedule(_: AdminDep, runtime: RuntimeDep, key: ConnectionId) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": schedules.get_schedule(conn, key)}

    @router.put("/connections/{id}/schedule", summary="Set a connection's sync schedule (ext)")
    def put_schedule(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, key: ConnectionId, body: Schedule
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            schedule = schedules.put_schedule(
                conn,
                now,
                key,
                enabled=body.enabled,
                interval_minutes=body.interval_minutes,
            )
        return {"data": schedule}

    return router
