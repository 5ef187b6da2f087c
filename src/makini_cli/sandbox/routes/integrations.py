"""Documented token-scoped calls about the connection behind a connection token.

The sync calls answer as Makini's 2023 reference and its sample app read them: bare,
with the status at the top level (`{"status": "done"}`), not in a `data` envelope.
`POST /api/integrations/sync` starts a sync as the (ext) admin route does and answers
200. `type` is a free string, as documented: `"full"` forces a full sync, anything else
asks for an incremental one. `scopes` names Makini's scopes (`work_orders`); empty or
missing means every scope of the connection. `action` is accepted and ignored: Makini
does not say what it means. A sync already queued or running answers 409
`SYNC_ALREADY_RUNNING`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from makini_cli.sandbox import connections as repo
from makini_cli.sandbox import syncs, transitions
from makini_cli.sandbox.routes.common import ConnectionDep, NowDep, RuntimeDep


class SyncRequest(BaseModel):
    type: str = Field(
        max_length=64, description='"full" for a full sync; anything else: incremental.'
    )
    action: str | None = Field(default=None, description="Accepted; its meaning is undocumented.")
    scopes: list[str] | None = Field(
        default=None,
        description="Scopes to sync (empty or missing: every scope of the connection).",
        examples=[["work_orders"]],
    )


def build_router(*, extensions: bool) -> APIRouter:
    router = APIRouter(prefix="/api/integrations", tags=["integrations"])

    @router.get("/current", summary="The connection behind this token")
    def current(principal: ConnectionDep, runtime: RuntimeDep) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": repo.integration_view(conn, principal.subject)}

    @router.delete("/current", summary="Disconnect the connection behind this token")
    def disconnect(principal: ConnectionDep, runtime: RuntimeDep, now: NowDep) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            transitions.delete_connection(conn, now, principal.subject)
        return {"data": {"key": principal.subject, "deleted": True}}

    @router.get("/sync/status", summary="Sync state: inprogress, done, fulldone, error or fail")
    def sync_status(principal: ConnectionDep, runtime: RuntimeDep) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"status": syncs.documented_status(conn, principal.subject)}

    @router.post("/sync", summary="Start a sync")
    def start_sync(
        principal: ConnectionDep, runtime: RuntimeDep, now: NowDep, body: SyncRequest
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            sync = syncs.start_sync(
                conn,
                now,
                principal.subject,
                scopes=body.scopes or None,
                full=body.type == "full",
            )
        answer: dict[str, Any] = {
            "status": transitions.SYNC_STATUS_IN_PROGRESS,
            "type": body.type,
            "scopes": sync["scopes"],
        }
        if extensions:
            answer["id"] = sync["id"]  # the (ext) Sync behind it, for `GET /api/system/syncs/{id}`
        return answer

    return router
