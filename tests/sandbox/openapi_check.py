"""Makini's published OpenAPI files, read at test time, as JSON Schema validators.

The files (`../shared/makini-openapi/oas3_*.json`, never copied here) are OpenAPI 3.0,
generated from a Laravel backend, and carry quirks. `to_json_schema` turns one of their
schemas into JSON Schema (draft 2020-12, for `jsonschema_rs`) and decides each quirk so:

- `$ref: #/components/schemas/X` → `#/$defs/X`; every component is converted the same way
  and carried in `$defs`.
- An empty schema written as `[]` (PHP's empty array: `ConnectionToken`, `Passthrough`,
  `RawData`) → `{}`, anything. `"properties": []` → no properties.
- `type` that is one of OpenAPI's types → that type. Any other string (`"required|email"`,
  `"nullable"`, `"nullable|numeric"`, `"numeric|required"`: Laravel validation rules that
  leaked into the type) → no type constraint.
- A schema that lists `properties` but gives no `type` (every component does) → an object.
- `nullable: true` → null is allowed too. `nullable: false`, written on almost every
  property, is OpenAPI's default and is taken at its word: null is not allowed (the files
  do say `nullable: true` hundreds of times where they mean it).
- `format: "nullable"` → null is allowed too: it is how the generator marks the
  `links.prev`/`links.next` strings of a list envelope, which Laravel sends as null on
  the first and last page. Every other `format` (`"string"`, `"array"`, `"required|email"`,
  `"binary"` …: the generator fills it with the type's name) is ignored.
- `example`, `title`, `description` are dropped: examples such as `"[]"` for an array
  are placeholders, not values.
- `number` keeps JSON Schema's meaning (integers are numbers); an array without `items`
  or an object without `properties` constrains nothing inside.

The files declare no `required` and no `additionalProperties`. Two options tighten a
schema for checking answers: `complete` (every listed property must be present: a
Laravel resource always writes all its keys) and `closed` (where a schema lists
properties, no other property may appear; a schema that lists none stays open).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from .conftest import SHARED

OPENAPI_DIR = SHARED / "makini-openapi"
SPEC_NAMES = ("system", "eam", "erp", "wms")

#: Calls a documented-only client makes that the current files do not list: the token
#: endpoint (makini-api-facts §3.2, §3.3) and the 2023 reference's sync calls (§4.1).
UNLISTED_OPERATIONS = frozenset(
    {
        ("POST", "/link/token"),
        ("POST", "/api/integrations/sync"),
        ("GET", "/api/integrations/sync/status"),
    }
)

_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_DROPPED = frozenset({"example", "examples", "title", "description", "format", "nullable"})
_CONVERTED = frozenset({"$ref", "type", "properties", "items", "allOf", "anyOf", "oneOf", "enum"})
_REF_PREFIX = "#/components/schemas/"


@functools.cache
def _load(name: str) -> str:
    path = OPENAPI_DIR / f"oas3_{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"Makini's OpenAPI file is missing: {path}")
    return path.read_text(encoding="utf-8")


def load_spec(name: str) -> dict[str, Any]:
    """A fresh copy of `oas3_<name>.json` (read from disk once per test run)."""
    document: dict[str, Any] = json.loads(_load(name))
    return document


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # as documented: "/api/system/connections/{id}"
    spec: Mapping[str, Any]

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"\{([^}]+)\}", self.path)


def operations(spec: Mapping[str, Any]) -> list[Operation]:
    """Every documented operation, in the file's order."""
    return [
        Operation(method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def _schema_node(schema: Any) -> dict[str, Any]:
    # PHP writes an empty map as [], so an empty schema arrives as a list.
    if isinstance(schema, list) and not schema:
        return {}
    if not isinstance(schema, dict):
        raise TypeError(f"not a schema: {schema!r}")
    return schema


def to_json_schema(schema: Any, *, closed: bool = False, complete: bool = False) -> dict[str, Any]:
    """One OpenAPI 3.0 schema of Makini's files as JSON Schema (see the module docstring).

    `$ref`s point at `#/$defs/<name>`: validate through `validator`, which adds them.
    """
    node = _schema_node(schema)
    if "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith(_REF_PREFIX):
            raise ValueError(f"unsupported $ref {ref!r}")
        return {"$ref": "#/$defs/" + ref.removeprefix(_REF_PREFIX)}
    out: dict[str, Any] = {}
    kind = node.get("type")
    properties = node.get("properties")
    if isinstance(properties, list):
        properties = {}
    if isinstance(kind, str) and kind in _JSON_TYPES:
        out["type"] = kind
    elif kind is None and properties:
        out["type"] = "object"
    if properties:
        out["properties"] = {
            name: to_json_schema(sub, closed=closed, complete=complete)
            for name, sub in properties.items()
        }
        if complete:
            out["required"] = list(properties)
        if closed:
            out["additionalProperties"] = False
    if "items" in node:
        out["items"] = to_json_schema(node["items"], closed=closed, complete=complete)
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in node:
            out[keyword] = [
                to_json_schema(sub, closed=closed, complete=complete) for sub in node[keyword]
            ]
    if "enum" in node:
        out["enum"] = list(node["enum"])
    unhandled = set(node) - _DROPPED - _CONVERTED
    if unhandled:
        # A keyword the files did not use when this was written: decide it, do not drop it.
        raise ValueError(f"unhandled OpenAPI keywords {sorted(unhandled)} in {node!r}")
    nullable = node.get("nullable") is True or node.get("format") == "nullable"
    if nullable and "type" in out:
        out["type"] = [out["type"], "null"]
    if nullable and "enum" in out:
        out["enum"].append(None)
    return out


#: Where the sandbox knowingly answers what Makini's schema does not allow, and why.
#: Each is listed in the README's deviations too. (component, property) → the reason.
KNOWN_DEVIATIONS: Mapping[tuple[str, str], str] = {
    ("Connection", "connected_at"): (
        "null for a pending connection, whose Link flow never finished: it never "
        "connected. The generator writes nullable: false on every system field, yet "
        "Makini's own sample app expects empty values there (a missing sync_status)."
    ),
    ("ConnectionMetadata", "connected_at"): "as Connection.connected_at",
}


def components(
    spec: Mapping[str, Any], *, closed: bool = False, complete: bool = False
) -> dict[str, Any]:
    """Every component schema of `spec`, converted, for a `$defs`; a property named in
    `KNOWN_DEVIATIONS` may also be null."""
    converted = {
        name: to_json_schema(schema, closed=closed, complete=complete)
        for name, schema in spec.get("components", {}).get("schemas", {}).items()
    }
    for (name, prop), _reason in KNOWN_DEVIATIONS.items():
        target = converted.get(name, {}).get("properties", {}).get(prop)
        if target is not None and isinstance(target.get("type"), str):
            target["type"] = [target["type"], "null"]
    return converted


def response_schema(
    spec: Mapping[str, Any],
    method: str,
    path: str,
    status: str = "200",
    *,
    closed: bool = False,
    complete: bool = False,
) -> dict[str, Any]:
    """The documented JSON body of one answer, as a standalone JSON Schema document."""
    operation = spec["paths"][path][method.lower()]
    content = operation["responses"][status]["content"]["application/json"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **to_json_schema(content["schema"], closed=closed, complete=complete),
        "$defs": components(spec, closed=closed, complete=complete),
    }


def validator(schema: Mapping[str, Any]) -> jsonschema_rs.Validator:
    # Formats are not checked: the files' formats are type names, not formats.
    return jsonschema_rs.validator_for(dict(schema), validate_formats=False)


def _pointer(parts: list[str | int]) -> str:
    return "/" + "/".join(str(part) for part in parts)


def schema_errors(check: jsonschema_rs.Validator, instance: Any) -> list[str]:
    """Every way `instance` breaks the schema, one line each, with where in the body."""
    return [f"at {_pointer(e.instance_path)}: {e.message}" for e in check.iter_errors(instance)]
