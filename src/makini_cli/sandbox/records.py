"""Unified records as the API serves them: made from the raw rows, patched by what
happened since the seed, with the connection's custom fields.

A connection's records of one entity are numbered from 1. Numbers 1…size are the base
records, made on the fly from the raw rows (`unified.Source`); a row of
`record_changes` patches one of them (a sync touched it, a PUT changed it) or adds a
record after them (a sync inserted it, a POST created it). The default order is by
number: the base records, then those created later.

`Records` is one entity's records as one read sees them: a lazy sequence whose slice
makes only the records it holds, so a list with no filter or sort (`listing.paginate`
reads one slice) makes one page of a table of 100,000 rows, not the table.

Custom fields (custom_fields.py) show on every record as `customFields` {name: typed
value|null}, present when the connection has a field on that entity: a record made from
the raw rows reads the field's source column of its row; one created by a POST holds
what the POST wrote to a writable field, else null. What a write gave a writable field
is kept under the field's key (`data.customFields`), so it follows a renamed field and
does not come back with a new field of a removed one's name.

`--table-rows` (settings.table_rows) sizes every raw table; it is kept in the data
dir's meta at start (`remember_table_rows`) so that the scheduler's syncs, which know
only the database, size the tables as the routes do.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from makini_cli.sandbox import custom_fields, unified
from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import ApiError
from makini_cli.sandbox.platforms import Platform
from makini_cli.sandbox.store import get_meta, set_meta

TABLE_ROWS_META_KEY = "table_rows"
CUSTOM_FIELDS = "customFields"
#: Fields a record always has that no write may set.
SYSTEM_FIELDS = frozenset({"key", "createdAt", "updatedAt", "deletedAt"})


def remember_table_rows(conn: sqlite3.Connection, rows: int | None) -> None:
    """Keep `--table-rows` (None: the tables' own sizes) where the scheduler reads it."""
    set_meta(conn, TABLE_ROWS_META_KEY, "" if rows is None else str(rows))


def table_rows(conn: sqlite3.Connection) -> int | None:
    """`--table-rows` of the server that opened the data dir last (None: not given)."""
    value = get_meta(conn, TABLE_ROWS_META_KEY)
    return int(value) if value else None


@dataclass(frozen=True)
class Change:
    """A row of `record_changes`."""

    number: int
    origin: str  # 'seed' | 'sync' | 'write'
    created_at: float | None
    updated_at: float
    data: dict[str, Any]


def _change(row: sqlite3.Row) -> Change:
    return Change(
        int(row["number"]),
        row["origin"],
        row["created_at"],
        float(row["updated_at"]),
        json.loads(row["data"]),
    )


@dataclass(frozen=True)
class CustomColumn:
    """A custom field as records show it."""

    key: str
    name: str
    source: str
    type: str
    writable: bool


def not_served(platform: Platform, category: str, entity: str) -> ApiError:
    """404 for an entity path the connection's category does not serve."""
    served = custom_fields.served_entities(platform)
    return ApiError(
        404,
        "NOT_FOUND",
        f"/api/{category}/{entity} is not served for this connection. "
        f"{custom_fields.system_phrase(platform)} (at /api/{unified.category_of(platform)}/…).",
        details={
            "category": unified.category_of(platform),
            "entity": entity,
            "entities": served,
        },
    )


def source_for(platform: Platform, category: str, entity: str) -> unified.Source:
    """The entity's records of this platform, or the 404 of an entity it does not serve."""
    if category != unified.category_of(platform):
        raise not_served(platform, category, entity)
    found = unified.sources(platform).get(entity)
    if found is None:
        raise not_served(platform, category, entity)
    return found


class Records(Sequence[dict[str, Any]]):
    """One entity's records of one connection, read through `conn` (see the module
    docstring); use it inside the `with` that opened `conn`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        platform: Platform,
        connection_key: str,
        source: unified.Source,
    ) -> None:
        self.conn = conn
        self.platform = platform
        self.connection_key = connection_key
        self.source = source
        self.entity = source.entity
        self.rows = table_rows(conn)
        self.size = source.size(connection_key, rows=self.rows)
        self.columns = [
            CustomColumn(row["key"], row["name"], row["source"], row["type"], bool(row["writable"]))
            for row in custom_fields.rows_of(conn, connection_key, self.entity.path)
        ]
        self._extra_count: int | None = None

    # --- what the overlay holds ---------------------------------------------------

    def _where(self) -> tuple[str, tuple[Any, ...]]:
        return "connection_key = ? AND entity = ?", (self.connection_key, self.entity.path)

    def changes_between(self, first: int, last: int) -> dict[int, Change]:
        where, args = self._where()
        rows = self.conn.execute(
            f"SELECT * FROM record_changes WHERE {where} AND number BETWEEN ? AND ?",  # noqa: S608 - fixed text
            (*args, first, last),
        ).fetchall()
        return {change.number: change for change in map(_change, rows)}

    def change(self, number: int) -> Change | None:
        return self.changes_between(number, number).get(number)

    def extra_count(self) -> int:
        """How many records were created after the base ones."""
        if self._extra_count is None:
            where, args = self._where()
            self._extra_count = int(
                self.conn.execute(
                    f"SELECT COUNT(*) FROM record_changes WHERE {where} AND number > ?",  # noqa: S608 - fixed text
                    (*args, self.size),
                ).fetchone()[0]
            )
        return self._extra_count

    def _extras(self, offset: int, limit: int) -> list[Change]:
        where, args = self._where()
        rows = self.conn.execute(
            f"SELECT * FROM record_changes WHERE {where} AND number > ?"  # noqa: S608 - fixed text
            " ORDER BY number LIMIT ? OFFSET ?",
            (*args, self.size, limit, offset),
        ).fetchall()
        return [_change(row) for row in rows]

    def last_number(self) -> int:
        """The highest number in use (the next record created gets the one after)."""
        where, args = self._where()
        top = self.conn.execute(
            f"SELECT MAX(number) FROM record_changes WHERE {where}",  # noqa: S608 - fixed text
            args,
        ).fetchone()[0]
        return max(self.size, int(top or 0))

    # --- records ------------------------------------------------------------------

    def number_of(self, key: str) -> int | None:
        """The number of the record `key` names, if it has one."""
        number = unified.record_number(self.connection_key, self.entity, key)
        if number is None or number < 1:
            return None
        if number <= self.size or self.change(number) is not None:
            return number
        return None

    def get(self, key: str) -> dict[str, Any] | None:
        number = self.number_of(key)
        if number is None:
            return None
        change = self.change(number)
        made = change is not None and change.origin == "write"
        return self.finish(number, None if made else self._base(number), change)

    def _base(self, number: int) -> dict[str, Any] | None:
        return self.source.record(self.connection_key, number)

    def finish(
        self, number: int, base: Mapping[str, Any] | None, change: Change | None
    ) -> dict[str, Any]:
        """The record `number` as served: its base (None: one a write created), patched by
        `change`, with its custom fields."""
        record: dict[str, Any]
        if change is not None and change.origin == "write":
            record = self._ordered(
                {"key": unified.record_key(self.connection_key, self.entity, number)} | change.data
            )
        else:
            record = dict(base) if base is not None else {}
            if change is not None and change.data:
                record = self._ordered(record | change.data)
        # A write that blanked a field removed it: a record leaves out what it lacks.
        record = {name: value for name, value in record.items() if value is not None}
        if change is not None:
            # Only the times the schema has (Makini's PurchaseOrder has no createdAt).
            if change.created_at is not None and "createdAt" in self.entity.fields:
                record["createdAt"] = iso(change.created_at)
            record["updatedAt"] = iso(change.updated_at)
        record.pop(CUSTOM_FIELDS, None)
        if self.columns:
            record[CUSTOM_FIELDS] = self._custom_values(number, change)
        return record

    def _ordered(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """`record` with its standard fields in the schema's order (`key` first)."""
        ordered = {name: record[name] for name in self.entity.fields if name in record}
        ordered |= {name: value for name, value in record.items() if name not in ordered}
        return ordered

    def _custom_values(self, number: int, change: Change | None) -> dict[str, Any]:
        written: Mapping[str, Any] = (change.data.get(CUSTOM_FIELDS) or {}) if change else {}
        made = change is not None and change.origin == "write"
        values = {}
        for column in self.columns:
            if column.key in written:
                raw = written[column.key]
            elif made:
                raw = None
            else:
                raw = unified.custom_value(
                    self.connection_key, self.platform, self.entity.path, column.source, number
                )
            values[column.name] = None if raw is None else unified.coerce(raw, column.type)
        return values

    # --- the sequence -------------------------------------------------------------

    def __len__(self) -> int:
        return self.size + self.extra_count()

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return self.page(start, stop)
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self.page(position, position + 1)[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.all())

    def page(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The records at 0-based positions start…stop-1, making only those."""
        if stop <= start:
            return []
        found: list[dict[str, Any]] = []
        base_stop = min(stop, self.size)
        if start < base_stop:
            changes = self.changes_between(start + 1, base_stop)
            bases = self.source.records(self.connection_key, start, base_stop, rows=self.rows)
            for position, base in enumerate(bases, start=start):
                number = position + 1
                found.append(self.finish(number, base, changes.get(number)))
        if stop > self.size:
            offset = max(0, start - self.size)
            for change in self._extras(offset, stop - max(start, self.size)):
                found.append(self.finish(change.number, self._extra_base(change), change))
        return found

    def _extra_base(self, change: Change) -> dict[str, Any] | None:
        # A record a sync inserted is the system's next row; one a POST made has no row.
        return None if change.origin == "write" else self._base(change.number)

    def all(self) -> list[dict[str, Any]]:
        """Every record, in order (for filters and sorting)."""
        where, args = self._where()
        changes = {
            change.number: change
            for change in map(
                _change,
                self.conn.execute(
                    f"SELECT * FROM record_changes WHERE {where} ORDER BY number",  # noqa: S608 - fixed text
                    args,
                ).fetchall(),
            )
        }
        bases = self.source.all_records(self.connection_key, rows=self.rows)
        found: list[dict[str, Any]] = []
        for number, base in enumerate(bases, start=1):
            change = changes.get(number)
            if change is None and not self.columns:
                found.append(base)  # shared with the cache: read, never changed
            else:
                found.append(self.finish(number, base, change))
        for number, change in changes.items():
            if number > self.size:
                found.append(self.finish(number, self._extra_base(change), change))
        return found

    @property
    def filterable(self) -> list[str]:
        """What a list may filter and sort on: the standard fields and the custom ones."""
        return [*self.entity.fields, *(f"{CUSTOM_FIELDS}.{c.name}" for c in self.columns)]
