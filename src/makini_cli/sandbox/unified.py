"""Unified records, made from a connection's raw rows as Makini's data model shapes them.

Each platform fills each entity of its category (eam, erp, wms) from one of its own
tables: record n is made from raw row n, so a record, its raw row and every custom field
sourced from a table linked 1:1 to that row agree. Nothing is stored; like raw rows,
records are pure functions of (connection key, entity, number).

A record carries only the fields the system has a value for (Makini's schemas mark every
field non-nullable), each typed as Makini's schema types it: strings for codes, numbers
and dates alike, booleans, and objects where the schema says object (Address, Contact;
`orderDate`, `cost` and `quantity`, which the schema types as objects, are given the
shapes a PHP backend writes for a date, a money amount and a quantity). `…Key` fields
point at records of the same connection, and only at entities the category serves.

Keys are 14 digits: the entity's 2-digit scope prefix, a 4-digit part of the connection
(a stable hash of its key) and the 8-digit record number.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from makini_cli.sandbox import raw
from makini_cli.sandbox.platforms import Platform
from makini_cli.sandbox.raw import RawTable, RowDetail
from makini_cli.sandbox.unified_model import (
    ENTITIES,
    Category,
    Entity,
    Reader,
    category_of,
    record_key,
    record_number,
)

# --- values -------------------------------------------------------------------------

_TRUE = frozenset({"x", "y", "yes", "true", "t", "1", "+", "on"})
_FALSE = frozenset({"n", "no", "false", "f", "0", "-", "off", ""})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():  # SAP's YYYYMMDD; 00000000 is no date
            return None if text == "00000000" else datetime.strptime(text, "%Y%m%d").date()
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).date() if parsed.tzinfo else parsed.date()


def coerce(value: Any, type_: str) -> Any:
    """A raw value as a custom field of `type_` holds it; None when it does not convert.

    string: text (numbers written plainly); number: int or float; boolean: the flags
    systems write ("X"/"", "Y"/"N", "T"/"F", "+"/"-", 1/0, true/false; blank is false, as
    in SAP); date: "YYYY-MM-DD" from an ISO date or instant or SAP's YYYYMMDD.
    """
    if value is None:
        return None
    if type_ == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        text = str(value)
        return text if text.strip() else None
    if type_ == "number":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return value
        text = str(value).strip()
        if not _NUMBER.fullmatch(text):
            return None
        number = float(text)
        return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return None if value not in (0, 1) else bool(value)
        word = str(value).strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    if type_ == "date":
        day = _as_date(value)
        return day.isoformat() if day else None
    raise ValueError(f"unknown custom field type {type_!r}")


def _instant(value: Any) -> str | None:
    """A raw date or instant as ISO-8601 UTC with a "Z" (a day is its midnight UTC)."""
    if isinstance(value, str) and len(value) == 20 and value.endswith("Z"):
        return value
    day = _as_date(value)
    return f"{day.isoformat()}T00:00:00Z" if day else None


def _text(value: Any) -> str | None:
    text: str | None = coerce(value, "string")
    return text


# --- building records -----------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    entity: Entity
    table: RawTable
    readers: tuple[tuple[str, Reader, Callable[[Any], Any] | None], ...]


def _converter(entity: Entity, name: str) -> Callable[[Any], Any] | None:
    if name in entity.datetime_fields:
        return _instant
    kind = entity.field_types[name]
    if kind == "string":
        return _text
    if kind == "boolean":
        return lambda value: coerce(value, "boolean")
    return None  # objects and arrays come out of their readers as they are


def _compile(platform: Platform, entity: Entity) -> _Plan:
    # The maps name entities by path and build keys with record_key: imported here.
    from makini_cli.sandbox.unified_maps import mapping_for

    table_name, mapping = mapping_for(platform, entity.path)
    table = raw.find_table(platform, table_name)
    if table is None:
        raise LookupError(f"{platform.key}: no table {table_name} for {entity.path}")
    unknown = set(mapping) - set(entity.fields)
    if unknown:
        raise LookupError(f"{platform.key}: {entity.path} maps unknown fields {sorted(unknown)}")
    served = ENTITIES[category_of(platform)]
    readers: list[tuple[str, Reader, Callable[[Any], Any] | None]] = []
    for name in entity.fields:
        if name == "createdAt":
            readers.append((name, _created_reader, None))
        elif name == "updatedAt":
            readers.append((name, _updated_reader, None))
        elif name in mapping:
            reader = mapping[name].reader(platform, table, served)
            if reader is not None:
                readers.append((name, reader, _converter(entity, name)))
    return _Plan(entity, table, tuple(readers))


def _created_reader(key: str, number: int, row: RowDetail) -> str:
    return _iso(row.created)


def _updated_reader(key: str, number: int, row: RowDetail) -> str:
    return _iso(row.updated)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _build(plan: _Plan, connection_key: str, number: int) -> dict[str, Any]:
    row = raw.row_detail(connection_key, plan.table, number)
    record: dict[str, Any] = {"key": record_key(connection_key, plan.entity, number)}
    for name, reader, convert in plan.readers:
        value = reader(connection_key, number, row)
        if value is None or value == "":
            continue
        if convert is not None:
            value = convert(value)
            if value is None:
                continue
        record[name] = value
    return record


@dataclass(frozen=True, eq=False)
class Source:
    """How one platform fills one entity: from `table`, record n from raw row n."""

    entity: Entity
    table: RawTable
    _plan: _Plan = field(repr=False)

    def size(self, connection_key: str, *, rows: int | None = None) -> int:
        return raw.table_size(connection_key, self.table, rows=rows)

    def record(self, connection_key: str, number: int) -> dict[str, Any]:
        """Record `number` (1-based; any number ≥ 1, also past `size`)."""
        return _build(self._plan, connection_key, number)

    def records(
        self, connection_key: str, start: int, stop: int, *, rows: int | None = None
    ) -> list[dict[str, Any]]:
        """Records at positions [start, stop) (0-based), made without the rest."""
        stop = min(stop, self.size(connection_key, rows=rows))
        return [self.record(connection_key, n + 1) for n in range(max(start, 0), stop)]

    def all_records(
        self, connection_key: str, *, rows: int | None = None
    ) -> Sequence[dict[str, Any]]:
        """Every record, in number order. Cached: treat the records as read-only."""
        return _all_records(self, connection_key, rows)


# Small: with --table-rows 100000 one entry is a few hundred MB.
@functools.lru_cache(maxsize=8)
def _all_records(
    source: Source, connection_key: str, rows: int | None
) -> tuple[dict[str, Any], ...]:
    return tuple(source.records(connection_key, 0, source.size(connection_key, rows=rows)))


_SOURCES: dict[str, Mapping[str, Source]] = {}


def sources(platform: Platform) -> Mapping[str, Source]:
    """Entity path -> how the platform fills it, for every entity of its category."""
    cached = _SOURCES.get(platform.key)
    if cached is None:
        out: dict[str, Source] = {}
        for path, entity in ENTITIES[category_of(platform)].items():
            plan = _compile(platform, entity)
            out[path] = Source(entity, plan.table, plan)
        _SOURCES[platform.key] = cached = out
    return cached


# --- custom fields: where a value comes from -----------------------------------------------


class SourceProblem(Exception):
    """A custom field's `source` that names nothing usable; `details` lists what exists."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def linked_tables(platform: Platform, entity_path: str) -> list[RawTable]:
    """The tables whose row n belongs to record n of the entity: its own table and the
    tables that extend it (or that it extends) 1:1."""
    own = sources(platform)[entity_path].table
    root = own.extends or own.name
    return [t for t in raw.tables_of(platform) if (t.extends or t.name) == root]


def _resolve(platform: Platform, entity_path: str, source: str) -> tuple[RawTable, str]:
    served = ENTITIES[category_of(platform)]
    if entity_path not in served:
        raise SourceProblem(
            f"{platform.name} connections serve no {entity_path!r} records; "
            f"they serve {', '.join(served)}.",
            {"entities": list(served)},
        )
    tables = [t.name for t in raw.tables_of(platform)]
    table_name, dot, column_name = source.strip().rpartition(".")
    if not dot or not table_name or not column_name:
        raise SourceProblem(
            f"A source is TABLE.COLUMN, not {source!r}; {platform.name}'s tables: "
            f"{', '.join(tables)}.",
            {"tables": tables},
        )
    table = raw.find_table(platform, table_name)
    if table is None:
        raise SourceProblem(
            f"{platform.name} has no table {table_name!r}; its tables: {', '.join(tables)}.",
            {"tables": tables},
        )
    column = next((c for c in table.columns if c == column_name), None) or next(
        (c for c in table.columns if c.lower() == column_name.lower()), None
    )
    if column is None:
        raise SourceProblem(
            f"Table {table.name} has no column {column_name!r}; its columns: "
            f"{', '.join(table.columns)}.",
            {"columns": list(table.columns)},
        )
    linked = [t.name for t in linked_tables(platform, entity_path)]
    if table.name not in linked:
        raise SourceProblem(
            f"Table {table.name} has no row per {entity_path} record; the tables that "
            f"can source {entity_path}: {', '.join(linked)}.",
            {"tables": linked},
        )
    return table, column


_RESOLVED: dict[tuple[str, str, str], tuple[RawTable, str]] = {}


def resolve_source(platform: Platform, entity_path: str, source: str) -> str:
    """The canonical "TABLE.COLUMN" `source` names, as the system spells it; raises
    SourceProblem when it names no table, no column, or a table with no row per record."""
    table, column = _resolve(platform, entity_path, source)
    return f"{table.name}.{column}"


def custom_value(
    connection_key: str, platform: Platform, entity_path: str, source: str, number: int
) -> Any:
    """The raw value `source` holds for record `number` (uncoerced; None if empty)."""
    cache_key = (platform.key, entity_path, source)
    found = _RESOLVED.get(cache_key)
    if found is None:
        _RESOLVED[cache_key] = found = _resolve(platform, entity_path, source)
    table, column = found
    return raw.table_row(connection_key, table, number).get(column)


__all__ = [
    "ENTITIES",
    "Category",
    "Entity",
    "Reader",
    "Source",
    "SourceProblem",
    "category_of",
    "coerce",
    "custom_value",
    "linked_tables",
    "record_key",
    "record_number",
    "resolve_source",
    "sources",
]
