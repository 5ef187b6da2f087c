"""Unified and raw data calls (connection token), gated by the connection's health.

Contract §5: while the connected system is offline these answer 503 SYSTEM_UNREACHABLE,
and while it rejects its credentials 409 REAUTHORIZATION_REQUIRED. The sandbox serves no
records yet (a later issue), so an answering system gets a 404 that says so.
"""

from __future__ import annotations

from fastapi import APIRouter

from makini_cli.sandbox.errors import ApiError, not_found
from makini_cli.sandbox.routes.common import ConnectionDep, RuntimeDep

CATEGORIES = ("eam", "erp", "wms", "raw")


def build_router() -> APIRouter:
    router = APIRouter(tags=["unified data"])

    def gate(principal: ConnectionDep, runtime: RuntimeDep, path: str) -> None:
        with runtime.store.connection() as conn:
            row = conn.execute(
                "SELECT health FROM connections WHERE key = ? AND deleted_at IS NULL",
                (principal.subject,),
            ).fetchone()
        if row is None:
            raise not_found(f"Connection {principal.subject!r}")
        if row["health"] == "offline":
            raise ApiError(
                503,
                "SYSTEM_UNREACHABLE",
                "The connected system is offline; Makini keeps retrying and the data "
                "returns when it answers again.",
            )
        if row["health"] == "reauth_required":
            raise ApiError(
                409,
                "REAUTHORIZATION_REQUIRED",
                "The connected system rejected its stored credentials; reconnect it.",
            )
        raise not_found(f"Data at {path!r} (the sandbox serves no records yet)")

    # One route per method: FastAPI names an operation after a route's first method only.
    for category in CATEGORIES:
        for method in ("GET", "POST", "PUT"):
            router.add_api_route(
                f"/api/{category}/{{path:path}}",
                gate,
                methods=[method],
                name=f"data_{category}_{method.lower()}",
                summary=f"{method} /api/{category}/… (health-gated; no records yet)",
            )
    return router
