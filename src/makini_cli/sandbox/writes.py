"""Documented writes of unified records, checked as each platform checks them.

`POST /api/eam/work-orders`, `PUT /api/eam/work-orders/{key}`,
`PUT /api/eam/work-orders/{key}/status` `{statusKey}`, `POST /api/eam/assets` and
`PUT /api/eam/assets/{key}` (contract §9). Write support varies by system
(makini-api-facts §4.4, §10), so:

- a platform that takes no writes through Makini (`READ_ONLY_PLATFORMS`: IBM Maximo and
  Brightly, read-only integrations here) answers 400 INVALID_REQUEST naming itself;
- each platform requires its own fields (`required_fields`, Makini's validation notes):
  a missing or blank one is 422 VALIDATION_FAILED, `details.fields` {field: ["is
  required by <Platform>"]};
- a `…Key` reference (`REFERENCES`) must name a record of that entity of the same
  connection, else 422 likewise;
- a field of the record must have the record's type (a string, a boolean …); a time
  (`scheduledAt`, `dueAt` …) must be an ISO-8601 date or time and is stored as an
  instant; `null` or `""` removes an optional field;
- `customFields` {name: value} may set the connection's writable custom fields of the
  entity (ext), each value of the field's type.

Fields the record does not carry (`organizationKey`, `description` … which some systems
require, or any other) are accepted and not kept, as a system ignores what it does not
store; so are `key`, `createdAt`, `updatedAt` and `deletedAt`, which the system sets.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from makini_cli.sandbox import records, unified
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import ApiError, validation_failed
from makini_cli.sandbox.platforms import Platform

Method = Literal["POST", "PUT"]

#: Platforms whose integrations write nothing back (the sandbox's reading: Maximo's
#: MIF and Brightly's API are set up read-only for Makini here).
READ_ONLY_PLATFORMS = frozenset({"ibm-maximo", "brightly"})
WRITABLE_ENTITIES: tuple[str, ...] = ("work-orders", "assets")

#: POST work-orders (makini-api-facts §4.4); other platforms need a title.
WORK_ORDER_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "emaint": ("assetKey", "title", "scheduledAt"),
    "maintainx": ("siteKey", "title"),
    "inextia": ("assetKey", "title", "severity", "scheduledAt"),
    "upkeep": ("assetKey", "title", "severity", "scheduledAt"),
    "infor-eam": ("assetKey", "title"),
    "servicechannel": (
        "organizationKey",
        "siteKey",
        "accountKey",
        "title",
        "description",
        "severity",
        "scheduledAt",
    ),
}
DEFAULT_WORK_ORDER_REQUIRED: tuple[str, ...] = ("title",)
#: PUT assets on Infor EAM ("INFOR-E") needs the name; POST assets needs it everywhere.
ASSET_PUT_REQUIRED: Mapping[str, tuple[str, ...]] = {"infor-eam": ("name",)}
ASSET_POST_REQUIRED: tuple[str, ...] = ("name",)

#: Reference fields and the entity whose record each names.
REFERENCES: Mapping[str, str] = {
    "assetKey": "assets",
    "siteKey": "sites",
    "locationKey": "locations",
}
_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_SINGULAR: Mapping[str, str] = {
    "assets": "asset",
    "sites": "site",
    "locations": "location",
    "work-orders": "work order",
}


def refuse_read_only(platform: Platform, entity: str) -> None:
    """400 when the platform takes no writes."""
    if platform.key in READ_ONLY_PLATFORMS:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            f"{platform.name} does not accept writes to {entity} through Makini.",
            details={"platform": platform.key, "entity": entity},
        )


def required_fields(platform: Platform, entity: str, method: Method) -> tuple[str, ...]:
    if entity == "work-orders":
        if method == "POST":
            return WORK_ORDER_REQUIRED.get(platform.key, DEFAULT_WORK_ORDER_REQUIRED)
        return ()
    if method == "POST":
        return ASSET_POST_REQUIRED
    return ASSET_PUT_REQUIRED.get(platform.key, ())


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _instant(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return iso(parsed.timestamp())


def checked(
    conn: sqlite3.Connection,
    view: records.Records,
    body: Mapping[str, Any],
    *,
    method: Method,
) -> dict[str, Any]:
    """What the write `body` stores on a record of `view`'s entity (a patch for a PUT),
    once the platform would accept it; else the 422 of every problem."""
    platform, entity = view.platform, view.entity
    fields: dict[str, list[str]] = {}
    for name in required_fields(platform, entity.path, method):
        if _blank(body.get(name)):
            fields[name] = [f"is required by {platform.name}"]
    data: dict[str, Any] = {}
    for name, value in body.items():
        if name in fields or name in records.SYSTEM_FIELDS:
            continue
        if name == records.CUSTOM_FIELDS:
            problems, written = _custom_values(view, value)
            fields |= problems
            if written:
                data[name] = written
            continue
        if name not in entity.fields:
            continue  # not a field the record carries: accepted, not kept
        if _blank(value):
            data[name] = None
            continue
        wanted = entity.field_types.get(name, "string")
        if not isinstance(value, _JSON_TYPES.get(wanted, (object,))):
            fields[name] = [f"must be {'an' if wanted in ('object', 'array') else 'a'} {wanted}"]
            continue
        if name in entity.datetime_fields:
            instant = _instant(str(value))
            if instant is None:
                fields[name] = ["must be an ISO-8601 date or time"]
                continue
            value = instant
        if name in REFERENCES and not _names_a_record(conn, view, REFERENCES[name], value):
            target = REFERENCES[name]
            fields[name] = [
                f"names no {_SINGULAR.get(target, target)} of this connection: {value!r}"
            ]
            continue
        data[name] = value
    if fields:
        raise validation_failed(fields)
    return data


def _names_a_record(conn: sqlite3.Connection, view: records.Records, entity: str, key: str) -> bool:
    source = unified.sources(view.platform).get(entity)
    if source is None:
        return False
    return (
        records.Records(conn, view.platform, view.connection_key, source).number_of(key) is not None
    )


def _custom_values(
    view: records.Records, value: Any
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """(problems, values) of a write's `customFields`."""
    name = records.CUSTOM_FIELDS
    if not isinstance(value, dict):
        return {name: ["must be an object of custom field names and values"]}, {}
    columns = {column.name: column for column in view.columns}
    problems: dict[str, list[str]] = {}
    written: dict[str, Any] = {}
    for field_name, field_value in value.items():
        column = columns.get(field_name)
        where = f"{name}.{field_name}"
        if column is None:
            problems[where] = [f"is not a custom field of {view.entity.path}"]
        elif not column.writable:
            problems[where] = ["is a read-only custom field (writable: false)"]
        elif field_value is None:
            written[column.key] = None
        else:
            typed = unified.coerce(field_value, column.type)
            if typed is None:
                problems[where] = [f"must be a {column.type}"]
            else:
                written[column.key] = typed
    return problems, written


def status_change(body: Mapping[str, Any]) -> dict[str, Any]:
    """`PUT …/status` `{statusKey}`: the record's new status. The sandbox serves no status
    catalog: a status key is the system's own status code, which the record's `status`
    shows."""
    value = body.get("statusKey")
    if _blank(value):
        raise validation_failed({"statusKey": ["is required"]})
    if not isinstance(value, str):
        raise validation_failed({"statusKey": ["must be a string"]})
    return {"status": value.strip()}
