"""Connections against a served sandbox, driven the way a CI script drives it."""

from __future__ import annotations

import csv
import io
import json

from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run

#: A seeded connection with metadata (sandbox/seed.py): customer_id CUST-1001, region.
SEEDED = "10000482937115"


def test_list_filters_and_formats(shared_sandbox: Served) -> None:
    env = shared_sandbox.env
    everything = run("connections", "list", env=env).jsonl()
    assert len(everything) >= 8
    statuses = {row["status"] for row in everything}
    healths = {row["health"] for row in everything}
    assert {"active", "pending", "inactive"} <= statuses
    assert {"online", "offline", "reauth_required"} <= healths

    offline = run("connections", "list", "--health", "offline", env=env).jsonl()
    assert offline and all(r["health"] == "offline" for r in offline)
    active = run("connections", "list", "--status", "active", env=env).jsonl()
    assert active and all(r["status"] == "active" for r in active)
    # A connection whose system is down or refuses its credentials says so in its status.
    for status in ("offline", "reauth_required"):
        found = run("connections", "list", "--status", status, env=env)
        assert found.code == 0, found
        assert found.jsonl() and all(r["status"] == status for r in found.jsonl())
    assert run("connections", "list", "--status", "broken", env=env).code == 2

    as_json = run("-o", "json", "connections", "list", env=env)
    assert as_json.json() == everything
    after = run("connections", "list", "-o", "json", env=env)
    assert after.json() == everything

    as_csv = run("connections", "list", "--output", "csv", env=env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["key"] for r in rows] == [r["key"] for r in everything]

    table = run("connections", "list", "-o", "table", env=env)
    assert table.stdout.splitlines()[0].split()[:2] == ["KEY", "NAME"]
    assert "─" not in table.stdout

    limited = run("connections", "list", "--limit", "3", env=env).jsonl()
    assert limited == everything[:3]


def test_get_returns_every_field(shared_sandbox: Served) -> None:
    env = shared_sandbox.env
    first = run("connections", "list", "--limit", "1", env=env).jsonl()[0]
    got = run("connection", "get", first["key"], env=env)
    assert got.code == 0, got
    assert got.json() == first


def test_get_lists_scopes_and_metadata_while_json_keeps_the_servers_strings(
    shared_sandbox: Served,
) -> None:
    env = shared_sandbox.env
    row = next(r for r in run("connections", "list", env=env).jsonl() if r["key"] == SEEDED)
    # As Makini types them: a comma-separated string and a string of JSON.
    assert isinstance(row["scopes"], str) and isinstance(row["user_metadata"], str)
    as_json = run("connections", "get", SEEDED, "-o", "json", env=env).json()
    assert as_json["scopes"] == row["scopes"]
    assert as_json["user_metadata"] == row["user_metadata"]
    metadata = json.loads(row["user_metadata"])
    assert metadata["customer_id"] == "CUST-1001"

    detail = run("connections", "get", SEEDED, "-o", "table", env=env)
    assert detail.code == 0, detail
    lines = detail.stdout.splitlines()
    [scopes] = [ln for ln in lines if ln.startswith("scopes ")]
    assert scopes.split(None, 1)[1] == ", ".join(row["scopes"].split(","))
    at = lines.index("user metadata")
    entries = dict(ln.split() for ln in lines[at + 1 : at + 1 + len(metadata)])
    assert entries == metadata  # each entry on its own row, names as written
    on_tty = run("connections", "get", SEEDED, env=env, tty=True, columns=120)
    assert "customer_id" in on_tty.stdout and "user_metadata" not in on_tty.stdout


def test_not_found_is_exit_1_with_code_and_request_id(shared_sandbox: Served) -> None:
    result = run("connections", "get", "00000000000000", env=shared_sandbox.env)
    assert result.code == 1, result
    assert "[NOT_FOUND]" in result.stderr
    assert "(request req_" in result.stderr.strip().splitlines()[-1]
    assert result.stderr.strip().endswith(")")
    as_json = run("-o", "json", "connections", "get", "00000000000000", env=shared_sandbox.env)
    err = as_json.error()
    assert err["code"] == "NOT_FOUND" and err["exit_code"] == 1 and err["http_status"] == 404
    assert err["request_id"].startswith("req_")


def test_status_per_key_and_for_all(shared_sandbox: Served) -> None:
    env = shared_sandbox.env
    rows = run("connections", "list", env=env).jsonl()
    offline = next(r for r in rows if r["health"] == "offline")
    one = run("connections", "status", offline["key"], "-o", "json", env=env)
    assert one.code == 0, one
    status = one.json()
    assert status if isinstance(status, list) else [status]
    doc = status[0] if isinstance(status, list) else status
    assert doc["key"] == offline["key"] and doc["health"] == "offline"
    every = run("connections", "status", env=env).jsonl()
    assert {r["key"] for r in every} == {r["key"] for r in rows}


def test_create_token_and_delete_with_credits(sandbox: Served) -> None:
    env = sandbox.env
    created = run(
        "connections",
        "create",
        "--name",
        "Line 4 UpKeep",
        "--email",
        "ops@example.com",
        "--platform",
        "upkeep",
        "--credential",
        "region=eu",
        "--credentials-file",
        "-",
        input=json.dumps({"api_token": "hunter2"}),
        env=env,
    )
    assert created.code == 0, created
    doc = created.json()
    key = doc["key"]
    assert "access_token" not in created.stdout and "hunter2" not in created.stdout + created.stderr

    got = run("connections", "get", key, env=env).json()
    assert got["name"] == "Line 4 UpKeep" and got["platform"] == "upkeep"

    token = run("connections", "token", key, env=env)
    assert token.code == 0, token
    assert len(token.stdout.strip()) > 10

    refused = run("connections", "delete", key, env=env)
    assert refused.code == 6, refused
    assert "--yes" in refused.stderr
    assert run("connections", "get", key, env=env).code == 0

    deleted = run("connections", "delete", key, "--yes", env=env)
    assert deleted.code == 0, deleted
    assert run("connections", "get", key, env=env).code == 1


def test_create_validation_and_credits(sandbox: Served) -> None:
    env = sandbox.env
    bad = run(
        "connections",
        "create",
        "--name",
        "x",
        "--email",
        "x@example.com",
        "--platform",
        "no-such-platform",
        env=env,
    )
    assert bad.code == 1, bad
    assert "VALIDATION_FAILED" in bad.stderr
    # Keep creating the priciest platform until the account runs out of credits: the
    # connection is created all the same, `inactive` (trial plan), and cannot sync.
    inactive = None
    for i in range(40):
        r = run(
            "connections",
            "create",
            "--name",
            f"SAP {i}",
            "--email",
            "sap@example.com",
            "--platform",
            "sap-ecc",
            "--credential",
            "api=https://sap.example",
            "--credential",
            "login=svc",
            "--credentials-file",
            "-",
            input='{"password": "pw"}',
            env=env,
        )
        assert r.code == 0, r
        key = r.json()["key"]
        if run("connections", "get", key, env=env).json()["status"] == "inactive":
            inactive = key
            break
    assert inactive is not None
    refused = run("sync", "run", inactive, env=env)
    assert refused.code == 1, refused
    assert "INSUFFICIENT_CREDITS" in refused.stderr


def test_metadata_set_and_unset(sandbox: Served) -> None:
    env = sandbox.env
    key = SEEDED
    assert run("connections", "metadata", "get", key, env=env).json() == {
        "customer_id": "CUST-1001",
        "region": "eu-west",
    }
    out = run("connections", "metadata", "set", key, "site=north", "tier=gold", env=env)
    assert out.code == 0, out
    assert out.json() == {
        "customer_id": "CUST-1001",
        "region": "eu-west",
        "site": "north",
        "tier": "gold",
    }
    # The connection shows it too, as Makini does: a string of JSON.
    conn = run("connections", "get", key, "-o", "json", env=env).json()
    assert json.loads(conn["user_metadata"])["tier"] == "gold"
    out = run("connections", "metadata", "set", key, "--unset", "tier", env=env)
    assert out.code == 0, out
    assert "tier" not in out.json() and out.json()["site"] == "north"
    gone = run("connections", "metadata", "set", key, "--unset", "tier", env=env)
    assert gone.code == 1 and "NOT_FOUND" in gone.stderr
    table = run("connections", "metadata", "get", key, "-o", "table", env=env)
    assert table.stdout.splitlines()[0].split() == ["KEY", "VALUE"]
    assert ["site", "north"] in [ln.split() for ln in table.stdout.splitlines()]
    as_jsonl = run("connections", "metadata", "get", key, "-o", "jsonl", env=env)
    assert as_jsonl.jsonl() == [out.json()]
    bad = run("connections", "metadata", "set", key, "novalue", env=env)
    assert bad.code == 2, bad
    both = run("connections", "metadata", "set", key, "a=1", "--unset", "a", env=env)
    assert both.code == 2, both


def test_wrong_token_is_exit_4(shared_sandbox: Served) -> None:
    result = run(
        "connections",
        "list",
        env={"MAKINI_BASE_URL": shared_sandbox.url, "MAKINI_TOKEN": "not-a-real-token"},
    )
    assert result.code == 4, result
    assert "AUTHENTICATION_FAILED" in result.stderr
    wrong_secret = dict(shared_sandbox.env, MAKINI_CLIENT_SECRET="wrong")
    result = run("connections", "list", env=wrong_secret)
    assert result.code == 4, result
    assert "wrong" not in result.stderr


def test_usage_errors_are_exit_2(shared_sandbox: Served) -> None:
    result = run("connections", "list", "--bogus", env=shared_sandbox.env)
    assert result.code == 2, result
    assert "--bogus" in result.stderr and "--help" in result.stderr
    assert run("connections", "list", "--limit", "0", env=shared_sandbox.env).code == 2
    assert run("-o", "yaml", "connections", "list", env=shared_sandbox.env).code == 2


def test_idempotent_create_replays_and_a_reused_key_conflicts(sandbox: Served) -> None:
    env = sandbox.env
    args = [
        "connections",
        "create",
        "--name",
        "Press shop",
        "--email",
        "a@example.com",
        "--platform",
        "upkeep",
        "--credentials-file",
        "-",
        "--idempotency-key",
        "op-42",
    ]
    first = run(*args, input='{"api_token": "t1"}', env=env)
    assert first.code == 0, first
    again = run(*args, input='{"api_token": "t1"}', env=env)
    assert again.code == 0, again
    assert again.json()["key"] == first.json()["key"]
    names = [r["name"] for r in run("connections", "list", env=env).jsonl()]
    assert names.count("Press shop") == 1
    different = run(*args, input='{"api_token": "t2"}', env=env)
    assert different.code == 7, different
    assert "IDEMPOTENCY_KEY_REUSED" in different.stderr
