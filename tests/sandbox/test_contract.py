"""The sandbox against Makini's published system OpenAPI file (read from ../shared)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import ACTIVE_KEY, SHARED, all_pages, connection_token

SYSTEM_SPEC = SHARED / "makini-openapi" / "oas3_system.json"
OTHER_KEY = "10000715260448"
# The calls a connection token makes; the rest take the admin token.
CONNECTION_PATHS = ("/api/integrations/", "/api/raw/", "/api/passthrough")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SYSTEM_SPEC.is_file():
        pytest.fail(f"Makini's OpenAPI file is missing: {SYSTEM_SPEC}")
    document: dict[str, Any] = json.loads(SYSTEM_SPEC.read_text())
    return document


def _documented_operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    ]


def test_every_connection_carries_every_documented_property(
    spec: dict[str, Any], client: httpx.Client, admin: dict[str, str]
) -> None:
    documented = list(spec["components"]["schemas"]["Connection"]["properties"])
    assert "key" in documented and "user_metadata" in documented
    for connection in all_pages(client, "/api/system/connections", admin):
        assert set(documented) <= set(connection), set(documented) - set(connection)
        # Documented fields come first, in the documented set, then the extensions.
        assert set(list(connection)[: len(documented)]) == set(documented)
        for extension in ("platform", "health", "credits", "last_sync_at"):
            assert extension in connection


def test_client_and_integration_carry_every_documented_property(
    spec: dict[str, Any], client: httpx.Client, admin: dict[str, str]
) -> None:
    schemas = spec["components"]["schemas"]
    client_record = client.get("/api/system/client", headers=admin).json()["data"]
    assert set(schemas["Client"]["properties"]) <= set(client_record)
    connection = connection_token(client, admin, ACTIVE_KEY)
    integration = client.get("/api/integrations/current", headers=connection).json()["data"]
    assert set(schemas["Integration"]["properties"]) <= set(integration)


def test_every_documented_operation_is_routed(spec: dict[str, Any], client: httpx.Client) -> None:
    served = client.get("/openapi.json").json()["paths"]
    for method, path in _documented_operations(spec):
        # Path parameters are named as in Makini's reference, so the strings match.
        assert path in served, f"{method} {path} is not served"
        assert method.lower() in served[path], f"{method} {path} is not served"


def test_every_documented_operation_answers(
    spec: dict[str, Any], client: httpx.Client, admin: dict[str, str]
) -> None:
    # Another connection's token: DELETE /api/integrations/current disconnects it.
    connection = connection_token(client, admin, OTHER_KEY)
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/system/connections"): {
            "name": "Inextia",
            "email": "hey@makini.io",
            "provider": "inextia",
            "credentials": {"api": "https://sample.inextia.dk", "login": "l", "password": "p"},
        },
        ("POST", "/api/system/connections/{id}/metadata"): [{"key": "uc_first", "value": "v"}],
        ("POST", "/api/passthrough"): {"path": "tables/work_orders", "method": "get"},
    }
    # Deletions last, so the other calls still find the connection.
    operations = sorted(_documented_operations(spec), key=lambda op: op[0] == "DELETE")
    for method, path in operations:
        headers = connection if path.startswith(CONNECTION_PATHS) else admin
        # The other connection is an UpKeep one: a simple cloud CMMS's tables.
        url = path.replace("{id}", ACTIVE_KEY).replace("{table}", "work_orders")
        body = bodies.get((method, path))
        response = client.request(
            method, url, headers=headers, json=body if body is not None else None
        )
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"


def test_every_served_unified_operation_is_makinis(client: httpx.Client) -> None:
    """The unified-data operations the sandbox serves are operations of Makini's files
    (eam, erp, wms), at their path strings; only the (ext) custom-field lists of the
    other entities and the catch-all that answers the rest with a 404 are not."""
    documented = set()
    for name in ("eam", "erp", "wms"):
        spec = json.loads((SHARED / "makini-openapi" / f"oas3_{name}.json").read_text())
        documented |= {
            (method.upper(), path)
            for path, operations in spec["paths"].items()
            for method in operations
        }
    served = client.get("/openapi.json").json()["paths"]
    unified = [
        (method.upper(), path)
        for path, operations in served.items()
        if path.startswith(("/api/eam/", "/api/erp/", "/api/wms/"))
        for method in operations
    ]
    assert ("POST", "/api/eam/work-orders") in unified
    extra = [
        op
        for op in unified
        if op not in documented
        and not op[1].endswith("/custom-fields")
        and not op[1].endswith("/{path}")
    ]
    assert not extra, extra
