"""`makini connections status --watch|--until`, piped: the stream of changes and the
waits, against the bundled sandbox on its manual clock.

Every watch here ends by itself: `--until`, `--timeout`, or the hidden `--max-updates N`
(the stream stops after N lines). Changes are made at a chosen point of the watch by a
script around the engine's `start()` and `step()` (`Script`), never by timing; the
watch's own clock (`wall_clock`: alerts, `at`) is pinned to the sandbox's manual clock,
so an outage can be made an hour old by moving that clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from makini_cli.api import watch as engine
from makini_cli.api.watch import StatusWatch, Update
from tests.cli.conftest import Sandbox
from tests.inproc import Result
from tests.inproc import invoke as run

#: Seeded connections (sandbox/seed.py) in the states the tests need.
ACTIVE = "10000715260448"
ACTIVE_2 = "10000482937115"
OFFLINE = "10000593048226"
REAUTH = "10000826371559"
FAST = ("--interval", "50ms")
#: Alerts are the business of their own tests.
NO_ALERTS = ("--alert-after", "300d")


@pytest.fixture
def pinned(bundled: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The bundled sandbox, with the watch's clock pinned to the sandbox's manual clock."""
    clock = bundled.clock
    assert clock is not None
    monkeypatch.setattr(engine, "wall_clock", lambda: clock.now().timestamp())
    return bundled


class Script:
    """Runs `on_start` once the watch has loaded, then each of `on_change` in turn after
    a step that brought a `changed` update: the test's changes land between the watch's
    reads, whatever the timing."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        on_start: Callable[[], object] | None = None,
        on_change: list[Callable[[], object]] | None = None,
    ) -> None:
        self.on_change = list(on_change or [])
        start, step = StatusWatch.start, StatusWatch.step

        def started(watch: StatusWatch) -> list[Update]:
            updates = start(watch)
            if on_start is not None:
                on_start()
            return updates

        def stepped(watch: StatusWatch) -> list[Update]:
            updates = step(watch)
            if self.on_change and any(u.type == "changed" for u in updates):
                self.on_change.pop(0)()
            return updates

        monkeypatch.setattr(StatusWatch, "start", started)
        monkeypatch.setattr(StatusWatch, "step", stepped)


def outage(sandbox: Sandbox, key: str, seconds: float = 7200) -> Callable[[], object]:
    return lambda: sandbox.control("POST", f"connections/{key}/outage", {"seconds": seconds})


def recovery(sandbox: Sandbox, key: str) -> Callable[[], object]:
    return lambda: sandbox.control("POST", f"connections/{key}/outage", {"end": True})


def lines(result: Result) -> list[dict[str, Any]]:
    assert "\x1b" not in result.stdout, result
    parsed: list[dict[str, Any]] = result.jsonl()
    return parsed


def of_type(stream: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in stream if line["type"] == kind]


def statuses(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Every connection as the API lists it (the truth the stream is checked against)."""
    return {row["key"]: row for row in sandbox.connections()}


# ---------------------------------------------------------------------- the stream


def test_the_stream_starts_with_one_snapshot_per_connection(pinned: Sandbox) -> None:
    listed = statuses(pinned)
    result = run(
        "connections", "status", "--watch", *FAST, *NO_ALERTS, "--max-updates", str(len(listed))
    )
    assert result.code == 0, result
    stream = lines(result)
    assert [line["type"] for line in stream] == ["snapshot"] * len(listed)
    assert [line["object"]["key"] for line in stream] == list(listed)
    for line in stream:
        assert list(line) == ["type", "at", "object"]
        assert line["at"] == "2025-01-06T09:00:00Z"  # the pinned clock
        obj = line["object"]
        assert list(obj) == list(engine.STATUS_FIELDS)
        api = listed[obj["key"]]
        assert {k: api[k] for k in engine.STATUS_FIELDS} == obj
    assert f"watching {len(listed)} connections; Ctrl-C stops" in result.stderr


def test_an_outage_and_the_recovery_are_each_one_changed_line(
    pinned: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    Script(monkeypatch, on_start=outage(pinned, ACTIVE), on_change=[recovery(pinned, ACTIVE)])
    result = run(
        "connections",
        "status",
        ACTIVE,
        ACTIVE_2,
        "--watch",
        *FAST,
        *NO_ALERTS,
        "--max-updates",
        "4",
    )
    assert result.code == 0, result
    stream = lines(result)
    assert [(line["type"], line["object"]["key"]) for line in stream] == [
        ("snapshot", ACTIVE),
        ("snapshot", ACTIVE_2),
        ("changed", ACTIVE),
        ("changed", ACTIVE),
    ]
    down, up = stream[2], stream[3]
    assert list(down) == ["type", "at", "changed", "object"]
    assert {"health", "status", "health_since"} <= set(down["changed"])
    assert down["object"]["health"] == "offline" and down["object"]["status"] == "offline"
    assert down["object"]["health_since"] == "2025-01-06T09:00:00Z"
    assert down["object"]["error"]["code"] == "SYSTEM_UNREACHABLE"
    assert "health" in up["changed"] and up["object"]["health"] == "online"
    assert up["object"]["error"] is None
    # What the stream says last is what the API says now.
    now = statuses(pinned)[ACTIVE]
    assert {k: now[k] for k in engine.STATUS_FIELDS} == up["object"]


def test_an_alert_once_the_outage_is_older_than_alert_after(
    pinned: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = pinned.clock
    assert clock is not None
    outage(pinned, ACTIVE)()
    began = statuses(pinned)[ACTIVE]["health_since"]
    clock.advance(3599)
    # Not yet an hour: a snapshot and no alert, however many steps the timeout allows.
    young = run("connections", "status", ACTIVE, "--watch", *FAST, "--timeout", "300ms")
    assert young.code == 0, young
    assert [line["type"] for line in lines(young)] == ["snapshot"]

    clock.advance(2)
    old = run("connections", "status", ACTIVE, "--watch", *FAST, "--timeout", "300ms")
    assert old.code == 0, old
    stream = lines(old)
    # Once per outage, not once per step.
    assert [line["type"] for line in stream] == ["snapshot", "alert"]
    alert = stream[1]
    assert list(alert) == ["type", "at", "alert", "since", "object"]
    assert alert["alert"] == "offline_too_long" and alert["since"] == began
    assert alert["object"]["health"] == "offline" and alert["at"] == "2025-01-06T10:00:01Z"

    # A shorter --alert-after: the same outage is already too long.
    short = run(
        "connections",
        "status",
        ACTIVE,
        "--watch",
        *FAST,
        "--alert-after",
        "30m",
        "--max-updates",
        "2",
    )
    assert [line["type"] for line in lines(short)] == ["snapshot", "alert"]


def test_an_alert_while_watching(pinned: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = pinned.clock
    assert clock is not None
    # No scheduled sync may run (and fail) in that hour: the alert is the one thing to come.
    assert run("sync", "schedule", "set", ACTIVE, "--disable").code == 0
    # The watch sees the outage begin; then an hour passes on the clock it measures with.
    Script(monkeypatch, on_start=outage(pinned, ACTIVE), on_change=[lambda: clock.advance(3601)])
    result = run("connections", "status", ACTIVE, "--watch", *FAST, "--max-updates", "3")
    assert result.code == 0, result
    assert [line["type"] for line in lines(result)] == ["snapshot", "changed", "alert"]


def test_a_failing_read_is_said_once_on_stderr_and_the_stream_goes_on(
    pinned: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def trouble() -> None:
        pinned.control(
            "POST", "faults", {"path_prefix": "/api/system/events", "status": 503, "count": 3}
        )
        outage(pinned, ACTIVE)()

    Script(monkeypatch, on_start=trouble)
    result = run(
        "--max-retries",
        "0",
        "connections",
        "status",
        ACTIVE,
        "--watch",
        *FAST,
        *NO_ALERTS,
        "--max-updates",
        "2",
    )
    assert result.code == 0, result
    stream = lines(result)
    assert [line["type"] for line in stream] == ["snapshot", "changed"]
    assert stream[1]["object"]["health"] == "offline"
    warned = [ln for ln in result.stderr.splitlines() if "could not read connection status" in ln]
    assert len(warned) == 1, result.stderr  # three failed reads, one line
    assert "[SERVICE_UNAVAILABLE]" in warned[0] and "trying again every 50ms" in warned[0]
    assert result.stderr.count("reading connection status again") == 1


def test_a_deleted_connection_ends_with_a_deleted_line(
    pinned: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    Script(monkeypatch, on_start=lambda: pinned.api("DELETE", f"/api/system/connections/{ACTIVE}"))
    result = run(
        "connections",
        "status",
        ACTIVE,
        ACTIVE_2,
        "--watch",
        *FAST,
        *NO_ALERTS,
        "--max-updates",
        "3",
    )
    assert result.code == 0, result
    last = lines(result)[-1]
    # Its last state as the API had it: no status is made up for a connection gone.
    assert last["type"] == "deleted" and "changed" not in last
    assert last["object"]["key"] == ACTIVE and last["object"]["status"] == "active"


# ---------------------------------------------------------------------- --until


def test_until_waits_for_the_recovery_and_exits_0(
    pinned: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage(pinned, ACTIVE)()
    Script(monkeypatch, on_start=recovery(pinned, ACTIVE))
    result = run("connections", "status", ACTIVE, "--until", "health=online", *FAST, *NO_ALERTS)
    assert result.code == 0, result
    stream = lines(result)
    assert [line["type"] for line in stream] == ["snapshot", "changed"]
    assert stream[0]["object"]["health"] == "offline"
    assert stream[1]["object"]["health"] == "online"
    assert "waiting until health=online for 1 connection;" in result.stderr

    # What holds already: at once, after the snapshot. -o json: the final objects only.
    done = run(
        "connections",
        "status",
        ACTIVE,
        ACTIVE_2,
        "--until",
        "health=online",
        "--until",
        "error.code=null",
        "-o",
        "json",
    )
    assert done.code == 0, done
    assert [obj["key"] for obj in done.json()] == [ACTIVE, ACTIVE_2]


def test_until_exits_8_at_the_timeout(pinned: Sandbox) -> None:
    outage(pinned, ACTIVE)()
    result = run(
        "connections",
        "status",
        ACTIVE,
        ACTIVE_2,
        "--until",
        "health=online",
        *FAST,
        *NO_ALERTS,
        "--timeout",
        "300ms",
    )
    assert result.code == 8, result
    assert [line["type"] for line in lines(result)] == ["snapshot", "snapshot"]
    assert f"--timeout reached: health=online does not hold yet for {ACTIVE}" in result.stderr
    # -o json: the objects as they were when the time ran out.
    as_json = run(
        "connections",
        "status",
        ACTIVE,
        "--until",
        "health=online",
        *FAST,
        "--timeout",
        "200ms",
        "-o",
        "json",
    )
    assert as_json.code == 8, as_json
    assert as_json.json()[0]["health"] == "offline"
    # A watch without --until that reaches its timeout awaited nothing: exit 0.
    watched = run(
        "connections", "status", ACTIVE, "--watch", *FAST, *NO_ALERTS, "--timeout", "200ms"
    )
    assert watched.code == 0, watched


def test_until_health_fails_at_once_for_a_connection_that_needs_reauthorization(
    pinned: Sandbox,
) -> None:
    result = run(
        "connections", "status", REAUTH, ACTIVE, "--until", "health=online", *FAST, "-o", "jsonl"
    )
    assert result.code == 9, result
    assert f"connection {REAUTH} needs reauthorization" in result.stderr
    assert "REAUTHORIZATION_REQUIRED" in result.stderr
    # Waiting for anything else about it is a wait like any other.
    ok = run("connections", "status", REAUTH, "--until", "health=reauth_required")
    assert ok.code == 0, ok


def test_until_ends_with_exit_1_when_a_connection_is_deleted(
    pinned: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage(pinned, ACTIVE)()
    Script(monkeypatch, on_start=lambda: pinned.api("DELETE", f"/api/system/connections/{ACTIVE}"))
    result = run("connections", "status", ACTIVE, "--until", "health=online", *FAST, *NO_ALERTS)
    assert result.code == 1, result
    assert f"connection {ACTIVE} was deleted while waiting" in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--until", "heath=online"), "'heath' is no field of the status object"),
        (("--until", "health"), "is not FIELD=VALUE"),
        (("--timeout", "1m"), "--timeout only applies with --watch or --until"),
        (("--interval", "1s"), "--interval only applies with --watch or --until"),
        (("--watch", "-o", "json"), "-o json cannot hold"),
        (("--watch", "--interval", "nan"), "--interval 'nan' is not a finite duration"),
    ],
)
def test_usage_errors(pinned: Sandbox, argv: tuple[str, ...], message: str) -> None:
    result = run("connections", "status", *argv)
    assert result.code == 2, result
    assert message in result.stderr and result.stdout == ""


# ---------------------------------------------------------------------- filters


def test_filters_choose_the_connections(pinned: Sandbox) -> None:
    listed = statuses(pinned)
    offline = [k for k, row in listed.items() if row["health"] == "offline"]
    active = [k for k, row in listed.items() if row["status"] == "active"]
    assert offline and active
    once = run("connections", "status", "--health", "offline")
    assert once.code == 0, once
    assert [obj["key"] for obj in once.jsonl()] == offline
    assert [obj["key"] for obj in run("connections", "status", "--status", "active").jsonl()] == (
        active
    )
    # KEYs and a filter: the KEYs that pass it.
    both = run("connections", "status", OFFLINE, ACTIVE, "--health", "offline").jsonl()
    assert [obj["key"] for obj in both] == [OFFLINE]
    streamed = run(
        "connections",
        "status",
        "--health",
        "offline",
        "--watch",
        *FAST,
        *NO_ALERTS,
        "--max-updates",
        str(len(offline)),
    )
    assert [line["object"]["key"] for line in lines(streamed)] == offline
    missing = run("connections", "status", "00000000000000")
    assert missing.code == 1 and "NOT_FOUND" in missing.stderr


def test_one_read_prints_the_status_objects(pinned: Sandbox) -> None:
    listed = statuses(pinned)
    table = run("connections", "status", tty=True, columns=160)
    assert table.code == 0, table
    assert table.stdout.splitlines()[0].split()[:3] == ["KEY", "STATUS", "HEALTH"]
    as_json = run("connections", "status", "-o", "json")
    assert [obj["key"] for obj in as_json.json()] == list(listed)
    assert all(list(obj) == list(engine.STATUS_FIELDS) for obj in as_json.json())


# ---------------------------------------------------------------------- documented only


def test_a_documented_only_server_is_read_whole_each_interval(
    sandbox_factory: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    from makini_cli.sandbox.control_token import HEADER, read_token

    served = sandbox_factory("--no-extensions")
    env = served.env
    token = read_token(served.data_dir)
    assert token

    def down() -> None:
        answer = httpx.post(
            f"{served.url}/sandbox/connections/{ACTIVE}/outage",
            json={"seconds": 600},
            headers={"Authorization": f"Bearer {served.admin_token()}", HEADER: token},
        )
        answer.raise_for_status()

    once = run("connections", "status", ACTIVE, "-o", "json", env=env)
    assert once.code == 0, once
    assert once.json() == [{"key": ACTIVE, "name": once.json()[0]["name"], "status": "active"}]

    Script(monkeypatch, on_start=down)
    result = run(
        "--debug", "connections", "status", ACTIVE, "--watch", *FAST, "--max-updates", "2", env=env
    )
    assert result.code == 0, result
    stream = lines(result)
    assert [line["type"] for line in stream] == ["snapshot", "changed"]
    assert stream[1]["changed"] == ["status"] and stream[1]["object"]["status"] == "offline"
    assert "the server keeps no event log" in result.stderr
    assert "/api/system/events" not in result.stderr  # no log to read: the list instead
    # health is no documented field: waiting on it needs the extension.
    needs = run("connections", "status", ACTIVE, "--until", "health=online", env=env)
    assert needs.code == 1 and "capability 'status'" in needs.stderr
