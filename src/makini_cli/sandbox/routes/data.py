"""Unified data calls (connection token), and the health gate every data call passes.

`gate` is the one check in front of the unified, raw and passthrough calls: an
`inactive` connection (it holds no credits) answers 402 INSUFFICIENT_CREDITS; while the
connected system is offline, 503 SYSTEM_UNREACHABLE (contract §5); while it rejects its
credentials, 409 REAUTHORIZATION_REQUIRED. The sandbox serves no unified records yet (a
later issue), so an answering system gets a 404 that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends

from makini_cli.sandbox.connections import live_row
from makini_cli.sandbox.errors import ApiError, not_found
from makini_cli.sandbox.platforms import Platform, get_platform
from makini_cli.sandbox.routes.common import ConnectionDep, RuntimeDep

CATEGORIES = ("eam", "erp", "wms")


@dataclass(frozen=True)
class DataConnection:
    """The connection behind a connection token, once its system can be read."""

    key: str
    platform: Platform


def gate(principal: ConnectionDep, runtime: RuntimeDep) -> DataConnection:
    with runtime.store.connection() as conn:
        row = live_row(conn, principal.subject)
    # Precedence as for the status: inactive before offline/reauth_required.
    if row["status"] == "inactive":
        raise ApiError(
            402,
            "INSUFFICIENT_CREDITS",
            "The connection is inactive: it holds no credits, so its system is not read "
            "until the account has credits for it.",
            details={"status": row["status"]},
        )
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
    return DataConnection(row["key"], get_platform(row["platform"]))


GatedDep = Annotated[DataConnection, Depends(gate)]


def build_router() -> APIRouter:
    router = APIRouter(tags=["unified data"])

    def no_records(_: GatedDep, path: str) -> None:
        raise not_found(f"Data at {path!r} (the sandbox serves no records yet)")

    # One route per method: FastAPI names an operation after a route's first method only.
    for category in CATEGORIES:
        for method in ("GET", "POST", "PUT"):
            router.add_api_route(
                f"/api/{category}/{{path:path}}",
                no_records,
                methods=[method],
                name=f"data_{category}_{method.lower()}",
                summary=f"{method} /api/{category}/… (health-gated; no records yet)",
            )
    return router
