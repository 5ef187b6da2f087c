"""A connection's custom fields kept as a file (config as code): read, check, write, and
the plan that makes a server match one.

The file is TOML or JSON (by extension; `-` for stdin, the format sniffed):

    connection = "10000715260448"        # optional: the connection the file is for

    [fields]
    work-orders = [
        { name = "inspector", source = "ZPM_INSP.INSPECTOR", type = "string", writable = false },
    ]

`fields` is either a table of entities, each a list of {name, source, type, writable}
(what `export` writes), or a flat list whose entries also name their `entity`
(`[[fields]]` … `entity = "work-orders"`). A field is identified by (entity, name): a
renamed field is another field. `writable` may be left out (false).

Nothing here imports typer, rich or httpx: errors are `FieldFileError`s with one-line
messages that name the file, the entry and what to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Format = Literal["toml", "json"]
Action = Literal["create", "update", "delete"]

TYPES: tuple[str, ...] = ("string", "number", "boolean", "date")
#: camelCase, as Makini names fields on records (`customFields.inspectorName`)
NAME_PATTERN = re.compile(r"[a-z][A-Za-z0-9]*")
MAX_NAME = 64
TOP_KEYS: tuple[str, ...] = ("connection", "fields")
ENTRY_KEYS: tuple[str, ...] = ("entity", "name", "source", "type", "writable")
#: the attributes a field has besides its identity, in the order they are shown
ATTRIBUTES: tuple[str, ...] = ("source", "type", "writable")
#: apply order: a delete frees a name that a create may take
ACTION_ORDER: dict[str, int] = {"delete": 0, "update": 1, "create": 2}


class FieldFileError(ValueError):
    """A file that cannot be used as it is: the message says where and what to fix."""


# ---------------------------------------------------------------------- fields


@dataclass(frozen=True)
class FieldSpec:
    """A custom field as a file states it: no key, no times."""

    entity: str
    name: str
    source: str
    type: str
    writable: bool = False

    @property
    def ident(self) -> tuple[str, str]:
        return (self.entity, self.name)

    def attributes(self) -> dict[str, Any]:
        return {"source": self.source, "type": self.type, "writable": self.writable}

    def entry(self) -> dict[str, Any]:
        """The field as an entry under its entity in a written file."""
        return {"name": self.name, **self.attributes()}


@dataclass(frozen=True)
class FieldFile:
    connection: str | None
    fields: tuple[FieldSpec, ...]


def check_name(name: str) -> str | None:
    """What is wrong with a field name, or None."""
    if not NAME_PATTERN.fullmatch(name):
        return (
            f"name {name!r} is not camelCase (a lowercase letter, then letters and digits, "
            "e.g. inspectorName)"
        )
    if len(name) > MAX_NAME:
        return f"name {name[:20]!r}… is longer than {MAX_NAME} characters"
    return None


def check_source(source: str) -> str | None:
    """What is wrong with a source, or None: it must read TABLE.COLUMN."""
    table, dot, column = source.partition(".")
    if not dot or not table or not column or any(ch.isspace() for ch in source):
        return f"source {source!r} is not TABLE.COLUMN (e.g. ZPM_INSP.INSPECTOR)"
    return None


def check_type(type_: str) -> str | None:
    if type_ not in TYPES:
        return f"type {type_!r} is not one of {', '.join(TYPES)}"
    return None


def same_source(a: str, b: str) -> bool:
    """Whether two sources name the same column. The server matches tables and columns
    whatever their case and stores them as the system spells them, so `zpm_insp.x` in a
    file is the stored `ZPM_INSP.X`, not a change to make on every apply."""
    return a.strip().casefold() == b.strip().casefold()


# ---------------------------------------------------------------------- reading


def format_for(path: str) -> Format | None:
    """The format a file name says (`.toml`, `.json`), or None (stdin, other names)."""
    lowered = path.lower()
    if lowered.endswith(".toml"):
        return "toml"
    if lowered.endswith(".json"):
        return "json"
    return None


def sniff(text: str) -> Format:
    """JSON starts with `{` (after blanks); a TOML document never does."""
    return "json" if text.lstrip("\ufeff \t\r\n").startswith("{") else "toml"


def parse(text: str, *, where: str, fmt: Format | None = None) -> FieldFile:
    """Read and check a file's text; `where` names the file in messages."""
    fmt = fmt or sniff(text)
    doc: Any
    if fmt == "toml":
        import tomllib

        try:
            doc = tomllib.loads(text.removeprefix("\ufeff"))
        except tomllib.TOMLDecodeError as exc:
            raise FieldFileError(f"{where}: invalid TOML: {exc}") from None
    else:
        try:
            doc = json.loads(text.removeprefix("\ufeff"))
        except json.JSONDecodeError as exc:
            raise FieldFileError(
                f"{where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise FieldFileError(f"{where}: invalid JSON: nested far too deep") from None
    return from_document(doc, where=where)


def from_document(doc: Any, *, where: str) -> FieldFile:
    """Check a decoded document (TOML or JSON) and return what it states."""
    if not isinstance(doc, Mapping):
        raise FieldFileError(f"{where}: expected an object with `connection` and `fields`")
    unknown = [str(k) for k in doc if k not in TOP_KEYS]
    if unknown:
        raise FieldFileError(
            f"{where}: unknown key {unknown[0]!r} at the top; allowed: {', '.join(TOP_KEYS)}"
        )
    connection = doc.get("connection")
    if connection is not None and (not isinstance(connection, str) or not connection.strip()):
        raise FieldFileError(
            f'{where}: connection must be a connection key in quotes (connection = "KEY")'
        )
    raw_fields = doc.get("fields", [])
    entries: list[tuple[str, str | None, Any]] = []  # (label, entity of its group, entry)
    if isinstance(raw_fields, list):
        entries = [(f"fields #{n}", None, e) for n, e in enumerate(raw_fields, 1)]
    elif isinstance(raw_fields, Mapping):
        for entity, group in raw_fields.items():
            if not isinstance(group, list):
                raise FieldFileError(
                    f"{where}: fields.{entity} must be a list of fields "
                    f"([[fields.{entity}]] in TOML)"
                )
            entries += [(f"fields.{entity} #{n}", str(entity), e) for n, e in enumerate(group, 1)]
    else:
        raise FieldFileError(
            f"{where}: fields must be a list of fields, or a table of entities each with a "
            "list of fields"
        )
    found: list[FieldSpec] = []
    first_seen: dict[tuple[str, str], str] = {}
    for label, group, entry in entries:
        spec = _entry(entry, group, f"{where}: {label}")
        if spec.ident in first_seen:
            raise FieldFileError(
                f"{where}: {label} ({spec.entity}/{spec.name}): the same field as "
                f"{first_seen[spec.ident]}; each (entity, name) may appear once"
            )
        first_seen[spec.ident] = label
        found.append(spec)
    return FieldFile(connection.strip() if connection else None, tuple(found))


def _entry(entry: Any, group: str | None, at: str) -> FieldSpec:
    if not isinstance(entry, Mapping):
        raise FieldFileError(f"{at}: expected a table of entity, name, source, type, writable")
    named = entry.get("name")
    if isinstance(named, str) and named:
        at = f"{at} ({named})"
    allowed = ENTRY_KEYS if group is None else ENTRY_KEYS[1:]
    for k in entry:
        if k == "entity" and group is not None and entry[k] == group:
            continue  # saying it twice is harmless
        if k not in allowed:
            extra = " (the group names the entity)" if k == "entity" else ""
            raise FieldFileError(
                f"{at}: unknown key {str(k)!r}{extra}; allowed: {', '.join(allowed)}"
            )
    values: dict[str, str] = {}
    for k in ("entity", "name", "source", "type"):
        value = group if k == "entity" and group is not None else entry.get(k)
        if value is None:
            raise FieldFileError(f"{at}: {k} is missing; every field needs {_needs(group)}")
        if not isinstance(value, str) or not value.strip():
            raise FieldFileError(f"{at}: {k} must be a non-empty string")
        values[k] = value.strip()
    for problem in (
        check_entity(values["entity"]),
        check_name(values["name"]),
        check_source(values["source"]),
        check_type(values["type"]),
    ):
        if problem:
            raise FieldFileError(f"{at}: {problem}")
    writable = entry.get("writable", False)
    if not isinstance(writable, bool):
        raise FieldFileError(f"{at}: writable must be true or false")
    return FieldSpec(values["entity"], values["name"], values["source"], values["type"], writable)


def _needs(group: str | None) -> str:
    return "name, source and type" if group else "entity, name, source and type"


def known_entities() -> list[str]:
    """Every entity makini knows, whatever the category (vocabulary.ENTITIES)."""
    from makini_cli.vocabulary import ENTITIES

    return sorted({e for entities in ENTITIES.values() for e in entities})


def check_entity(entity: str) -> str | None:
    """What is wrong with an entity name, or None."""
    # Caught before anything is applied: an apply deletes first, so an entity the server
    # would refuse must not be found out half-way.
    known = known_entities()
    if entity in known:
        return None
    import difflib

    close = difflib.get_close_matches(entity, known, n=1)
    if close:
        return f"entity {entity!r} is not one Makini documents; did you mean {close[0]!r}?"
    return f"entity {entity!r} is not one Makini documents; they are: {', '.join(known)}"


# ---------------------------------------------------------------------- writing


def document(connection: str | None, fields: Iterable[FieldSpec]) -> dict[str, Any]:
    """What `export` writes: the connection, then the fields grouped by entity, entities
    and names in order, so the same fields always make the same file."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for spec in sorted(fields, key=lambda f: f.ident):
        grouped.setdefault(spec.entity, []).append(spec.entry())
    doc: dict[str, Any] = {}
    if connection is not None:
        doc["connection"] = connection
    doc["fields"] = grouped
    return doc


def dumps(connection: str | None, fields: Iterable[FieldSpec], fmt: Format) -> str:
    doc = document(connection, fields)
    if fmt == "json":
        # ASCII only: whatever the server stored, no raw control or bidi character
        # reaches a terminal, and the data stays exact.
        return json.dumps(doc, indent=2) + "\n"
    import tomli_w

    target = connection if connection and connection.isalnum() else "KEY"
    chunks = [
        "# Custom fields, as `makini custom-fields export` wrote them.\n"
        f"# `makini custom-fields apply {target} -f FILE` makes the connection match this\n"
        "# file: it creates and changes fields, and deletes those the file does not list.\n"
    ]
    if connection is not None:
        chunks.append(tomli_w.dumps({"connection": connection}))
    # One [[fields.ENTITY]] table per field, always: tomli_w would write short ones as
    # inline tables and long ones as tables, two styles in one file.
    for entity, entries in doc["fields"].items():
        header = tomli_w.dumps({entity: 0}).rpartition(" = 0")[0]  # the key, quoted if need be
        for entry in entries:
            chunks.append(f"\n[[fields.{header}]]\n{tomli_w.dumps(entry)}")
    return _escape_invisible("".join(chunks))


def _escape_invisible(text: str) -> str:
    """tomli_w escapes ASCII controls; the rest that a terminal would act on or hide (C1,
    format characters such as bidi overrides, line and paragraph separators) can only be
    inside TOML strings, where a \\u escape is the same character."""
    import unicodedata

    def escaped(ch: str) -> str:
        category = unicodedata.category(ch)
        if category == "Cs":
            return "\ufffd"  # a lone surrogate is no character TOML can hold
        if ch == "\n" or category not in ("Cc", "Cf", "Zl", "Zp"):
            return ch
        code = ord(ch)
        return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"

    return "".join(escaped(ch) for ch in text)


# ---------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Change:
    action: Action
    entity: str
    name: str
    #: the attributes (source, type, writable) on the server, and as the file wants them
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    #: the server's key of the field (updates and deletes)
    key: str | None = None

    @property
    def ident(self) -> tuple[str, str]:
        return (self.entity, self.name)

    def changed(self) -> list[str]:
        """The attributes an update changes, in display order."""
        if self.before is None or self.after is None:
            return []
        return [a for a in ATTRIBUTES if not _same(a, self.before.get(a), self.after.get(a))]

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "entity": self.entity,
            "name": self.name,
            "from": self.before,
            "to": self.after,
        }


def _same(attribute: str, a: Any, b: Any) -> bool:
    if attribute == "source" and isinstance(a, str) and isinstance(b, str):
        return same_source(a, b)
    return bool(a == b)


@dataclass(frozen=True)
class Plan:
    #: in the order they are applied: deletes, updates, creates; each by (entity, name)
    changes: tuple[Change, ...]

    @property
    def in_sync(self) -> bool:
        return not self.changes

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def renames(self) -> dict[tuple[str, str], str]:
        """Deleted fields that look renamed: (entity, old name) → the created name with
        the same entity and source. Only a guess for the reader: a rename is a delete and
        a create, since a field is identified by its name."""
        created: dict[tuple[str, str], list[str]] = {}
        for c in self.changes:
            if c.action == "create" and c.after:
                created.setdefault((c.entity, str(c.after["source"]).casefold()), []).append(c.name)
        found: dict[tuple[str, str], str] = {}
        for c in self.changes:
            if c.action == "delete" and c.before:
                names = created.get((c.entity, str(c.before.get("source")).casefold()), [])
                if len(names) == 1:
                    found[c.ident] = names[0]
        return found

    def to_json(self) -> dict[str, Any]:
        return {"changes": [c.to_json() for c in self.changes], "in_sync": self.in_sync}


def make_plan(desired: Iterable[FieldSpec], current: Iterable[tuple[str, FieldSpec]]) -> Plan:
    """The changes that make `current` ((key, field) pairs, the server's) into `desired`
    (the file's): fields the file does not list are deleted."""
    wanted = {spec.ident: spec for spec in desired}
    have: dict[tuple[str, str], tuple[str, FieldSpec]] = {}
    for key, spec in current:
        have.setdefault(spec.ident, (key, spec))
    changes: list[Change] = []
    for ident, (key, spec) in have.items():
        if ident not in wanted:
            changes.append(Change("delete", *ident, spec.attributes(), None, key))
            continue
        target = wanted[ident]
        change = Change("update", *ident, spec.attributes(), target.attributes(), key)
        if change.changed():
            changes.append(change)
    for ident, spec in wanted.items():
        if ident not in have:
            changes.append(Change("create", *ident, None, spec.attributes()))
    changes.sort(key=lambda c: (ACTION_ORDER[c.action], c.entity, c.name))
    return Plan(tuple(changes))
