"""The sandbox's own OpenAPI document: FastAPI's, finished to say what the server does.

FastAPI's generated document knows neither the bearer tokens (authentication is a
dependency that reads the header itself), nor the error envelope (it documents its own
`HTTPValidationError`, which the sandbox never sends), nor the answers' shapes (the
routes return plain dicts). `install(app)` makes `app.openapi()` answer a copy with:
- `components.securitySchemes.bearerAuth` (HTTP bearer, JWT, as in Makini's files) and
  `security` on every operation but `POST /link/token`;
- `ErrorEnvelope` as the answer for every error status of the contract's table, in place
  of `HTTPValidationError` (whose components are removed);
- the answer's schema for each call in `response_schemas()`, keyed by (method, path) as
  Makini's reference spells the path. The shapes are Makini's schemas with the types the
  sandbox sends (issue 8's notes); ext fields appear only when extensions are served,
  and every object is closed, so a field the sandbox adds without saying so is caught.
  Unified records are the exception to "always sent": a record leaves out the fields
  its system has no value for, so only `key` and its times are required.
Paths are left as the routes name them; a test checks they are Makini's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from makini_cli.sandbox import custom_fields, unified, writes
from makini_cli.sandbox.connections import STATUSES
from makini_cli.sandbox.errors import ERROR_TYPES

Schema = dict[str, Any]

BEARER_SCHEME: Schema = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}

#: The contract's error table (api-contract.md §3), one status per line of it.
ERROR_STATUSES: dict[int, str] = {
    400: "Malformed JSON or a bad query (INVALID_REQUEST).",
    401: "Missing, unknown, revoked (AUTHENTICATION_FAILED) or expired (TOKEN_EXPIRED) token.",
    402: "Not enough connection credits (INSUFFICIENT_CREDITS).",
    403: "The wrong kind of token, or another connection's (PERMISSION_DENIED).",
    404: "No such resource (NOT_FOUND).",
    409: "A sync already runs, the system needs reauthorization, or an idempotency key "
    "was reused with another body.",
    422: "Field errors, listed in details.fields (VALIDATION_FAILED).",
    429: "Too many requests for this token; see Retry-After (RATE_LIMIT_EXCEEDED).",
    500: "A fault of the server (INTERNAL_ERROR).",
    503: "The connected system is offline (SYSTEM_UNREACHABLE), or the service is "
    "unavailable (SERVICE_UNAVAILABLE); see Retry-After.",
}

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
#: FastAPI's own validation-error schemas, which the sandbox never sends.
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")

SYNC_STATUSES = ("inprogress", "done", "fulldone", "error", "fail")
HEALTHS = ("online", "offline", "reauth_required")


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _record(
    properties: dict[str, Schema],
    ext: dict[str, Schema] | None = None,
    *,
    extensions: bool,
    description: str | None = None,
) -> Schema:
    """A closed object whose every property is always sent; `ext` ones only with extensions."""
    shown = {**properties, **(ext or {})} if extensions else dict(properties)
    schema: Schema = {
        "type": "object",
        "properties": shown,
        "required": list(shown),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


_STRING: Schema = {"type": "string"}
_INTEGER: Schema = {"type": "integer"}
_TIME: Schema = {"type": "string", "format": "date-time"}
_TIME_OR_NULL: Schema = {"type": ["string", "null"], "format": "date-time"}
_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}


def _data(schema: Schema) -> Schema:
    return {
        "type": "object",
        "properties": {"data": schema},
        "required": ["data"],
        "additionalProperties": False,
    }


def _page(item: Schema) -> Schema:
    """Makini's (Laravel's) list envelope of `item`s."""
    return {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": item},
            "links": _ref("Links"),
            "meta": _ref("Meta"),
        },
        "required": ["data", "links", "meta"],
        "additionalProperties": False,
    }


def component_schemas(*, extensions: bool) -> dict[str, Schema]:
    """The named schemas the answers refer to."""
    connection_documented: dict[str, Schema] = {
        "key": _STRING,
        "name": _STRING,
        "email": _STRING,
        "status": {"type": "string", "enum": list(STATUSES)},
        "integration_name": _STRING,
        "redirect": _STRING,
        "scopes": {
            "type": "string",
            "description": "Comma-separated scope names, as Makini types it.",
            "examples": ["sites,locations,assets,work_orders"],
        },
        "tags": _STRINGS,
        "user_metadata": {
            "type": "string",
            "description": "The metadata as compact JSON, as Makini types it.",
            "examples": ['{"customer_id":"CUST-1001"}'],
        },
        "client_id": _STRING,
        "updated_at": _TIME,
        "created_at": _TIME,
        # A connection whose Link flow never finished has not connected yet.
        "connected_at": _TIME_OR_NULL,
    }
    connection_ext: dict[str, Schema] = {
        "platform": _STRING,
        "health": {"type": ["string", "null"], "enum": [*HEALTHS, None]},
        "credits": _INTEGER,
        "last_sync_at": _TIME_OR_NULL,
        "last_successful_sync_at": _TIME_OR_NULL,
        "next_sync_at": _TIME_OR_NULL,
        "sync_status": {"type": ["string", "null"], "enum": [*SYNC_STATUSES, None]},
        "error": {
            "type": ["object", "null"],
            "properties": {"code": _STRING, "message": _STRING},
            "required": ["code", "message"],
            "additionalProperties": False,
            "description": "What went wrong last, as GET …/status says it.",
        },
        "health_since": {
            **_TIME_OR_NULL,
            "description": "When the current health began (null: no health yet).",
        },
    }
    metadata = {k: v for k, v in connection_documented.items() if k != "tags"}
    codes = sorted(ERROR_TYPES)
    return {
        "ErrorEnvelope": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string", "enum": codes},
                        "type": {"type": "string", "enum": sorted(set(ERROR_TYPES.values()))},
                        "message": _STRING,
                        "request_id": {"type": "string", "pattern": "^req_"},
                        "details": {"type": "object"},
                    },
                    "required": ["code", "type", "message", "request_id", "details"],
                    "additionalProperties": False,
                }
            },
            "required": ["error"],
            "additionalProperties": False,
            "description": "Every error answer (api-contract §3); X-Request-Id repeats request_id.",
        },
        "Links": _record(
            {
                "first": _STRING,
                "last": _STRING,
                "prev": {"type": ["string", "null"]},
                "next": {"type": ["string", "null"]},
            },
            extensions=extensions,
        ),
        "Meta": _record(
            {
                "current_page": _INTEGER,
                "from": {"type": ["integer", "null"]},
                "last_page": _INTEGER,
                "path": _STRING,
                "per_page": _INTEGER,
                "to": {"type": ["integer", "null"]},
                "total": _INTEGER,
            },
            extensions=extensions,
        ),
        "Connection": _record(connection_documented, connection_ext, extensions=extensions),
        "ConnectionMetadata": _record(
            metadata,
            extensions=extensions,
            description="The connection as its metadata calls show it (no tags).",
        ),
        "ConnectionStore": _record(
            {
                "access_token": _STRING,
                "refresh_token": _STRING,
                "expires_in": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "description": "When the access token expires (Unix seconds), as a "
                    "string: Makini types it so.",
                },
            },
            {"key": {"type": "string", "description": "The new connection's key (ext)."}},
            extensions=extensions,
        ),
        "ConnectionToken": _record(
            {
                "token": _STRING,
                "expires_in": {"type": "integer", "description": "Seconds the token lives."},
            },
            extensions=extensions,
        ),
        "Deleted": _record(
            {"key": _STRING, "deleted": {"type": "boolean", "const": True}},
            extensions=extensions,
        ),
        "Client": _record(
            {
                "id": _STRING,
                "name": _STRING,
                "logo_url": _STRING,
                "email": _STRING,
                "default_redirect": _STRING,
                "redirects": _STRINGS,
            },
            extensions=extensions,
        ),
        "Platform": _record(
            {
                "key": _STRING,
                "name": _STRING,
                "kind": _STRING,
                "tier": _INTEGER,
                "deployment": _STRING,
                "credits": _INTEGER,
                "credentials": _STRINGS,
            },
            extensions=extensions,
            description="Makini leaves Platform untyped; these are the sandbox's fields.",
        ),
        "Integration": _record(
            {
                "id": _STRING,
                "company_name": _STRING,
                "email": _STRING,
                "provider": _STRING,
                "sync_status": {"type": ["string", "null"], "enum": [*SYNC_STATUSES, None]},
                "sync_updated_at": _TIME_OR_NULL,
                "updated_at": _TIME,
            },
            extensions=extensions,
        ),
        "SyncStarted": _record(
            {
                "status": {"type": "string", "const": "inprogress"},
                "type": {"type": "string", "description": "As sent."},
                "scopes": _STRINGS,
            },
            {"id": {"type": "string", "description": "The (ext) Sync started."}},
            extensions=extensions,
            description="Bare, as Makini's 2023 reference answers it.",
        ),
        "SyncStatus": _record(
            {"status": {"type": "string", "enum": list(SYNC_STATUSES)}},
            extensions=extensions,
            description="Bare, as Makini's 2023 reference and sample app read it.",
        ),
        "RawTable": _record(
            {"name": _STRING, "columns": _STRINGS},
            {
                "rows": {"type": "integer", "description": "How many rows it holds (ext)."},
                "custom": {
                    "type": "boolean",
                    "description": "A customer-specific table, not the product's own (ext).",
                },
            },
            extensions=extensions,
        ),
        "RawRow": {"type": "object", "description": "Column name → value."},
        "Passthrough": _record(
            {
                "status": _INTEGER,
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {"description": "The system's own answer, any JSON."},
            },
            extensions=extensions,
        ),
        "TokenPair": _record(
            {
                "access_token": _STRING,
                "refresh_token": _STRING,
                "token_type": {"type": "string", "const": "bearer"},
                "expires_in": {
                    "type": "integer",
                    "description": "When the access token expires (Unix seconds).",
                },
            },
            extensions=extensions,
        ),
        "Capabilities": _data(
            _record({"extensions": _STRINGS}, extensions=extensions),
        ),
    }


_RECORD_TYPES: dict[str, Schema] = {
    "string": _STRING,
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
}
_CUSTOM_VALUE: Schema = {"type": ["string", "number", "boolean", "null"]}


def _unified_record(entity: unified.Entity, *, extensions: bool) -> Schema:
    """A unified record: the fields the sandbox fills, typed as it sends them."""
    properties: dict[str, Schema] = {}
    for name in entity.fields:
        kind = entity.field_types.get(name, "string")
        properties[name] = _TIME if name in entity.datetime_fields else _RECORD_TYPES[kind]
    if extensions:
        properties["customFields"] = {
            "type": "object",
            "additionalProperties": _CUSTOM_VALUE,
            "description": "The connection's custom fields of this entity, by name (ext).",
        }
    return {
        "type": "object",
        "properties": properties,
        "required": [f for f in ("key", "createdAt", "updatedAt") if f in entity.fields],
        "additionalProperties": False,
        "description": f"Makini's {entity.schema}: a field the system has no value for is "
        "left out.",
    }


def unified_component_schemas(*, extensions: bool) -> dict[str, Schema]:
    """Each served entity's record, named as Makini's files name it, and custom fields."""
    schemas = {
        entity.schema: _unified_record(entity, extensions=extensions)
        for entities in unified.ENTITIES.values()
        for entity in entities.values()
    }
    schemas["CustomField"] = _record(
        {"name": _STRING},
        {"type": {"type": "string", "enum": list(custom_fields.TYPES)}, "key": _STRING},
        extensions=extensions,
    )
    schemas["ConnectionCustomField"] = _record(
        {
            "key": _STRING,
            "entity": _STRING,
            "name": _STRING,
            "source": _STRING,
            "type": {"type": "string", "enum": list(custom_fields.TYPES)},
            "writable": {"type": "boolean"},
            "created_at": _TIME,
            "updated_at": _TIME,
        },
        extensions=extensions,
        description="A custom field as its admin calls show it (ext).",
    )
    return schemas


def unified_response_schemas(*, extensions: bool) -> dict[tuple[str, str], Schema]:
    """The answers of the unified-data and custom-field calls."""
    schemas: dict[tuple[str, str], Schema] = {}
    for category, entities in unified.ENTITIES.items():
        for path, entity in entities.items():
            base = f"/api/{category}/{path}"
            schemas[("GET", base)] = _page(_ref(entity.schema))
            schemas[("GET", f"{base}/{{key}}")] = _data(_ref(entity.schema))
            if extensions or (category, path) == ("eam", "work-orders"):
                schemas[("GET", f"{base}/custom-fields")] = _page(_ref("CustomField"))
    for path in writes.WRITABLE_ENTITIES:
        record = _data(_ref(unified.ENTITIES["eam"][path].schema))
        schemas[("POST", f"/api/eam/{path}")] = record
        schemas[("PUT", f"/api/eam/{path}/{{key}}")] = record
    schemas[("PUT", "/api/eam/work-orders/{key}/status")] = _data(_ref("WorkOrder"))
    if extensions:
        fields = "/api/system/connections/{id}/custom-fields"
        schemas |= {
            ("GET", fields): _page(_ref("ConnectionCustomField")),
            ("POST", fields): _data(_ref("ConnectionCustomField")),
            ("PATCH", f"{fields}/{{field_key}}"): _data(_ref("ConnectionCustomField")),
            ("DELETE", f"{fields}/{{field_key}}"): _data(_ref("Deleted")),
        }
    return schemas


def response_schemas(*, extensions: bool) -> dict[tuple[str, str], Schema]:
    """The 2xx answer of each call, by (method, path as Makini spells it)."""
    connection = "/api/system/connections/{id}"
    schemas: dict[tuple[str, str], Schema] = {
        ("POST", "/link/token"): _ref("TokenPair"),
        ("GET", "/api/system/client"): _data(_ref("Client")),
        ("GET", "/api/system/platforms"): _page(_ref("Platform")),
        ("GET", "/api/system/connections"): _page(_ref("Connection")),
        ("POST", "/api/system/connections"): _data(_ref("ConnectionStore")),
        ("DELETE", connection): _data(_ref("Deleted")),
        ("GET", f"{connection}/metadata"): _page(_ref("ConnectionMetadata")),
        ("POST", f"{connection}/metadata"): _data(_ref("ConnectionMetadata")),
        ("POST", f"{connection}/token"): _data(_ref("ConnectionToken")),
        ("GET", "/api/integrations/current"): _data(_ref("Integration")),
        ("DELETE", "/api/integrations/current"): _data(_ref("Deleted")),
        ("POST", "/api/integrations/sync"): _ref("SyncStarted"),
        ("GET", "/api/integrations/sync/status"): _ref("SyncStatus"),
        ("GET", "/api/raw/tables"): _data({"type": "array", "items": _ref("RawTable")}),
        ("GET", "/api/raw/tables/{table}/data"): _page(_ref("RawRow")),
        ("POST", "/api/passthrough"): _data(_ref("Passthrough")),
    }
    if extensions:
        schemas |= {
            ("GET", connection): _data(_ref("Connection")),
            ("DELETE", f"{connection}/metadata/{{name}}"): _data(_ref("ConnectionMetadata")),
            ("GET", "/api/system/capabilities"): _ref("Capabilities"),
        }
    return schemas | unified_response_schemas(extensions=extensions)


def _needs_token(path: str) -> bool:
    return path != "/link/token"


def _error_response(status: int) -> Schema:
    return {
        "description": ERROR_STATUSES[status],
        "content": {"application/json": {"schema": _ref("ErrorEnvelope")}},
    }


def finish(generated: Schema, *, extensions: bool) -> Schema:
    """A finished copy of FastAPI's document (see the module docstring)."""
    document = copy.deepcopy(generated)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(component_schemas(extensions=extensions))
    schemas.update(unified_component_schemas(extensions=extensions))
    components["securitySchemes"] = {"bearerAuth": dict(BEARER_SCHEME)}
    answers = response_schemas(extensions=extensions)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            if _needs_token(path):
                operation["security"] = [{"bearerAuth": []}]
            responses = operation.setdefault("responses", {})
            answer = answers.get((method.upper(), path))
            if answer is not None:
                for status, response in responses.items():
                    if status.startswith("2") and status != "204":
                        response["content"] = {"application/json": {"schema": answer}}
            for status in ERROR_STATUSES:
                responses[str(status)] = _error_response(status)
    return document


def install(app: FastAPI, *, extensions: bool) -> None:
    """Make `app.openapi()` (and so GET /openapi.json) answer the finished document."""
    generate: Callable[[], Schema] = app.openapi
    made: dict[str, Schema] = {}

    def openapi() -> Schema:
        generated = generate()  # FastAPI's, cached until the routes change
        if made.get("from") is not generated:
            made["from"], made["doc"] = generated, finish(generated, extensions=extensions)
        return made["doc"]

    app.openapi = openapi  # type: ignore[method-assign]
