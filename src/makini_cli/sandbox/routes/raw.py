"""Raw data and passthrough (documented; connection token; health-gated like unified data).

- `GET /api/raw/tables`: the connected system's own tables, `{"data": [{name, columns}]}`;
  with extensions each also says how many `rows` it holds and whether it is `custom` (a
  customer-specific table).
- `GET /api/raw/tables/{table}/data`: a table's rows in the list envelope, with the list
  parameters of every list (`filter[col]`, `sort[col]`, `page`, `per_page`, …). A table
  the system does not have answers 404 NOT_FOUND with the tables it has in `details`.
  With no filter or sort only the page's rows are made (`--table-rows 100000` pages as
  fast as 300 rows do).
- `POST /api/passthrough`: the sandbox has no real system behind it, so it answers as a
  read-only echo of one, always 200 `{"data": {"status", "headers", "body"}}` carrying
  the system's own answer: `get` of a path whose last segment names a raw table
  (`tables/AUFK`, `AUFK`) gives the table's first rows; any other `get` gives status 404
  with a message; `post`, `put` and `delete` give status 200 and `{"received": <body>}`
  and change nothing (sandbox connections accept writes but change nothing). `headers`
  and `query` are accepted and not used.

Rows are made on the fly and never stored (see `sandbox/raw.py`); `--table-rows` sizes
every table (records.table_rows).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from makini_cli.sandbox import raw, records
from makini_cli.sandbox.listing import Paged
from makini_cli.sandbox.routes.common import RuntimeDep, list_parameters, page_of
from makini_cli.sandbox.routes.data import GatedDep


def _lowered(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class PassthroughCall(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"path": "tables/AUFK", "method": "get", "headers": {}}}
    )

    path: str = Field(description="Path of the system's endpoint.")
    method: Annotated[
        Literal["get", "post", "put", "delete"],
        BeforeValidator(_lowered),
        Field(description="get, post, put or delete (any case)."),
    ]
    headers: dict[str, Any] | None = Field(default=None, description="Headers for the system.")
    query: dict[str, Any] | None = Field(default=None, description="Query for the system.")
    body: Any = Field(default=None, description="Body for the system (optional).")


def build_router(*, extensions: bool) -> APIRouter:
    router = APIRouter(tags=["raw data"])

    @router.get("/api/raw/tables", summary="The connected system's own tables")
    def list_tables(connection: GatedDep, runtime: RuntimeDep) -> dict[str, Any]:
        tables = raw.tables_of(connection.platform)
        if not extensions:
            return {"data": [table.to_api() for table in tables]}
        with runtime.store.connection() as conn:
            rows = records.table_rows(conn)
        return {
            "data": [
                table.to_api(rows=raw.table_size(connection.key, table, rows=rows))
                for table in tables
            ]
        }

    @router.get(
        "/api/raw/tables/{table}/data",
        summary="Rows of one of the system's tables",
        dependencies=[Depends(list_parameters)],
    )
    def table_data(
        connection: GatedDep, runtime: RuntimeDep, request: Request, table: str
    ) -> dict[str, Any]:
        found = raw.find_table(connection.platform, table)
        if found is None:
            raise raw.unknown_table(connection.platform, table)
        with runtime.store.connection() as conn:
            rows = records.table_rows(conn)
        key = connection.key
        # listing.paginate reads one slice of it when nothing is filtered or sorted.
        lazy = Paged(
            raw.table_size(key, found, rows=rows),
            lambda start, stop: list(raw.table_page(key, found, start, stop, rows=rows)),
            lambda: raw.table_rows(key, found, rows=rows),
        )
        return page_of(request, lazy, fields=found.columns, updated_field=found.updated_column)

    @router.post("/api/passthrough", summary="Call the connected system's own API")
    def passthrough(connection: GatedDep, call: PassthroughCall) -> dict[str, Any]:
        answer = raw.passthrough(
            connection.platform, connection.key, call.method, call.path, call.body
        )
        return {"data": answer}

    return router
