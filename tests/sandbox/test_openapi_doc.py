"""The sandbox's own OpenAPI document (GET /openapi.json, served with extensions).

Its answers are checked against it in test_conformance.py (every documented call) and
test_fuzz.py (generated calls); here, what the document itself declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from makini_cli.sandbox.app import create_app
from makini_cli.sandbox.openapi_doc import ERROR_STATUSES, response_schemas
from makini_cli.sandbox.settings import SandboxSettings

from . import openapi_check as oc

METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})
#: The contract's error table has a line for each (api-contract.md §3).
REQUIRED_ERROR_STATUSES = {400, 401, 403, 404, 422, 429, 500, 503}


@pytest.fixture
def doc(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def test_doc_declares_the_bearer_scheme_on_every_call_but_the_token_endpoint(
    doc: dict[str, Any],
) -> None:
    # As Makini's files declare it.
    makini = oc.load_spec("system")["components"]["securitySchemes"]["bearerAuth"]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == makini
    for method, path, operation in _operations(doc):
        if path == "/link/token":
            assert "security" not in operation, path
        else:
            assert path.startswith(("/api/", "/sandbox/")), path
            assert operation.get("security") == [{"bearerAuth": []}], f"{method} {path}"


def test_doc_declares_the_error_envelope_not_fastapis(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert "HTTPValidationError" not in json.dumps(doc)
    envelope = schemas["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    assert set(envelope["properties"]["error"]["required"]) == {
        "code",
        "type",
        "message",
        "request_id",
        "details",
    }
    assert set(ERROR_STATUSES) >= REQUIRED_ERROR_STATUSES
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for method, path, operation in _operations(doc):
        for status in REQUIRED_ERROR_STATUSES:
            response = operation["responses"].get(str(status))
            assert response is not None, f"{method} {path} lacks {status}"
            assert response["content"]["application/json"]["schema"] == ref


def test_a_real_error_answer_fits_the_declared_envelope(
    doc: dict[str, Any], client: httpx.Client
) -> None:
    check = jsonschema_rs.validator_for(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/components/schemas/ErrorEnvelope",
            "components": doc["components"],
        }
    )
    for response in (
        client.get("/api/system/connections"),
        client.post("/link/token", json={"grant_type": "client_credentials"}),
        client.post("/link/token", content=b"{", headers={"Content-Type": "application/json"}),
    ):
        assert response.status_code >= 400
        assert oc.schema_errors(check, response.json()) == [], response.text


def test_doc_paths_are_makinis_path_strings(doc: dict[str, Any]) -> None:
    documented = {(op.method, op.path) for op in oc.operations(oc.load_spec("system"))}
    served = {(method, path) for method, path, _ in _operations(doc)}
    missing = sorted((documented | oc.UNLISTED_OPERATIONS) - served)
    assert not missing, f"not in the sandbox's document under Makini's path: {missing}"


def test_doc_declares_the_answer_of_each_documented_call(doc: dict[str, Any]) -> None:
    declared = response_schemas(extensions=True)
    documented = {(op.method, op.path) for op in oc.operations(oc.load_spec("system"))}
    assert documented | oc.UNLISTED_OPERATIONS <= set(declared)
    problems = []
    for (method, path), schema in declared.items():
        operation = doc["paths"].get(path, {}).get(method.lower())
        if operation is None:
            problems.append(f"{method} {path}: no such operation (a stale key?)")
            continue
        answers = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        if len(answers) != 1:
            problems.append(f"{method} {path}: answers {sorted(answers)}")
            continue
        (answer,) = answers.values()
        if answer.get("content", {}).get("application/json", {}).get("schema") != schema:
            problems.append(f"{method} {path}: its answer's schema is not the declared one")
    assert not problems, "\n".join(problems)


def test_doc_schemas_are_valid_json_schema(doc: dict[str, Any]) -> None:
    for name, schema in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_documented_only_doc_declares_no_extension_fields(tmp_path: Path) -> None:
    """Not served without extensions, but built (and fuzzed): its objects are closed and
    carry only documented fields."""
    app = create_app(SandboxSettings(data_dir=tmp_path / "documented", extensions=False))
    try:
        doc = app.openapi()
    finally:
        app.state.runtime.store.close()
    schemas = doc["components"]["schemas"]
    makini = oc.load_spec("system")["components"]["schemas"]
    assert set(schemas["Connection"]["properties"]) == set(makini["Connection"]["properties"])
    assert set(schemas["ConnectionStore"]["properties"]) == set(
        makini["ConnectionStore"]["properties"]
    )
    assert schemas["Connection"]["additionalProperties"] is False
    assert "id" not in schemas["SyncStarted"]["properties"]
