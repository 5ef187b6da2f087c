"""Fuzz the sandbox's own OpenAPI document with schemathesis: no input may make it fail,
and every answer must be one the document declares (status, content type, schema).

Runs the schemathesis CLI (a fixed seed, so a failure reproduces) against a served
sandbox, with and without extensions. Without extensions the sandbox serves no document
(Makini serves none), so the one its app builds is written to a file and fuzzed.

Calls that take a connection token get one (the others, the admin token), and a
connection's `{id}` is a seeded key, so generated requests reach real answers rather
than 403 and 404. Left out, none because it fails:
- `/sandbox/reset`: resetting mid-run would hide state bugs behind a fresh seed;
- `/sandbox/faults` and `/sandbox/connections/{key}/outage`: an armed fault or an outage
  makes later calls fail on purpose (a 500, an HTML page, a 503);
- `/sandbox/clock`: a jump of years expires both tokens, and every later call gets 401;
- `DELETE /api/integrations/current`: it would delete the connection whose token the
  other calls use (test_conformance.py checks its answer);
- without extensions, `/sandbox/*`: hidden without the control token, all 404.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox.app import create_app
from makini_cli.sandbox.settings import SandboxSettings

from .conftest import ACTIVE_KEY, bearer, connection_token, token_pair

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
#: A seeded online connection, other than the one whose token the fuzz uses: the fuzz
#: may delete it.
FUZZED_KEY = "10000715260448"
CONNECTION_TOKEN_PATHS = "^/api/(integrations|raw|passthrough|eam|erp|wms)(/|$)"


def _built_document(data_dir: Path, *, extensions: bool) -> dict[str, Any]:
    app = create_app(SandboxSettings(data_dir=data_dir, extensions=extensions))
    try:
        document: dict[str, Any] = app.openapi()
    finally:
        app.state.runtime.store.close()
    return document


def _config(connection: str, table: str) -> str:
    """schemathesis.toml: per-operation token and path parameters (TOML via JSON strings)."""

    def toml(value: str) -> str:
        return json.dumps(value)

    return "\n".join(
        [
            "[[operations]]",
            f"include-path-regex = {toml(CONNECTION_TOKEN_PATHS)}",
            f"headers = {{ Authorization = {toml(f'Bearer {connection}')} }}",
            "",
            "[[operations]]",
            'include-path = "/api/integrations/current"',
            'include-method = "DELETE"',
            "enabled = false",
            "",
            "[[operations]]",
            f"include-path-regex = {toml('^/api/system/connections/[{]')}",
            f'parameters = {{ "path.id" = {toml(FUZZED_KEY)}, "path.key" = {toml(FUZZED_KEY)} }}',
            "",
            "[[operations]]",
            'include-path = "/api/raw/tables/{table}/data"',
            f'parameters = {{ "path.table" = {toml(table)} }}',
            "",
        ]
    )


@pytest.mark.timeout(300)  # about 120 operations; slow on a loaded 2-core machine
@pytest.mark.parametrize("extensions", [True, False])
def test_generated_requests_get_declared_answers(
    make_sandbox: Callable[..., httpx.Client], extensions: bool, tmp_path: Path
) -> None:
    client: Any = make_sandbox(
        "fuzz", embedded=False, rate_limit_per_minute=1_000_000, extensions=extensions
    )
    admin = token_pair(client)["access_token"]
    connection = connection_token(client, bearer(admin), ACTIVE_KEY)
    tables = client.get("/api/raw/tables", headers=connection)
    assert tables.status_code == 200, tables.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        _config(
            connection["Authorization"].removeprefix("Bearer "), tables.json()["data"][0]["name"]
        )
    )
    base_url = str(client.base_url)
    if extensions:
        location = [f"{base_url}/openapi.json"]
        excluded = "^/sandbox/(reset|faults|clock|connections/[^/]+/outage)"
    else:
        assert client.get("/openapi.json").status_code == 404
        document = tmp_path / "openapi.json"
        built = _built_document(tmp_path / "built", extensions=False)
        document.write_text(json.dumps(built))
        location = [str(document), "--url", base_url]
        excluded = "^/sandbox/"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            *location,
            "--checks",
            ",".join(CHECKS),
            "--header",
            f"Authorization: Bearer {admin}",
            "--max-examples",
            "25",
            "--seed",
            "20261129",
            "--exclude-path-regex",
            excluded,
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # schemathesis keeps a cache in the working directory: not in the repository.
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
    # The tokens reached their calls: had they not, everything would be 401/403.
    assert "Authentication failed" not in proc.stdout, proc.stdout[-3000:]
