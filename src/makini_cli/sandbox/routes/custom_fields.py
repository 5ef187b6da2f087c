"""Custom fields: the (ext) admin calls that define them, and the lists a connection reads.

- (ext, admin token) `GET|POST /api/system/connections/{id}/custom-fields`
  (`?filter[entity]=work-orders`; ordered by entity, then name) and
  `PATCH|DELETE /api/system/connections/{id}/custom-fields/{field_key}`; see
  `sandbox/custom_fields.py` for what a field must be.
- (documented, connection token, health-gated) `GET /api/eam/work-orders/custom-fields`:
  the connection's fields of work orders, `{"data": [{"name"}]}` in the list envelope;
  with extensions each also carries `type` and `key`, and the same path answers for
  every other entity the connection's category serves.

Included before the unified-data router, whose `/{key}` routes would otherwise take
`custom-fields` for a key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from makini_cli.sandbox import custom_fields as repo
from makini_cli.sandbox import records, transitions, unified
from makini_cli.sandbox.connections import live_row
from makini_cli.sandbox.platforms import get_platform
from makini_cli.sandbox.routes.common import (
    AdminDep,
    ConnectionId,
    NowDep,
    RuntimeDep,
    list_parameters,
    page_of,
)
from makini_cli.sandbox.routes.data import GatedDep

_TYPE_SCHEMA: JsonDict = {"enum": list(repo.TYPES)}
_ENTITY = "An entity path of the connection's category, e.g. work-orders."
_NAME = "camelCase, unique per entity, not a standard field's name."
_SOURCE = "TABLE.COLUMN of the connection's raw tables (GET /api/raw/tables)."
_WRITABLE = "Whether writes may set it (customFields in a POST or PUT)."


class CreateCustomField(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "entity": "work-orders",
                "name": "inspector",
                "source": "custom_inspections.inspector",
                "type": "string",
            }
        },
    )

    entity: str = Field(max_length=64, description=_ENTITY)
    name: str = Field(max_length=256, description=_NAME)
    source: str = Field(max_length=256, description=_SOURCE)
    type: str = Field(
        description="string, number, boolean or date.", json_schema_extra=_TYPE_SCHEMA
    )
    writable: bool = Field(default=False, description=_WRITABLE)


class UpdateCustomField(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"type": "number"}})

    name: str | None = Field(default=None, max_length=256, description=_NAME)
    source: str | None = Field(default=None, max_length=256, description=_SOURCE)
    type: str | None = Field(
        default=None, description="string, number, boolean or date.", json_schema_extra=_TYPE_SCHEMA
    )
    writable: bool | None = Field(default=None, description=_WRITABLE)


def _entity_lister(category: str, entity: str, *, extensions: bool) -> Callable[..., Any]:
    fields = ("name", "type", "key") if extensions else ("name",)

    def list_entity_fields(
        connection: GatedDep, runtime: RuntimeDep, request: Request
    ) -> dict[str, Any]:
        records.source_for(connection.platform, category, entity)
        with runtime.store.connection() as conn:
            rows = repo.rows_of(conn, connection.key, entity)
        items = [{name: row[name] for name in fields} for row in rows]
        return page_of(request, items, fields=fields)

    return list_entity_fields


def build_router(*, extensions: bool) -> APIRouter:
    router = APIRouter(tags=["custom fields"])
    for category, entities in unified.ENTITIES.items():
        for entity in entities:
            documented = (category, entity) == ("eam", "work-orders")
            if not (documented or extensions):
                continue
            router.add_api_route(
                f"/api/{category}/{entity}/custom-fields",
                _entity_lister(category, entity, extensions=extensions),
                methods=["GET"],
                name=f"list_{category}_{entity.replace('-', '_')}_custom_fields",
                summary=f"List the custom fields of {entity}" + ("" if documented else " (ext)"),
                dependencies=[Depends(list_parameters)],
            )
    if not extensions:
        return router

    base = "/api/system/connections/{id}/custom-fields"

    @router.get(
        base,
        summary="List a connection's custom fields (ext)",
        dependencies=[Depends(list_parameters)],
    )
    def list_fields(
        _: AdminDep, runtime: RuntimeDep, request: Request, key: ConnectionId
    ) -> dict[str, Any]:
        with runtime.store.connection() as conn:
            live_row(conn, key)
            items = repo.list_fields(conn, key)
        return page_of(request, items, fields=repo.CUSTOM_FIELD_FIELDS, updated_field="updated_at")

    @router.post(base, summary="Define a custom field (ext)", status_code=201)
    def create_field(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, key: ConnectionId, body: CreateCustomField
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            platform = get_platform(live_row(conn, key)["platform"])
            source = repo.check(
                conn,
                platform,
                connection_key=key,
                entity=body.entity,
                name=body.name,
                source=body.source,
                type_=body.type,
            )
            assert source is not None  # checked: the entity is served and the source named
            field = transitions.define_custom_field(
                conn,
                now,
                key,
                entity=body.entity,
                name=body.name,
                source=source,
                type_=body.type,
                writable=body.writable,
            )
        return {"data": field}

    @router.patch(f"{base}/{{field_key}}", summary="Change a custom field (ext)")
    def update_field(
        _: AdminDep,
        runtime: RuntimeDep,
        now: NowDep,
        key: ConnectionId,
        field_key: str,
        body: UpdateCustomField,
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            platform = get_platform(live_row(conn, key)["platform"])
            row = repo.get_row(conn, key, field_key)
            source = repo.check(
                conn,
                platform,
                connection_key=key,
                entity=row["entity"],
                name=body.name,
                source=body.source,
                type_=body.type,
                own_key=field_key,
            )
            given = body.model_dump(exclude_none=True)
            if source is not None:
                given["source"] = source
            field = transitions.change_custom_field(conn, now, row, given)
        return {"data": field}

    @router.delete(f"{base}/{{field_key}}", summary="Remove a custom field (ext)")
    def delete_field(
        _: AdminDep, runtime: RuntimeDep, now: NowDep, key: ConnectionId, field_key: str
    ) -> dict[str, Any]:
        with runtime.store.transaction() as conn:
            live_row(conn, key)
            removed = transitions.remove_custom_field(conn, now, repo.get_row(conn, key, field_key))
        return {"data": {"key": removed["key"], "deleted": True}}

    return router
