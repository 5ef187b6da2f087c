"""Against a server with Makini's documented calls only, as Makini is today: every
command either works through the documented calls, with the exit codes it has against a
server with extensions, or fails with exit 1 naming the capability it lacks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run

#: Seeded connections (sandbox/seed.py) in the states the tests need.
ACTIVE = "10000715260448"
OFFLINE = "10000593048226"
REAUTH = "10000826371559"
PENDING = "10000937482660"
INACTIVE = "10001159604882"


def missing(result: object, capability: str) -> None:
    """Exit 1, naming the capability, never a bare 404."""
    assert getattr(result, "code", None) == 1, result
    stderr = str(getattr(result, "stderr", ""))
    assert f"capability {capability!r}" in stderr, result
    # A port number may hold the digits: look for 404 as a word of its own.
    assert not re.search(r"(?<![\d:])404(?!\d)", stderr), result


def test_documented_calls_work_and_the_rest_names_the_capability(
    sandbox_factory: Callable[..., Served],
) -> None:
    served = sandbox_factory("--no-extensions")
    env = served.env
    listed = run("connections", "list", env=env)
    assert listed.code == 0, listed
    rows = listed.jsonl()
    assert len(rows) >= 8
    # Only the documented fields, as Makini types them.
    assert "health" not in rows[0] and "platform" not in rows[0]
    assert isinstance(rows[0]["scopes"], str) and isinstance(rows[0]["user_metadata"], str)
    statuses = {r["key"]: r["status"] for r in rows}
    assert statuses[OFFLINE] == "offline" and statuses[REAUTH] == "reauth_required"

    # The server ignores filter[...] (Makini declares none): the CLI filters itself.
    active = run("connections", "list", "--status", "active", env=env)
    assert active.code == 0, active
    assert active.jsonl() == [r for r in rows if r["status"] == "active"]
    first_two = run("connections", "list", "--status", "active", "--limit", "2", env=env)
    assert first_two.jsonl() == active.jsonl()[:2]
    assert run("connections", "list", "--status", "overage", env=env).jsonl() == []

    # No single-connection GET is documented: the client walks the documented list.
    got = run("connections", "get", rows[2]["key"], env=env)
    assert got.code == 0, got
    assert got.json() == rows[2]
    absent = run("connections", "get", "00000000000000", env=env)
    assert absent.code == 1 and "NOT_FOUND" in absent.stderr

    token = run("connections", "token", ACTIVE, env=env)
    assert token.code == 0, token
    assert token.stdout.startswith("eyJ0eXAiOiJKV1Qi")  # a JWT access token
    assert run("connections", "token", ACTIVE, "-o", "json", env=env).json()["expires_at"]

    # Status from the documented list: what Makini says of a connection's state, no more.
    names = {r["key"]: r["name"] for r in rows}
    one = run("connections", "status", ACTIVE, "-o", "json", env=env)
    assert one.code == 0, one
    assert [{k: v for k, v in o.items() if v is not None} for o in one.json()] == [
        {"key": ACTIVE, "name": names[ACTIVE], "status": "active"}
    ]
    every = run("connections", "status", "-o", "json", env=env)
    assert every.code == 0 and len(every.json()) == len(rows)
    waiting = run("connections", "status", ACTIVE, "--until", "health=online", env=env)
    missing(waiting, "status")
    missing(run("connections", "list", "--health", "offline", env=env), "status")


def test_create_metadata_and_delete_through_the_documented_calls(
    sandbox_factory: Callable[..., Served],
) -> None:
    env = sandbox_factory("--no-extensions").env
    created = run(
        "connections",
        "create",
        "--name",
        "Line 9",
        "--email",
        "ops@example.com",
        "--platform",
        "upkeep",
        "--credentials-file",
        "-",
        input='{"api_token": "t0ps3cret"}',
        env=env,
    )
    assert created.code == 0, created
    # Makini's answer holds no key: the CLI learns it with the new connection's token.
    key = created.json()["key"]
    assert "access_token" not in created.stdout and "t0ps3cret" not in created.stdout
    assert f"created connection {key}" in created.stderr
    assert run("connections", "get", key, env=env).json()["name"] == "Line 9"

    assert run("connections", "metadata", "get", key, env=env).json() == {}
    set_ = run("connections", "metadata", "set", key, "site=north", "line=9", env=env)
    assert set_.code == 0, set_
    assert set_.json() == {"site": "north", "line": "9"}
    assert run("connections", "metadata", "get", key, env=env).json() == set_.json()
    row = run("connections", "get", key, env=env).json()
    assert json.loads(row["user_metadata"]) == set_.json()
    table = run("connections", "metadata", "get", key, "-o", "table", env=env)
    assert ["site", "north"] in [line.split() for line in table.stdout.splitlines()]

    # Makini documents no way to remove an entry: refused before anything is written.
    missing(
        run("connections", "metadata", "set", key, "more=1", "--unset", "line", env=env),
        "metadata_delete",
    )
    assert run("connections", "metadata", "get", key, env=env).json() == set_.json()

    assert run("connections", "delete", key, env=env).code == 6  # --yes is needed here
    deleted = run("connections", "delete", key, "--yes", env=env)
    assert deleted.code == 0, deleted
    assert run("connections", "get", key, env=env).code == 1
    assert run("connections", "metadata", "get", key, env=env).code == 1


def test_syncs_run_through_the_documented_calls_with_the_same_exit_codes(
    sandbox_factory: Callable[..., Served],
) -> None:
    env = sandbox_factory("--no-extensions", "--clock-speed", "60").env
    ok = run("sync", "run", ACTIVE, "--scope", "work-orders", env=env)
    assert ok.code == 0, ok
    outcome = ok.json()
    assert outcome["outcome"] == "succeeded" and outcome["sync"]["status"] == "succeeded"
    assert outcome["sync"]["scopes"] == ["work_orders"]  # as sent: Makini's name

    started = run("sync", "run", ACTIVE, "--full", "--no-wait", env=env)
    assert started.code == 0, started
    assert started.json()["outcome"] == "started"
    again = run("sync", "run", ACTIVE, env=env)
    assert again.code == 7, again
    assert again.json()["error"]["code"] == "SYNC_ALREADY_RUNNING"
    waited = run("sync", "run", ACTIVE, "--if-running", "wait", env=env)
    assert waited.code == 0, waited
    assert waited.json()["sync"]["status"] == "succeeded"

    # On this fast clock the offline system's automatic retries come every few seconds:
    # `--if-running wait` follows one of those, or starts a sync; either way it fails.
    failed = run("sync", "run", REAUTH, "--if-running", "wait", env=env)
    assert failed.code == 10, failed
    assert "REAUTHORIZATION_REQUIRED" in failed.stderr
    broke = run("sync", "run", OFFLINE, "--if-running", "wait", env=env)
    assert broke.code == 10, broke
    refused = run("sync", "run", INACTIVE, env=env)
    assert refused.code == 1 and "INSUFFICIENT_CREDITS" in refused.stderr, refused

    # --all picks the connections that can sync from the documented list, by status.
    every = run("sync", "run", "--all", "--if-running", "wait", "-o", "jsonl", env=env)
    assert every.code == 10, every
    by_key = {line["connection_key"]: line["outcome"] for line in every.jsonl()}
    assert PENDING not in by_key and INACTIVE not in by_key
    assert by_key[ACTIVE] == "succeeded" and by_key[REAUTH] == by_key[OFFLINE] == "failed"
    assert "skipping 2 connection(s) that cannot sync now: 1 inactive, 1 pending" in every.stderr

    missing(run("sync", "list", ACTIVE, env=env), "syncs")
    missing(run("sync", "get", "sync_0123", env=env), "syncs")
    missing(run("sync", "watch", "sync_0123", env=env), "syncs")
    missing(run("sync", "cancel", "sync_0123", env=env), "syncs")
    missing(run("sync", "schedule", "get", ACTIVE, env=env), "schedules")
    missing(run("sync", "schedule", "set", ACTIVE, "--every", "1h", env=env), "schedules")


def test_sandbox_commands_steer_a_documented_only_sandbox_with_its_control_token(
    sandbox_factory: Callable[..., Served],
) -> None:
    served = sandbox_factory("--no-extensions")
    outage = ("sandbox", "outage", ACTIVE, "--for", "30m")
    # Its control routes exist only for a holder of the data dir's token: without it the
    # server looks like Makini, which has none.
    hidden = run(*outage, env=served.env)
    assert hidden.code == 1, hidden
    assert "NOT_FOUND" in hidden.stderr and "is it a sandbox?" in hidden.stderr
    env = {**served.env, "MAKINI_SANDBOX_DIR": str(served.data_dir)}
    steered = run(*outage, env=env)
    assert steered.code == 0, steered
    assert steered.json()["health"] == "offline"
    # Seen through the documented list, the connection's status says it too.
    listed = {row["key"]: row for row in run("connections", "list", env=env).jsonl()}
    assert listed[ACTIVE]["status"] == "offline"
    assert "health" not in listed[ACTIVE]
    assert run("sandbox", "outage", ACTIVE, "--end", env=env).code == 0
