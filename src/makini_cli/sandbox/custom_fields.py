"""Custom fields (ext): a connection's own fields on one entity's records, each read from a
column of its system's raw tables (contract §6).

A field `{key, entity, name, source, type, writable, created_at, updated_at}` shows on
every record of its entity as `customFields.<name>`, typed per `type` (records.py). This
module checks a field and reads the stored ones; defining, changing and removing one are
transitions (`transitions.define_custom_field` …), which record its event.

What a field must be (else 422 VALIDATION_FAILED, `details.fields` plus hints):
- `entity`: one the connection's category serves (`details.entities` lists them);
- `name`: a camelCase identifier (`NAME_PATTERN`, at most `MAX_NAME_LENGTH`), not a
  standard field of the entity, and not the name of another of the connection's fields
  on that entity (`details.existing_key` names it);
- `source`: `TABLE.COLUMN` of a raw table linked to the entity's records
  (`unified.resolve_source`, whose hints name the tables or columns that exist); it is
  stored as the system spells it;
- `type`: one of `TYPES`.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Mapping
from typing import Any

from makini_cli.sandbox import unified
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import ApiError, not_found
from makini_cli.sandbox.platforms import Platform

NAME_PATTERN = re.compile(r"^[a-z][A-Za-z0-9]*$")
MAX_NAME_LENGTH = 64
TYPES: tuple[str, ...] = ("string", "number", "boolean", "date")
CUSTOM_FIELD_FIELDS: tuple[str, ...] = (
    "key",
    "entity",
    "name",
    "source",
    "type",
    "writable",
    "created_at",
    "updated_at",
)


def new_key() -> str:
    return "cf_" + secrets.token_hex(8)


def view(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "key": row["key"],
        "entity": row["entity"],
        "name": row["name"],
        "source": row["source"],
        "type": row["type"],
        "writable": bool(row["writable"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def rows_of(
    conn: sqlite3.Connection, connection_key: str, entity: str | None = None
) -> list[sqlite3.Row]:
    """The connection's fields (of one entity, if given), by entity, then name."""
    return conn.execute(
        "SELECT * FROM custom_fields WHERE connection_key = ? AND (? IS NULL OR entity = ?)"
        " ORDER BY entity, name",
        (connection_key, entity, entity),
    ).fetchall()


def list_fields(
    conn: sqlite3.Connection, connection_key: str, entity: str | None = None
) -> list[dict[str, Any]]:
    return [view(row) for row in rows_of(conn, connection_key, entity)]


def get_row(conn: sqlite3.Connection, connection_key: str, field_key: str) -> sqlite3.Row:
    """One of the connection's fields, or 404."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM custom_fields WHERE connection_key = ? AND key = ?",
        (connection_key, field_key),
    ).fetchone()
    if row is None:
        raise not_found(f"Custom field {field_key!r} of connection {connection_key!r}")
    return row


def served_entities(platform: Platform) -> list[str]:
    return list(unified.ENTITIES[unified.category_of(platform)])


def system_phrase(platform: Platform) -> str:
    """ "SAP S/4HANA is an ERP system; it has sites, vendors, …" (for a 404 or a 422)."""
    category = unified.category_of(platform)
    article = "an" if category in ("eam", "erp") else "a"
    entities = ", ".join(served_entities(platform))
    return f"{platform.name} is {article} {category.upper()} system; its records are {entities}"


def check(
    conn: sqlite3.Connection,
    platform: Platform,
    *,
    connection_key: str,
    entity: str,
    name: str | None,
    source: str | None,
    type_: str | None,
    own_key: str | None = None,
) -> str | None:
    """Raise the 422 of every problem of these values (None: not given, unchanged);
    answer the canonical `source`. `own_key`: the field being changed, whose own name
    is no clash."""
    fields: dict[str, list[str]] = {}
    hints: dict[str, Any] = {}
    category = unified.category_of(platform)
    entities = unified.ENTITIES[category]
    found = entities.get(entity)
    if found is None:
        served = list(entities)
        fields["entity"] = [f"{system_phrase(platform)}: {entity!r} is not among them."]
        hints["entities"] = served
    if name is not None:
        problem = _name_problem(name)
        if problem is None and found is not None:
            if name in found.fields:
                problem = (
                    f"{name!r} is a standard field of {entity}; custom fields are named "
                    "apart from them."
                )
            else:
                clash = conn.execute(
                    "SELECT key FROM custom_fields WHERE connection_key = ? AND entity = ?"
                    " AND name = ? AND key IS NOT ?",
                    (connection_key, entity, name, own_key),
                ).fetchone()
                if clash is not None:
                    problem = (
                        f"The connection already has a custom field {name!r} on {entity}: "
                        f"{clash['key']}."
                    )
                    hints["existing_key"] = clash["key"]
        if problem is not None:
            fields["name"] = [problem]
    canonical = None
    if source is not None and found is not None:
        try:
            canonical = unified.resolve_source(platform, entity, source)
        except unified.SourceProblem as exc:
            fields["source"] = [exc.message]
            hints |= exc.details
    if type_ is not None and type_ not in TYPES:
        fields["type"] = [f"Unknown type {type_!r}; use one of {', '.join(TYPES)}."]
    if fields:
        raise _invalid(fields, hints)
    return canonical


def _name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME_LENGTH:
        return f"The name may be at most {MAX_NAME_LENGTH} characters."
    if not NAME_PATTERN.match(name):
        return (
            f"{name!r} is not a camelCase name: a lower-case letter, then letters and "
            "digits (e.g. inspectorName)."
        )
    return None


def _invalid(fields: Mapping[str, list[str]], hints: Mapping[str, Any]) -> ApiError:
    messages = [problems[0] for problems in fields.values()]
    message = messages[0] if len(messages) == 1 else " ".join(messages)
    return ApiError(
        422, "VALIDATION_FAILED", message, details={"fields": dict(fields), **dict(hints)}
    )
