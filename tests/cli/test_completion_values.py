"""Commands keep Tab's value cache fresh as they run, so Tab never needs the network."""

from __future__ import annotations

from makini_cli import completion
from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run

SCOPE = completion.scope("sandbox", "sandbox")


def keys() -> list[str]:
    return [key for key, _ in completion.cached(SCOPE, "connections")]


def test_listing_getting_and_deleting_connections_update_the_cache(bundled: Sandbox) -> None:
    listed = run("connections", "list").jsonl()
    assert sorted(keys()) == sorted(row["key"] for row in listed)
    names = dict(completion.cached(SCOPE, "connections"))
    assert names[listed[0]["key"]] == listed[0]["name"]

    offered = completion.complete_connection_keys(listed[0]["key"][:6])
    assert listed[0]["key"] in [value for value, _ in offered]

    assert run("connections", "delete", listed[0]["key"], "--yes").code == 0
    assert listed[0]["key"] not in keys()
    assert run("connections", "get", listed[0]["key"]).code == 1  # a 404 forgets it too
    assert listed[0]["key"] not in keys()


def test_a_filtered_list_adds_without_dropping(bundled: Sandbox) -> None:
    everything = {row["key"] for row in run("connections", "list").jsonl()}
    offline = run("connections", "list", "--health", "offline").jsonl()
    assert offline and set(keys()) == everything


def test_started_syncs_are_offered_by_id(bundled: Sandbox) -> None:
    key = next(row["key"] for row in run("connections", "list").jsonl()
               if row["status"] == "active" and row["health"] == "online")
    started = run("sync", "run", key, "--no-wait")
    assert started.code == 0, started
    sync_id = started.json()["sync"]["id"]
    offered = dict(completion.complete_sync_ids("sync_"))
    assert sync_id in offered and key in offered[sync_id]
