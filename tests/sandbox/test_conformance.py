"""The sandbox against Makini's published OpenAPI files (read at test time, see
`openapi_check`), with and without extensions.

- Every operation of `oas3_system.json` is called with a valid request and its answer is
  validated against the documented schema: every documented property present; without
  extensions also none beyond the documented ones, at every depth.
- Without extensions nothing else is served: the app's routes are documented ones (or
  control routes that stay hidden), error answers carry only the contract's codes, and
  the extension and control paths answer 404.
- With extensions the answers also match the sandbox's own OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts

from makini_cli.sandbox import unified
from makini_cli.sandbox.app import create_app
from makini_cli.sandbox.clock import ManualClock
from makini_cli.sandbox.settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    SandboxSettings,
)

from . import openapi_check as oc
from .conftest import ACTIVE_KEY, SHARED, assert_error, bearer, connection_token, token_pair

CONTRACT = SHARED / "api-contract.md"

#: Seeded connections, all online: one for most calls, two to delete.
DELETED_BY_ADMIN = "10000715260448"
DELETED_BY_ITSELF = "10001048593771"
UNKNOWN_KEY = "99999999999999"

#: The answers of `oc.UNLISTED_OPERATIONS`, from makini-api-facts §3 and the agreed
#: shapes (notes/issue8-shapes.md); `"ext"` lists what only extensions add.
UNLISTED: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/link/token"): {
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string"},
            "token_type": {"const": "bearer"},
            "expires_in": {"type": "integer"},
        },
        "ext": {},
    },
    ("POST", "/api/integrations/sync"): {
        "properties": {
            "status": {"const": "inprogress"},
            "type": {"const": "incremental"},  # as sent
            "scopes": {"type": "array", "items": {"type": "string"}},
        },
        "ext": {"id": {"type": "string"}},
    },
    ("GET", "/api/integrations/sync/status"): {
        "properties": {"status": {"enum": ["inprogress", "done", "fulldone", "error", "fail"]}},
        "ext": {},
    },
}

#: A route with one of these paths stands for the documented unified-data paths of its
#: category's file: it answers those and 404 for anything else (see the unknown-path
#: probe in test_no_extensions_errors_carry_only_contract_codes).
UNIFIED_CATCH_ALL = re.compile(r"^/api/(eam|erp|wms)/\{[^}:]+:path\}$")


@dataclass(frozen=True)
class Call:
    """How to call one documented operation validly."""

    token: Literal["admin", "connection", "none"] = "admin"  # "connection": of `key`
    key: str = ACTIVE_KEY  # for {id}, and whose connection token
    body: Any = None
    example: bool = False  # send the request body example of Makini's file


#: One valid request per operation of oas3_system.json (a test checks none is missing).
SYSTEM_CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/api/system/client"): Call(),
    ("GET", "/api/system/platforms"): Call(),
    ("GET", "/api/system/connections"): Call(),
    ("POST", "/api/system/connections"): Call(example=True),
    ("GET", "/api/system/connections/{id}/metadata"): Call(),
    ("POST", "/api/system/connections/{id}/metadata"): Call(example=True),
    # The file's "example" for this one is the answer (makini-api-facts §3.4): no body.
    ("POST", "/api/system/connections/{id}/token"): Call(),
    ("GET", "/api/integrations/current"): Call("connection"),
    ("GET", "/api/raw/tables"): Call("connection"),
    ("GET", "/api/raw/tables/{table}/data"): Call("connection"),
    ("POST", "/api/passthrough"): Call("connection", example=True),
    ("DELETE", "/api/system/connections/{id}"): Call(key=DELETED_BY_ADMIN),
    ("DELETE", "/api/integrations/current"): Call("connection", key=DELETED_BY_ITSELF),
}
UNLISTED_CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/link/token"): Call(
        "none",
        body={
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
    ),
    ("GET", "/api/integrations/sync/status"): Call("connection"),
    ("POST", "/api/integrations/sync"): Call(
        "connection", body={"type": "incremental", "action": None, "scopes": []}
    ),
}


@dataclass
class Sandbox:
    client: httpx.Client
    extensions: bool
    admin: dict[str, str]
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def connection(self, key: str) -> dict[str, str]:
        if key not in self.tokens:
            self.tokens[key] = connection_token(self.client, self.admin, key)
        return self.tokens[key]

    def headers(self, call: Call) -> dict[str, str]:
        if call.token == "none":
            return {}
        return self.connection(call.key) if call.token == "connection" else self.admin


def _start(make_sandbox: Callable[..., httpx.Client], extensions: bool) -> Sandbox:
    client = make_sandbox(
        f"conformance-{extensions}",
        # A still clock: no sync finishes or starts between two calls of a walk.
        clock=ManualClock(),
        extensions=extensions,
        rate_limit_per_minute=1_000_000,
    )
    return Sandbox(client, extensions, bearer(token_pair(client)["access_token"]))


@pytest.fixture(params=[True, False], ids=["extensions", "no-extensions"])
def served(request: pytest.FixtureRequest, make_sandbox: Callable[..., httpx.Client]) -> Sandbox:
    """A sandbox with, then without, extensions."""
    return _start(make_sandbox, bool(request.param))


@pytest.fixture
def documented(make_sandbox: Callable[..., httpx.Client]) -> Sandbox:
    return _start(make_sandbox, False)


@pytest.fixture
def documented_app(tmp_path: Path) -> Iterator[FastAPI]:
    """A --no-extensions app, built as `makini sandbox serve` builds it, for its routes."""
    app = create_app(SandboxSettings(data_dir=tmp_path / "routes", extensions=False))
    try:
        yield app
    finally:
        app.state.runtime.store.close()


def _url(sandbox: Sandbox, path: str, call: Call) -> str:
    url = path.replace("{id}", call.key)
    if "{table}" in url:
        tables = sandbox.client.get("/api/raw/tables", headers=sandbox.headers(call))
        assert tables.status_code == 200, f"GET /api/raw/tables: {tables.text}"
        url = url.replace("{table}", tables.json()["data"][0]["name"])
    assert "{" not in url, f"no value for the parameters of {path}"
    return url


def _request_body(spec: dict[str, Any], method: str, path: str, call: Call) -> Any:
    if not call.example:
        return call.body
    # Makini's own sample request, as its file gives it. (Not checked against the file's
    # request schema: that types `credentials` "array", PHP's word for the object the
    # sample sends.)
    content = spec["paths"][path][method.lower()]["requestBody"]["content"]
    return content["application/json"]["schema"]["example"]


def _answer(sandbox: Sandbox, method: str, path: str, call: Call, body: Any) -> httpx.Response:
    return sandbox.client.request(
        method, _url(sandbox, path, call), headers=sandbox.headers(call), json=body
    )


def _unlisted_schema(method: str, path: str, *, extensions: bool) -> dict[str, Any]:
    shape = UNLISTED[(method, path)]
    properties = dict(shape["properties"])
    if extensions:
        properties |= shape["ext"]
    return {
        "type": "object",
        "properties": properties,
        "required": list(shape["properties"]),
        # Closed without extensions; open with them, as ext fields are additive.
        **({} if extensions else {"additionalProperties": False}),
    }


def _own_doc_errors(doc: dict[str, Any], method: str, path: str, body: Any) -> list[str]:
    """How `body` breaks the sandbox's own OpenAPI document for (method, path)."""
    operation = doc["paths"][path][method.lower()]
    answers = [r for s, r in operation["responses"].items() if s.startswith("2")]
    schema = answers[0]["content"]["application/json"]["schema"]
    check = oc.validator(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **schema,
            "components": doc["components"],
        }
    )
    return oc.schema_errors(check, body)


def test_every_system_operation_answers_as_documented(served: Sandbox) -> None:
    spec = oc.load_spec("system")
    documented = {(op.method, op.path) for op in oc.operations(spec)}
    assert set(SYSTEM_CALLS) == documented, "the walk must cover oas3_system.json exactly"
    assert set(UNLISTED_CALLS) == set(UNLISTED) == oc.UNLISTED_OPERATIONS
    own_doc = served.client.get("/openapi.json").json() if served.extensions else None
    problems: list[str] = []
    # In table order: the deletions come after every other call on their connections.
    for (method, path), call in {**SYSTEM_CALLS, **UNLISTED_CALLS}.items():
        response = _answer(served, method, path, call, _request_body(spec, method, path, call))
        if (method, path) in documented:
            statuses = set(spec["paths"][path][method.lower()]["responses"])
        else:
            statuses = {"200"}
        if str(response.status_code) not in statuses:
            problems.append(
                f"{method} {path}: {response.status_code} (documented: {sorted(statuses)}) "
                f"{response.text[:300]}"
            )
            continue
        if not response.headers.get("content-type", "").startswith("application/json"):
            problems.append(f"{method} {path}: not JSON: {response.headers.get('content-type')}")
            continue
        answer = response.json()
        if (method, path) in documented:
            schema = oc.response_schema(
                spec,
                method,
                path,
                str(response.status_code),
                closed=not served.extensions,
                complete=True,
            )
        else:
            schema = _unlisted_schema(method, path, extensions=served.extensions)
        found = oc.schema_errors(oc.validator(schema), answer)
        problems += [f"{method} {path}: {p} (Makini's schema)" for p in found]
        if own_doc is not None:
            mine = _own_doc_errors(own_doc, method, path, answer)
            problems += [f"{method} {path}: {p} (the sandbox's /openapi.json)" for p in mine]
    assert not problems, "\n".join(problems)


#: An online connection of each category: two seeded, and a WMS one the test connects.
UNIFIED_KEYS = {"eam": "10000604159337", "erp": ACTIVE_KEY}
WMS_CONNECTION = {
    "name": "Harbour Depot – Fishbowl",
    "email": "wms@harbour.example.com",
    "provider": "fishbowl",
    "credentials": {"api": "https://fishbowl.example.com", "login": "l", "password": "p"},
}


def _unified_tokens(sandbox: Sandbox) -> dict[str, dict[str, str]]:
    tokens = {name: sandbox.connection(key) for name, key in UNIFIED_KEYS.items()}
    created = sandbox.client.post(
        "/api/system/connections", json=WMS_CONNECTION, headers=sandbox.admin
    )
    assert created.status_code == 200, created.text
    tokens["wms"] = bearer(created.json()["data"]["access_token"])
    return tokens


def _envelope_problems(path: str, answer: dict[str, Any]) -> list[str]:
    """What the list envelope lacks: Makini's schema lists its keys, and Laravel sends all."""
    problems = []
    if set(answer) != {"data", "links", "meta"}:
        problems.append(f"GET {path}: envelope keys {sorted(answer)}")
    if set(answer.get("meta", {})) != {
        "current_page",
        "from",
        "last_page",
        "path",
        "per_page",
        "to",
        "total",
    }:
        problems.append(f"GET {path}: meta keys {sorted(answer.get('meta', {}))}")
    return problems


def test_documented_unified_data_validates_where_served(served: Sandbox) -> None:
    """Every list and `/{key}` of the unified files that the sandbox serves answers as
    Makini's schema says (without extensions: no field beyond it, at any depth), and it
    serves every entity of each category.

    Records leave out what their system has no value for (notes/issue10-shapes.md), so a
    record need not carry every property; an empty page's `from`/`to` are null, as
    Laravel sends them, where the files type them as numbers.
    """
    tokens = _unified_tokens(served)
    own_doc = served.client.get("/openapi.json").json() if served.extensions else None
    problems: list[str] = []
    for name in ("eam", "erp", "wms"):
        spec = oc.load_spec(name)
        headers = tokens[name]
        answered: set[str] = set()
        first_keys: dict[str, str] = {}
        ops = [op for op in oc.operations(spec) if op.method == "GET"]
        # Lists first: a `/{key}` call takes the key of its list's first record.
        ops.sort(key=lambda op: bool(op.path_parameters))
        for op in ops:
            if op.path_parameters and not (
                op.path_parameters == ["key"] and op.path.endswith("/{key}")
            ):
                continue
            url = op.path
            if op.path_parameters:
                parent = op.path.removesuffix("/{key}")
                if parent not in first_keys:
                    continue
                url = f"{parent}/{first_keys[parent]}"
            response = served.client.get(url, headers=headers)
            if response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND":
                continue
            if response.status_code != 200:
                problems.append(f"GET {url}: {response.status_code} {response.text[:200]}")
                continue
            answered.add(op.path)
            answer = response.json()
            checked = answer
            if not op.path_parameters:
                problems += _envelope_problems(url, answer)
                if answer["data"]:
                    first_keys[op.path] = answer["data"][0].get("key", "")
                else:
                    assert (answer["meta"]["from"], answer["meta"]["to"]) == (None, None)
                    meta = {k: v for k, v in answer["meta"].items() if k not in ("from", "to")}
                    checked = {**answer, "meta": meta}
            schema = oc.response_schema(
                spec, "GET", op.path, closed=not served.extensions, complete=False
            )
            found = oc.schema_errors(oc.validator(schema), checked)
            problems += [f"GET {url}: {p} (Makini's schema)" for p in found]
            if own_doc is not None:
                mine = _own_doc_errors(own_doc, "GET", op.path, answer)
                problems += [f"GET {url}: {p} (the sandbox's /openapi.json)" for p in mine]
        expected = {
            f"/api/{name}/{entity}{suffix}"
            for entity in unified.ENTITIES[name]
            for suffix in ("", "/{key}")
        }
        if name == "eam":
            expected.add("/api/eam/work-orders/custom-fields")
        assert answered == expected, (name, sorted(answered ^ expected))
    assert not problems, "\n".join(problems)


# --- Without extensions, nothing but Makini's documented surface -----------------------


def _documented_operations() -> set[tuple[str, str]]:
    return {
        (op.method, op.path) for name in oc.SPEC_NAMES for op in oc.operations(oc.load_spec(name))
    }


def _route_operations(route: RouteContext) -> list[tuple[str, str]]:
    path = route.path or ""
    if not route.methods:  # a mount, or a route for every method: counts as anything
        return [("*", path)]
    # HEAD comes with GET in HTTP itself; it serves nothing a GET does not.
    return [(method, path) for method in sorted(route.methods) if method != "HEAD"]


def test_no_extensions_routes_only_documented_operations(
    documented_app: FastAPI, documented: Sandbox
) -> None:
    allowed = _documented_operations() | oc.UNLISTED_OPERATIONS
    unified_methods: dict[str, set[str]] = {
        name: {op.method for op in oc.operations(oc.load_spec(name))}
        for name in ("eam", "erp", "wms")
    }
    # Included routers are lazy in FastAPI: iterate their routes as FastAPI itself does.
    routes = [
        pair
        for route in iter_route_contexts(documented_app.routes)
        for pair in _route_operations(route)
    ]
    assert ("GET", "/api/system/connections") in routes  # the app was introspected
    undocumented = []
    for method, path in routes:
        if (method, path) in allowed:
            continue
        unified = UNIFIED_CATCH_ALL.match(path)
        if unified and method in unified_methods[unified.group(1)]:
            continue
        if path.startswith("/sandbox/") and method != "*":
            # A control route may exist only as long as no request without the control
            # token can tell: it must answer exactly as an unknown path does.
            url = re.sub(r"\{[^}]+\}", ACTIVE_KEY, path)
            answer = documented.client.request(
                method, url, headers=documented.admin, json={} if method != "GET" else None
            )
            if answer.status_code == 404 and answer.json()["error"]["code"] == "NOT_FOUND":
                continue
        undocumented.append(f"{method} {path}")
    # FastAPI's /openapi.json, /docs and /redoc are not Makini's either.
    assert not undocumented, "served without extensions, not documented: " + ", ".join(undocumented)


def contract_error_codes() -> dict[str, tuple[int, str]]:
    """code → (HTTP status, type), parsed from the table in api-contract.md §3."""
    text = CONTRACT.read_text(encoding="utf-8")
    section = text.split("## 3. Errors", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d{3})\s*\|\s*([A-Z_]+)\s*\|\s*([a-z_]+)\s*\|", section, re.M)
    codes = {code: (int(status), kind) for status, code, kind in rows}
    assert {"INVALID_REQUEST", "NOT_FOUND", "VALIDATION_FAILED"} <= set(codes), codes
    return codes


#: HTTP statuses the contract's table has no row for: they carry INVALID_REQUEST
#: (notes/issue8-shapes.md, "Errors").
UNTABLED_STATUSES = {405, 413, 421}


def test_no_extensions_errors_carry_only_contract_codes(documented: Sandbox) -> None:
    client, admin = documented.client, documented.admin
    connection = documented.connection(ACTIVE_KEY)
    as_json = {"Content-Type": "application/json"}
    oversized = b'{"name": "' + b"x" * DEFAULT_MAX_BODY_BYTES + b'"}'
    provoked: list[tuple[str, httpx.Response, int]] = [
        ("no token", client.get("/api/system/connections"), 401),
        ("unknown token", client.get("/api/system/client", headers=bearer("nope")), 401),
        (
            "admin token on a connection call",
            client.get("/api/integrations/current", headers=admin),
            403,
        ),
        (
            "connection token on an admin call",
            client.get("/api/system/connections", headers=connection),
            403,
        ),
        (
            "unknown connection",
            client.get(f"/api/system/connections/{UNKNOWN_KEY}/metadata", headers=admin),
            404,
        ),
        (
            "unknown connection (delete)",
            client.delete(f"/api/system/connections/{UNKNOWN_KEY}", headers=admin),
            404,
        ),
        ("unknown path", client.get("/api/system/nothing", headers=admin), 404),
        ("unknown path outside /api", client.get("/nothing"), 404),
        ("unknown unified path", client.get("/api/eam/no-such-thing", headers=connection), 404),
        ("unknown raw table", client.get("/api/raw/tables/NOPE/data", headers=connection), 404),
        ("wrong method", client.put("/api/system/connections", headers=admin), 405),
        (
            "wrong method on a documented path",
            client.get(f"/api/system/connections/{ACTIVE_KEY}", headers=admin),
            405,
        ),
        ("bad body", client.post("/api/system/connections", json={}, headers=admin), 422),
        (
            "null metadata value",
            client.post(
                f"/api/system/connections/{ACTIVE_KEY}/metadata",
                json=[{"key": "k", "value": None}],
                headers=admin,
            ),
            422,
        ),
        (
            "unknown sync scope",
            client.post(
                "/api/integrations/sync",
                json={"type": "incremental", "scopes": ["no_such_scope"]},
                headers=connection,
            ),
            422,
        ),
        (
            "per_page above the maximum",
            client.get("/api/system/connections", params={"per_page": 501}, headers=admin),
            422,
        ),
        (
            "malformed JSON",
            client.post(
                "/api/system/connections", content=b'{"name": ', headers={**admin, **as_json}
            ),
            400,
        ),
        (
            "oversized body",
            client.post("/api/system/connections", content=oversized, headers={**admin, **as_json}),
            413,
        ),
    ]
    codes = contract_error_codes()
    problems = []
    for what, response, status in provoked:
        if response.status_code != status:
            problems.append(f"{what}: {response.status_code}, not {status}: {response.text[:200]}")
            continue
        error = assert_error(response, status, response.json()["error"]["code"])
        code = error["code"]
        if code not in codes:
            problems.append(f"{what}: {code} is not in the contract's table")
            continue
        table_status, table_type = codes[code]
        if error["type"] != table_type:
            problems.append(f"{what}: {code} has type {error['type']}, not {table_type}")
        if status != table_status and not (
            status in UNTABLED_STATUSES and code == "INVALID_REQUEST"
        ):
            problems.append(f"{what}: {code} comes with {table_status}, not {status}")
    assert not problems, "\n".join(problems)


#: What a documented-only sandbox must not show: extensions, control, FastAPI's pages.
HIDDEN: tuple[tuple[str, str], ...] = (
    ("GET", "/sandbox/instance"),
    ("GET", "/sandbox/clock"),
    ("POST", "/sandbox/clock"),
    ("POST", "/sandbox/reset"),
    ("GET", "/sandbox/faults"),
    ("GET", "/api/system/capabilities"),
    ("GET", "/api/system/account"),
    ("GET", f"/api/system/connections/{ACTIVE_KEY}/status"),
    ("GET", f"/api/system/connections/{ACTIVE_KEY}/syncs"),
    ("POST", f"/api/system/connections/{ACTIVE_KEY}/syncs"),
    ("GET", f"/api/system/connections/{ACTIVE_KEY}/schedule"),
    ("GET", "/api/system/syncs/sync_1"),
    ("POST", "/api/system/syncs/sync_1/cancel"),
    ("DELETE", f"/api/system/connections/{ACTIVE_KEY}/metadata/customer_id"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
)


def test_no_extensions_hides_extensions_and_control(documented: Sandbox) -> None:
    problems = []
    for method, path in HIDDEN:
        # An admin token, and no X-Sandbox-Control header.
        response = documented.client.request(
            method, path, headers=documented.admin, json={} if method == "POST" else None
        )
        if response.status_code != 404:
            problems.append(f"{method} {path}: {response.status_code} {response.text[:150]}")
            continue
        assert_error(response, 404, "NOT_FOUND")
    assert not problems, "\n".join(problems)
