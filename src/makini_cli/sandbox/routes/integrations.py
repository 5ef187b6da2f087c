"""Documented token-scoped calls about the connection behind a connection token.

`POST /api/integrations/sync` starts a sync as the (ext) admin route does and answers
202 with the `Sync` (Makini's spec leaves the schema empty); `type: "full"` forces a full
sync. `action` is accepted and ignored: Makini does not say what it means. A sync already
queued or running answers 409 `SYNC_ALREADY_RUNNING`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from makini_cli.sandbox import connections as repo
from makini_cli.sandbox import syncs
from makini_cli.sandbox.routes.common import ConnectionDep, RuntimeDep


class SyncRequest(BaseModel):
    type: Literal["incremental", "full"]
    action: str | None = Field(default=None, description="Accepted; its meaning is undocumented.")
    scopes: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Unified scopes to sync (default: every scope of the connection).",
        examples=[["work-orders"]],
    )


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/integrations", tags=["integrations"])

    @router.get("/current", summary="The connection behind this token")
    def current(principal: ConnectionDep, runtime: RuntimeDep) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": repo.integration_view(conn, principal.subject)}

    @router.delete(
        "/current",
        summary="Disconnect the connection behind this token",
        status_code=204,
        response_class=Response,
    )
    def disconnect(principal: ConnectionDep, runtime: RuntimeDep) -> Response:
        with runtime.store.transaction() as conn:
            repo.delete_connection(conn, runtime.now(), principal.subject)
        return Response(status_code=204)

    @router.get("/sync/status", summary="Sync state: inprogress, done, fulldone, error or fail")
    def sync_status(principal: ConnectionDep, runtime: RuntimeDep) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": {"status": syncs.documented_status(conn, principal.subject)}}

    @router.post("/sync", summary="Start a sync", status_code=202)
    def start_sync(
        principal: ConnectionDep, runtime: RuntimeDep, body: SyncRequest
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            sync = syncs.start_sync(
                conn,
                runtime.now(),
                principal.subject,
                scopes=body.scopes,
                full=body.type == "full",
            )
        return {"data": sync}

    return router
