"""Account-level admin calls: client, platforms, and the (ext) account and capabilities."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from makini_cli.sandbox.connections import account_summary, client_record
from makini_cli.sandbox.platforms import PLATFORMS
from makini_cli.sandbox.routes.common import (
    AdminDep,
    RuntimeDep,
    list_parameters,
    page_of,
)

#: Only what this server serves (a test calls a route of each): a client that trusts a
#: capability must not meet a 404. Served, like this route, only with extensions.
EXTENSIONS: tuple[str, ...] = (
    "syncs",
    "schedules",
    "custom_fields",
    "status",
    "idempotency",
    "metadata_delete",
    "webhooks",
    "events",
)
PLATFORM_FIELDS = tuple(PLATFORMS[0].to_api())


def build_router(*, extensions: bool) -> APIRouter:
    router = APIRouter(prefix="/api/system", tags=["system"])

    @router.get("/client", summary="Get the client (your application)")
    def get_client(_: AdminDep, runtime: RuntimeDep) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": client_record(conn)}

    @router.get(
        "/platforms",
        summary="List platforms",
        dependencies=[Depends(list_parameters)],
    )
    def list_platforms(_: AdminDep, request: Request) -> dict[str, Any]:
        return page_of(request, [p.to_api() for p in PLATFORMS], fields=PLATFORM_FIELDS)

    if not extensions:
        return router

    @router.get("/account", summary="Credits and connection count (ext)")
    def get_account(_: AdminDep, runtime: RuntimeDep) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            return {"data": account_summary(conn)}

    @router.get("/capabilities", summary="Extensions this server offers (ext)")
    def get_capabilities(_: AdminDep) -> dict[str, Any]:
        return {"data": {"extensions": list(EXTENSIONS)}}

    return router
