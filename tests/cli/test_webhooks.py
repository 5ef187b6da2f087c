"""`makini webhooks` against a served sandbox, driven as a user or a CI script drives it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import typer

from makini_cli import completion
from makini_cli.main import app
from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run

SCOPE = completion.scope("sandbox", "sandbox")


def closed_port_url() -> str:
    """A loopback URL nothing listens on: deliveries there fail fast and are retried."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def create(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run("webhooks", "create", "--url", closed_port_url(), *args, env=env)
    assert result.code == 0, result
    doc: dict[str, Any] = result.json()
    return doc


def test_create_list_get_update_and_delete(sandbox: Served) -> None:
    env = sandbox.env
    key = sandbox.connections()[0]["key"]
    made = create(
        env,
        "--event",
        "sync.failed",
        "--event",
        "sync.failed",
        "--event",
        "work_orders.updated",
        "--connection",
        key,
    )
    hook_id = str(made["id"])
    assert hook_id.startswith("wh_") and str(made["secret"]).startswith("whsec_")
    assert made["events"] == ["sync.failed", "work_orders.updated"]
    assert made["connection_keys"] == [key] and made["enabled"] is True

    listed = run("webhooks", "list", env=env)
    assert listed.code == 0, listed
    assert [row["id"] for row in listed.jsonl()] == [hook_id]
    got = run("webhook", "get", hook_id, env=env)  # the singular alias
    assert got.code == 0, got
    assert got.json() == listed.jsonl()[0]
    # The secret was shown once, by create: nothing else prints it.
    assert "secret" not in got.json() and made["secret"] not in listed.stdout + got.stdout

    off = run("webhooks", "update", hook_id, "--disable", "--all-events", env=env)
    assert off.code == 0, off
    assert off.json()["enabled"] is False and off.json()["events"] == []
    assert off.json()["connection_keys"] == [key]  # untouched
    on = run(
        "webhooks",
        "update",
        hook_id,
        "--enable",
        "--all-connections",
        "--event",
        "ping",
        "--url",
        "https://example.com/new",
        env=env,
    ).json()
    assert on["enabled"] is True and on["connection_keys"] == [] and on["events"] == ["ping"]
    assert on["url"] == "https://example.com/new"

    refused = run("webhooks", "delete", hook_id, env=env)
    assert refused.code == 6, refused
    assert "--yes" in refused.stderr
    assert run("webhooks", "get", hook_id, env=env).code == 0
    deleted = run("webhooks", "delete", hook_id, "--yes", env=env)
    assert deleted.code == 0, deleted
    assert deleted.stdout == "" and f"deleted webhook {hook_id}" in deleted.stderr
    gone = run("webhooks", "get", hook_id, "-o", "json", env=env)
    assert gone.code == 1, gone
    assert gone.error()["code"] == "NOT_FOUND" and gone.error()["http_status"] == 404


def test_the_secret_is_shown_once_alone_on_its_line_on_a_terminal(sandbox: Served) -> None:
    env = sandbox.env
    made = run(
        "webhooks", "create", "--url", "https://example.com/hooks", env=env, tty=True, columns=100
    )
    assert made.code == 0, made
    lines = made.stdout.rstrip("\n").splitlines()
    secret = lines[-1]
    assert secret.startswith("whsec_") and secret.strip() == secret
    assert not [line for line in lines[:-1] if "whsec_" in line or line.startswith("secret")]
    assert "will not be shown again" in made.stderr
    hook_id = next(line.split()[1] for line in lines if line.startswith("id "))

    # Asked first on a terminal; refused without one (or --yes).
    declined = run("webhooks", "rotate-secret", hook_id, env=env, tty=True, input="n\n")
    assert declined.code == 6, declined
    assert run("webhooks", "rotate-secret", hook_id, env=env).code == 6
    rotated = run("webhooks", "rotate-secret", hook_id, env=env, tty=True, input="y\n")
    assert rotated.code == 0, rotated
    new_secret = rotated.stdout.rstrip("\n").splitlines()[-1]
    assert new_secret.startswith("whsec_") and new_secret != secret
    as_json = run("webhooks", "rotate-secret", hook_id, "--yes", "-o", "json", env=env)
    assert as_json.code == 0, as_json
    assert as_json.json()["secret"] not in (secret, new_secret)
    # --debug traces every exchange, and redacts: the secret never reaches stderr.
    traced = run("--debug", "webhooks", "rotate-secret", hook_id, "--yes", env=env)
    assert traced.code == 0 and "debug:" in traced.stderr
    assert traced.json()["secret"] not in traced.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ("webhooks", "create", "--url", "https://example.com/h", "--event", "sync.done"),
        ("webhooks", "update", "wh_1", "--event", "SYNC.FAILED"),
        ("webhooks", "test", "wh_1", "--event", "pong"),
        ("events", "tail", "--event", "work_orders.deleted"),
    ],
)
def test_event_names_are_checked_before_anything_is_sent(argv: tuple[str, ...]) -> None:
    # No server is configured or started: exit 2 comes before any request.
    result = run(*argv, env={"MAKINI_BASE_URL": "http://127.0.0.1:9"})
    assert result.code == 2, result
    assert "'sync.completed'" in result.stderr and "'work_orders.updated'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [
        ("webhooks", "create", "--url", "ftp://example.com/h"),
        ("webhooks", "create", "--url", "example.com/hooks"),
        ("webhooks", "create", "--url", "https://"),
        ("webhooks", "update", "wh_1"),
        ("webhooks", "update", "wh_1", "--event", "ping", "--all-events"),
        ("webhooks", "update", "wh_1", "--connection", "k", "--all-connections"),
        ("webhooks", "update", "wh_1", "--url", "mailto:ops@example.com"),
        ("webhooks", "deliveries", "wh_1", "--status", "done"),
        ("webhooks", "deliveries", "wh_1", "--limit", "0"),
    ],
)
def test_usage_errors_are_exit_2_before_any_request(argv: tuple[str, ...]) -> None:
    result = run(*argv, env={"MAKINI_BASE_URL": "http://127.0.0.1:9"})
    assert result.code == 2, result
    assert result.stdout == ""


def test_test_deliveries_and_retry(sandbox: Served) -> None:
    env = sandbox.env
    hook_id = str(create(env)["id"])
    sent = run("webhooks", "test", hook_id, env=env)
    assert sent.code == 0, sent
    delivery = sent.json()
    assert delivery["id"].startswith("dlv_") and delivery["webhook_id"] == hook_id
    assert delivery["event"] == "ping" and delivery["status"] in ("pending", "succeeded", "failed")
    assert f"delivery {delivery['id']}" in sent.stderr
    other = run("webhooks", "test", hook_id, "--event", "sync.failed", env=env).json()
    assert other["event"] == "sync.failed"

    listed = run("webhooks", "deliveries", hook_id, env=env)
    assert listed.code == 0, listed
    rows = listed.jsonl()
    assert [row["id"] for row in rows] == [other["id"], delivery["id"]]  # newest first
    assert all(isinstance(row["attempts"], list) for row in rows)
    assert run("webhooks", "deliveries", hook_id, "--limit", "1", env=env).jsonl() == rows[:1]
    for status in ("pending", "succeeded", "failed"):
        only = run("webhooks", "deliveries", hook_id, "--status", status, env=env)
        assert only.code == 0, only
        assert all(row["status"] == status for row in only.jsonl())

    table = run("webhooks", "deliveries", hook_id, env=env, tty=True, columns=120)
    assert table.code == 0, table
    header = table.stdout.splitlines()[0].split()
    assert header[:3] == ["ID", "EVENT", "STATUS"] and "ATTEMPTS" in header
    assert delivery["id"] in table.stdout  # whole
    narrow = run("webhooks", "deliveries", hook_id, env=env, tty=True, columns=40)
    assert delivery["id"] in narrow.stdout
    assert all(len(line) <= 40 for line in narrow.stdout.splitlines())
    as_csv = run("webhooks", "deliveries", hook_id, "-o", "csv", env=env)
    assert as_csv.stdout.splitlines()[0].startswith("id,webhook_id,event_id,event,status")

    again = run("webhooks", "retry", delivery["id"], env=env)
    assert again.code == 0, again
    assert again.json()["id"] == delivery["id"] and again.json()["status"] == "pending"
    missing = run("webhooks", "retry", "dlv_0000000000000000", env=env)
    assert missing.code == 1 and "[NOT_FOUND]" in missing.stderr
    assert run("webhooks", "deliveries", "wh_0000000000000000", env=env).code == 1


def test_a_table_fits_the_terminal_and_never_cuts_an_id(sandbox: Served) -> None:
    env = sandbox.env
    made = [
        create(env, "--event", "sync.failed", "--event", "connection.auth_required")
        for _ in range(2)
    ]
    wide = run("webhooks", "list", env=env, tty=True, columns=160)
    assert wide.stdout.splitlines()[0].split() == [
        "ID",
        "URL",
        "EVENTS",
        "CONNECTIONS",
        "ENABLED",
        "CREATED",
    ]
    assert "just now" in wide.stdout and "all" in wide.stdout
    narrow = run("webhooks", "list", env=env, tty=True, columns=50)
    assert narrow.code == 0, narrow
    assert all(len(line) <= 50 for line in narrow.stdout.splitlines())
    assert all(str(hook["id"]) in narrow.stdout for hook in made)
    everything = run("webhooks", "list", "-o", "wide", env=env, tty=True, columns=50)
    assert "CREATED" in everything.stdout and "connection.auth_required" in everything.stdout


def test_without_the_capability_each_command_says_which(
    sandbox_factory: Callable[..., Served],
) -> None:
    documented = sandbox_factory("--no-extensions")
    for argv in (
        ("webhooks", "list"),
        ("webhooks", "create", "--url", "https://e.com/h"),
        ("webhooks", "deliveries", "wh_1"),
        ("webhooks", "retry", "dlv_1"),
    ):
        result = run(*argv, "-o", "json", env=documented.env)
        assert result.code == 1, result
        err = result.error()
        assert err["code"] == "CAPABILITY_MISSING" and "'webhooks'" in err["message"]
    tail = run("events", "tail", env=documented.env)
    assert tail.code == 1 and "'events'" in tail.stderr


def test_tab_offers_the_webhooks_and_deliveries_commands_saw(bundled: Served) -> None:
    first = create({}, "--event", "ping")
    second = create({})
    offered = dict(completion.complete_webhook_ids("wh_"))
    assert {first["id"], second["id"]} <= set(offered)
    assert str(offered[str(first["id"])]).startswith("http://127.0.0.1:")

    assert run("webhooks", "delete", str(first["id"]), "--yes").code == 0
    assert first["id"] not in dict(completion.complete_webhook_ids())
    # Someone else deletes the second: a 404 forgets it, a list gives the whole truth.
    bundled_hook = str(second["id"])
    assert run("webhooks", "update", bundled_hook, "--disable").code == 0
    assert "(disabled)" in str(dict(completion.complete_webhook_ids())[bundled_hook])
    run("webhooks", "delete", bundled_hook, "--yes")
    completion.remember_webhooks(SCOPE, [(bundled_hook, None)])
    assert run("webhooks", "get", bundled_hook).code == 1
    assert bundled_hook not in dict(completion.complete_webhook_ids())
    third = create({})
    completion.remember_webhooks(SCOPE, [("wh_stale", None)])
    assert run("webhooks", "list").code == 0
    assert [k for k, _ in completion.complete_webhook_ids()] == [third["id"]]

    delivery = run("webhooks", "test", str(third["id"])).json()
    assert delivery["id"] in dict(completion.complete_delivery_ids("dlv_"))
    assert "ping" in str(dict(completion.complete_delivery_ids())[delivery["id"]])


def test_tab_knows_event_names_webhook_ids_deliveries_and_keys_without_the_network() -> None:
    tree = completion.describe(typer.main.get_command(app))
    completion.remember_webhooks(SCOPE, [("wh_a", "https://a.example")])
    completion.remember_deliveries(SCOPE, [("dlv_1", "ping · failed")])
    completion.remember_connections(SCOPE, [("10000715260448", "Acme")])

    def offered(*args: str, word: str = "") -> list[str]:
        return [value for value, _ in completion.complete(tree, list(args), word).items]

    assert offered("webhooks", "create", "--event", word="sync.") == [
        "sync.completed",
        "sync.failed",
        "sync.started",
    ]
    assert "work_orders.updated" in offered("webhooks", "update", "wh_a", "--event")
    assert "connection.auth_required" in offered("events", "tail", "--event", word="conn")
    for command in ("get", "update", "delete", "rotate-secret", "test", "deliveries"):
        assert offered("webhooks", command) == ["wh_a"], command
    assert offered("webhooks", "retry") == ["dlv_1"]
    assert offered("webhooks", "create", "--connection") == ["10000715260448"]
    assert offered("events", "tail", "--connection") == ["10000715260448"]
    assert offered("webhooks", "deliveries", "wh_a", "--status") == [
        "pending",
        "succeeded",
        "failed",
    ]
