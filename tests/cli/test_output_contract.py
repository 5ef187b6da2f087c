"""stdout is a contract: on failure it holds valid JSON or nothing, and every JSON Lines
line printed is a complete object, even when the failure comes on the second page."""

from __future__ import annotations

import csv
import io
import json

import httpx

from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run


def more_than_a_page(sandbox: Sandbox) -> int:
    """Create connections until the list takes two pages of the client's 100."""
    headers = {"Authorization": f"Bearer {sandbox.admin_token()}"}
    sandbox.control("POST", "account", {"credits_total": 1000})
    with httpx.Client(base_url=sandbox.url, headers=headers) as http:
        for i in range(95):
            resp = http.post("/api/system/connections", json={
                "name": f"Line {i}", "email": f"line{i}@example.com", "provider": "upkeep",
                "credentials": {"api_token": "k"}})
            resp.raise_for_status()
        total = int(http.get("/api/system/connections").json()["meta"]["total"])
    assert total > 100
    return total


def test_a_failure_on_the_second_page_leaves_json_empty_and_jsonl_whole(
    sandbox: Sandbox,
) -> None:
    total = more_than_a_page(sandbox)
    assert len(run("connections", "list", env=sandbox.env).jsonl()) == total

    def fail_page_two() -> None:
        sandbox.control("POST", "faults", {"path_prefix": "/api/system/connections",
                                           "method": "GET", "status": 500, "skip": 1})

    fail_page_two()
    as_json = run("connections", "list", "-o", "json", env=sandbox.env)
    assert as_json.code == 5, as_json
    assert as_json.stdout == ""
    assert as_json.error()["http_status"] == 500

    fail_page_two()
    as_jsonl = run("connections", "list", "-o", "jsonl", env=sandbox.env)
    assert as_jsonl.code == 5, as_jsonl
    assert as_jsonl.stdout.endswith("\n")
    lines = as_jsonl.stdout.splitlines()
    assert len(lines) == 100
    assert all(isinstance(json.loads(line), dict) for line in lines)

    fail_page_two()
    as_csv = run("connections", "list", "-o", "csv", env=sandbox.env)
    assert as_csv.code == 5, as_csv
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 101 and len({len(row) for row in rows}) == 1


def test_a_failed_get_prints_nothing_on_stdout(shared_sandbox: Sandbox) -> None:
    for mode in ("json", "jsonl", "csv", "table"):
        result = run("connections", "get", "00000000000000", "-o", mode, env=shared_sandbox.env)
        assert result.code == 1 and result.stdout == "", result
