"""Against a server with Makini's documented calls only, as Makini is today."""

from __future__ import annotations

from collections.abc import Callable

from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run


def test_documented_calls_work_and_the_rest_names_the_capability(
    sandbox_factory: Callable[..., Served],
) -> None:
    served = sandbox_factory("--no-extensions")
    env = served.env
    listed = run("connections", "list", env=env)
    assert listed.code == 0, listed
    rows = listed.jsonl()
    assert len(rows) >= 8

    # No single-connection GET is documented: the client walks the documented list.
    got = run("connections", "get", rows[2]["key"], env=env)
    assert got.code == 0, got
    assert got.json()["key"] == rows[2]["key"]
    missing = run("connections", "get", "00000000000000", env=env)
    assert missing.code == 1 and "NOT_FOUND" in missing.stderr

    assert run("connections", "token", rows[0]["key"], env=env).code == 0
    assert run("connections", "metadata", "get", rows[0]["key"], env=env).code == 0

    status = run("connections", "status", rows[0]["key"], env=env)
    assert status.code == 1, status
    assert "capability 'status'" in status.stderr
    assert "404" not in status.stderr

    health = run("connections", "list", "--health", "offline", env=env)
    assert health.code == 1 and "capability 'status'" in health.stderr
