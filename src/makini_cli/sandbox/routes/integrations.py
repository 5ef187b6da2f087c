"""Documented token-scoped calls about the connection behind a connection token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from makini_cli.sandbox import connections as repo
from makini_cli.sandbox.routes.common import ConnectionDep, RuntimeDep


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

    return router
