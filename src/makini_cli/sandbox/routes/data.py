"""Unified records (connection token), and the health gate every data call passes.

`gate` is the one check in front of the unified, raw and passthrough calls: an
`inactive` connection (it holds no credits) answers 402 INSUFFICIENT_CREDITS; while the
connected system is offline, 503 SYSTEM_UNREACHABLE (contract §5); while it rejects its
credentials, 409 REAUTHORIZATION_REQUIRED.

Served (records.py makes the records, writes.py checks the writes):
- `GET /api/{category}/{entity}` and `/{key}` for every entity of every category, at
  Makini's paths; a connection reads its own category's (eam for CMMS and EAM systems).
  A list takes the contract's parameters (`page`, `per_page` ≤ 500, `filter[…]`,
  `filterMatch`, `sort[…]`, `modified_after`), also on `customFields.<name>`.
- `POST /api/eam/work-orders`, `PUT /api/eam/work-orders/{key}`,
  `PUT /api/eam/work-orders/{key}/status`, `POST /api/eam/assets`,
  `PUT /api/eam/assets/{key}`: 201 (POST) or 200 with `{"data": record}`.
- Anything else under `/api/eam|erp|wms/` answers 404 NOT_FOUND; for an entity the
  connection's category does not serve, the message and `details.entities` list those
  it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from makini_cli.sandbox import records, transitions, unified, writes
from makini_cli.sandbox.connections import live_row
from makini_cli.sandbox.errors import ApiError, not_found
from makini_cli.sandbox.platforms import Platform, get_platform
from makini_cli.sandbox.routes.common import (
    ConnectionDep,
    NowDep,
    RuntimeDep,
    list_parameters,
    page_of,
)

CATEGORIES = ("eam", "erp", "wms")
UPDATED_FIELD = "updatedAt"

WriteBody = Annotated[
    dict[str, Any],
    Body(
        description="The record's fields (camelCase); what each platform requires differs.",
        examples=[{"title": "Replace bearings on pump P-101", "assetKey": "02000100000001"}],
    ),
]
StatusBody = Annotated[
    dict[str, Any],
    Body(description="The new status: {statusKey}.", examples=[{"statusKey": "INPRG"}]),
]


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

Handler = Callable[..., dict[str, Any]]


def _lister(category: str, entity: unified.Entity) -> Handler:
    def list_records(connection: GatedDep, runtime: RuntimeDep, request: Request) -> dict[str, Any]:
        source = records.source_for(connection.platform, category, entity.path)
        with runtime.store.connection() as conn:
            view = records.Records(conn, connection.platform, connection.key, source)
            return page_of(request, view, fields=view.filterable, updated_field=UPDATED_FIELD)

    return list_records


def _getter(category: str, entity: unified.Entity) -> Handler:
    def get_record(connection: GatedDep, runtime: RuntimeDep, key: str) -> dict[str, Any]:
        source = records.source_for(connection.platform, category, entity.path)
        with runtime.store.connection() as conn:
            record = records.Records(conn, connection.platform, connection.key, source).get(key)
        if record is None:
            raise not_found(f"{entity.schema} {key!r}")
        return {"data": record}

    return get_record


def _creator(entity: unified.Entity) -> Handler:
    def create_record(
        connection: GatedDep, runtime: RuntimeDep, now: NowDep, body: WriteBody
    ) -> dict[str, Any]:
        source = records.source_for(connection.platform, "eam", entity.path)
        writes.refuse_read_only(connection.platform, entity.path)
        with runtime.store.transaction() as conn:
            view = records.Records(conn, connection.platform, connection.key, source)
            data = writes.checked(conn, view, body, method="POST")
            number = view.last_number() + 1
            key = transitions.write_record(
                conn, now, connection.key, entity, number, data, created=True
            )
            return {"data": view.get(key)}

    return create_record


def _updater(entity: unified.Entity, *, status: bool = False) -> Handler:
    def update_record(
        connection: GatedDep, runtime: RuntimeDep, now: NowDep, key: str, body: WriteBody
    ) -> dict[str, Any]:
        source = records.source_for(connection.platform, "eam", entity.path)
        writes.refuse_read_only(connection.platform, entity.path)
        with runtime.store.transaction() as conn:
            view = records.Records(conn, connection.platform, connection.key, source)
            number = view.number_of(key)
            if number is None:
                raise not_found(f"{entity.schema} {key!r}")
            if status:
                data = writes.status_change(body)
            else:
                data = writes.checked(conn, view, body, method="PUT")
            transitions.write_record(conn, now, connection.key, entity, number, data, created=False)
            return {"data": view.get(key)}

    return update_record


def _status_updater(entity: unified.Entity) -> Handler:
    update = _updater(entity, status=True)

    def update_status(
        connection: GatedDep, runtime: RuntimeDep, now: NowDep, key: str, body: StatusBody
    ) -> dict[str, Any]:
        return update(connection, runtime, now, key, body)

    return update_status


def _unknown_path(connection: GatedDep, request: Request, path: str) -> None:
    category = request.url.path.split("/")[2]
    entity = path.split("/", 1)[0]
    served = unified.ENTITIES[unified.category_of(connection.platform)]
    if category == unified.category_of(connection.platform) and entity in served:
        raise not_found(f"{request.method} {request.url.path}")
    raise records.not_served(connection.platform, category, entity)


def build_router() -> APIRouter:
    router = APIRouter(tags=["unified data"])
    for category, entities in unified.ENTITIES.items():
        for entity in entities.values():
            base = f"/api/{category}/{entity.path}"
            router.add_api_route(
                base,
                _lister(category, entity),
                methods=["GET"],
                name=f"list_{category}_{entity.scope}",
                summary=f"List {entity.schema} records",
                dependencies=[Depends(list_parameters)],
            )
            router.add_api_route(
                f"{base}/{{key}}",
                _getter(category, entity),
                methods=["GET"],
                name=f"get_{category}_{entity.scope}",
                summary=f"Get one {entity.schema} record",
            )
    for path in writes.WRITABLE_ENTITIES:
        entity = unified.ENTITIES["eam"][path]
        base = f"/api/eam/{path}"
        router.add_api_route(
            base,
            _creator(entity),
            methods=["POST"],
            status_code=201,
            name=f"create_eam_{entity.scope}",
            summary=f"Create a {entity.schema} (fields required per platform)",
        )
        router.add_api_route(
            f"{base}/{{key}}",
            _updater(entity),
            methods=["PUT"],
            name=f"update_eam_{entity.scope}",
            summary=f"Change a {entity.schema}",
        )
        if path == "work-orders":
            router.add_api_route(
                f"{base}/{{key}}/status",
                _status_updater(entity),
                methods=["PUT"],
                name="update_eam_work_orders_status",
                summary="Change a WorkOrder's status",
            )
    # Last: what no route above serves. One route per method: FastAPI names an operation
    # after a route's first method only.
    for name in CATEGORIES:
        for method in ("GET", "POST", "PUT"):
            router.add_api_route(
                f"/api/{name}/{{path:path}}",
                _unknown_path,
                methods=[method],
                name=f"data_{name}_{method.lower()}",
                summary=f"{method} /api/{name}/… not served (404 naming what is)",
            )
    return router
