"""Tables for people: ages, columns dropped or cut to fit, `-o wide`, detail views."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from makini_cli.output import columns
from makini_cli.output.ages import absolute, age, parse_time
from makini_cli.output.render import Column, Renderer, detail_rows, fit_columns

NOW = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)


def iso(delta: timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


CONNECTIONS: list[dict[str, Any]] = [
    {
        "key": "10000482937115",
        "name": "Acme Manufacturing – S/4HANA",
        "platform": "sap-s4hana",
        "status": "active",
        "health": "online",
        "last_sync_at": iso(-timedelta(minutes=42)),
    },
    {
        "key": "10000826371559",
        "name": "Delta Logistics – Fiix",
        "platform": "fiix",
        "status": "active",
        "health": "reauth_required",
        "last_sync_at": iso(-timedelta(hours=2, minutes=5)),
    },
    {
        "key": "10000937482660",
        "name": "Bluewater Brewing – MaintainX",
        "platform": "maintainx",
        "status": "pending",
        "health": None,
        "last_sync_at": None,
    },
]


def draw(
    items: list[dict[str, Any]] | dict[str, Any],
    cols: list[Column] | None = columns.CONNECTIONS,
    *,
    width: int = 120,
    mode: str | None = None,
    tty: bool = True,
) -> str:
    buf = io.StringIO()
    renderer = Renderer(
        explicit_mode=mode,
        stdout=buf,
        stdout_is_tty=tty,
        color="never",
        width=width,
        now=lambda: NOW,
    )
    if isinstance(items, dict):
        renderer.object(items, cols)
    else:
        renderer.stream(iter(items), cols)
    return buf.getvalue()


def headers(out: str) -> list[str]:
    """The header line split on runs of two or more spaces (headers hold single spaces)."""
    return re.split(r"\s{2,}", out.splitlines()[0].strip())


# ------------------------------------------------------------------ ages


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=-5), "just now"),
        (timedelta(seconds=30), "just now"),  # a server clock a little ahead
        (timedelta(minutes=-5), "5m ago"),
        (timedelta(minutes=-59, seconds=-59), "59m ago"),
        (timedelta(minutes=12, seconds=30), "in 12m"),
        (timedelta(hours=-2, minutes=-5), "2h ago"),
        (timedelta(days=-3, hours=-4), "3d ago"),
        (timedelta(days=-45), "1mo ago"),
        (timedelta(days=-800), "2y ago"),
        (timedelta(days=2), "in 2d"),
    ],
)
def test_age_of_a_time_relative_to_now(delta: timedelta, expected: str) -> None:
    assert age(NOW + delta, NOW) == expected


def test_parse_time_reads_iso_8601_and_leaves_other_values_alone() -> None:
    assert parse_time("2026-11-30T10:00:00Z") == NOW
    assert parse_time("2026-11-30T11:00:00+01:00") == NOW
    assert parse_time("2026-11-30T10:00:00") == NOW  # no zone: the API means UTC
    assert parse_time("2026-11-30") is None
    assert parse_time("online") is None
    assert parse_time(1764496800) is None
    assert parse_time("2026-13-45T99:00:00Z") is None
    assert absolute(NOW) == "2026-11-30 10:00 UTC"


# ------------------------------------------------------------------ fitting


def test_fit_cuts_free_text_then_drops_the_lowest_priority() -> None:
    cols = [
        Column("KEY", "k", keep=True),
        Column("NAME", "n", cut=True, min_width=8, priority=50),
        Column("A", "a", priority=10),
        Column("B", "b", priority=20),
    ]
    natural = [10, 30, 6, 6]
    assert fit_columns(cols, natural, 100) == [(0, 10), (1, 30), (2, 6), (3, 6)]
    # 10+30+6+6 + 3 gaps of 2 = 58: 50 wide cuts NAME by 8 and drops nothing
    assert fit_columns(cols, natural, 50) == [(0, 10), (1, 22), (2, 6), (3, 6)]
    # NAME at its 8-cell floor needs 36; at 30 the lowest priority (A) goes, NAME regrows
    assert fit_columns(cols, natural, 30) == [(0, 10), (1, 10), (3, 6)]
    # nothing but the key left: shown whole even when it cannot fit
    assert fit_columns(cols, natural, 5) == [(0, 10)]


def test_fit_drops_the_rightmost_of_equal_priorities() -> None:
    cols = [Column("K", "k", keep=True), Column("A", "a"), Column("B", "b")]
    assert fit_columns(cols, [4, 4, 4], 10) == [(0, 4), (1, 4)]


@pytest.mark.parametrize(
    ("width", "shown"),
    [
        (120, ["KEY", "NAME", "PLATFORM", "STATUS", "HEALTH", "LAST SYNC"]),
        (80, ["KEY", "NAME", "STATUS", "HEALTH", "LAST SYNC"]),
        (60, ["KEY", "NAME", "HEALTH", "LAST SYNC"]),
    ],
)
def test_connections_fit_the_terminal(width: int, shown: list[str]) -> None:
    out = draw(CONNECTIONS, width=width)
    assert headers(out) == shown
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines), out
    for conn in CONNECTIONS:
        assert any(conn["key"] in line.split() for line in lines)  # whole, never split
    assert len(lines) == 1 + len(CONNECTIONS)  # no value wrapped onto a second line
    assert "42m ago" in out and "2h ago" in out
    assert "2026-" not in out


def test_a_narrow_terminal_cuts_names_with_an_ellipsis() -> None:
    out = draw(CONNECTIONS, width=60)
    assert "…" in out
    assert "Acme Manufacturing – S/4HANA" not in out
    assert "Acme Manufactu" in out
    wide_enough = draw(CONNECTIONS, width=120)
    assert "Acme Manufacturing – S/4HANA" in wide_enough and "…" not in wide_enough


def test_wide_shows_every_column_whole_even_past_the_terminal() -> None:
    out = draw(CONNECTIONS, width=60, mode="wide")
    assert headers(out) == ["KEY", "NAME", "PLATFORM", "STATUS", "HEALTH", "LAST SYNC"]
    assert "Bluewater Brewing – MaintainX" in out and "…" not in out
    assert "42m ago" in out  # still a view for people
    assert len(out.splitlines()) == 1 + len(CONNECTIONS)


def test_piped_table_and_wide_are_plain_whole_and_absolute() -> None:
    for mode in ("table", "wide"):
        out = draw(CONNECTIONS, width=40, mode=mode, tty=False)
        assert headers(out) == ["KEY", "NAME", "PLATFORM", "STATUS", "HEALTH", "LAST SYNC"]
        assert CONNECTIONS[0]["last_sync_at"] in out and "ago" not in out
        assert "Bluewater Brewing – MaintainX" in out and "…" not in out


def test_values_never_break_a_row() -> None:
    rows = [{"key": "k1", "name": "two\nlines\tand a tab", "status": "active"}]
    for tty in (True, False):
        out = draw(rows, columns.CONNECTIONS, mode="table", tty=tty)
        assert len(out.splitlines()) == 2
        assert "two lines and a tab" in out


def test_an_empty_list_on_a_terminal_says_none() -> None:
    assert draw([], width=80).strip() == "(none)"


def test_formatted_columns_are_cleaned() -> None:
    rows = [{"key": "k", "error": {"code": "X", "message": "bad\x1b[31m\x07 thing"}}]
    out = draw(rows, columns.CONNECTION_STATUS)
    assert "\x1b" not in out and "\x07" not in out
    assert "X: bad thing" in out


# ------------------------------------------------------------------ detail views

SYNC: dict[str, Any] = {
    "id": "sync_123",
    "connection_key": "10000482937115",
    "status": "running",
    "scopes": ["sites", "assets"],
    "progress": {"scope": "assets", "records_processed": 1200, "records_total": 5000},
    "error": None,
    "next_retry_at": None,
    "trigger": "",
    "meta": {},
    "created_at": iso(-timedelta(minutes=5)),
    "attempts": [{"n": 1, "status": "failed"}],
}


def test_detail_view_nests_objects_and_leaves_empty_fields_out() -> None:
    out = draw(SYNC, columns.SYNCS, width=80)
    lines = [line.rstrip() for line in out.splitlines()]
    labels = [line.split("  ")[0] for line in lines]
    assert labels[:3] == ["id", "connection key", "status"]  # the table's columns first
    assert "progress" in lines
    at = lines.index("progress")
    assert lines[at + 1].split() == ["scope", "assets"]
    assert lines[at + 1].startswith("  scope")
    assert lines[at + 2].startswith("  records processed") and lines[at + 2].endswith("1200")
    assert any(line.split("  ")[0] == "scopes" and line.endswith("sites, assets") for line in lines)
    for empty in ("error", "next retry at", "trigger", "meta"):
        assert empty not in labels
    assert "created at" in labels
    assert "5m ago (2026-11-30 09:55 UTC)" in out
    assert "attempts" in labels and "  #1" in lines
    at = lines.index("  #1")
    assert lines[at + 1].split() == ["n", "1"] and lines[at + 1].startswith("    n")
    assert "{" not in out


def test_detail_view_piped_keeps_the_layout_with_absolute_times() -> None:
    out = draw(SYNC, columns.SYNCS, mode="table", tty=False)
    lines = out.splitlines()
    assert "progress" in lines and "  records total" in [ln[:15] for ln in lines]
    assert SYNC["created_at"] in out and "ago" not in out


def test_light_detail_view_uses_the_same_labels() -> None:
    buf = io.StringIO()
    r = Renderer(explicit_mode=None, stdout=buf, stdout_is_tty=True, now=lambda: NOW)
    r.object(
        {
            "base_url": "sandbox",
            "client_id": None,
            "token_expires_at": iso(timedelta(minutes=12, seconds=30)),
        },
        light=True,
    )
    assert buf.getvalue().splitlines() == [
        "base url          sandbox",
        "token expires at  in 12m (2026-11-30 10:12 UTC)",
    ]


def test_detail_rows_directly() -> None:
    rows = detail_rows({"a_b": {"c": {"d": 1}, "e": []}, "f": [1, None, "x"]}, ["a_b", "f"], None)
    assert rows == [("a b", ""), ("  c", ""), ("    d", "1"), ("f", "1, x")]


def failing(after: int) -> Iterator[dict[str, Any]]:
    yield from CONNECTIONS[:after]
    raise RuntimeError("page 2 failed")


def test_a_failed_table_prints_nothing() -> None:
    buf = io.StringIO()
    r = Renderer(explicit_mode=None, stdout=buf, stdout_is_tty=True, width=80)
    with pytest.raises(RuntimeError):
        r.stream(failing(1), columns.CONNECTIONS)
    assert buf.getvalue() == ""


def test_fit_brings_back_a_narrow_column_that_a_wide_drop_made_room_for() -> None:
    cols = [
        Column("ID", "i", keep=True),
        Column("WHEN", "w", priority=10),
        Column("ERROR", "e", priority=20),
    ]
    # WHEN goes first, then ERROR too; without ERROR there is room for WHEN again
    assert fit_columns(cols, [20, 7, 18], 32) == [(0, 20), (1, 7)]


def test_sync_list_keeps_ids_and_status_at_60_columns() -> None:
    syncs: list[dict[str, Any]] = [
        {
            "id": f"sync_2e1ae9c48c4ea17{n}",
            "connection_key": "10000593048226",
            "type": "full",
            "trigger": "retry",
            "status": "failed",
            "created_at": iso(-timedelta(minutes=4)),
            "finished_at": iso(-timedelta(minutes=3)),
            "error": {"code": "SYSTEM_UNREACHABLE"},
        }
        for n in range(3)
    ]
    out = draw(syncs, columns.SYNCS, width=60)
    shown = headers(out)
    assert shown[:2] == ["ID", "CONNECTION"] and "STATUS" in shown and "ERROR" not in shown
    assert all(len(line) <= 60 for line in out.splitlines())
    assert all(s["id"] in out for s in syncs)
    assert "4m ago" in out  # CREATED fits once the wider ERROR is out


def test_light_tables_fit_the_terminal_too() -> None:
    rows = [
        {"code": 6, "meaning": "aborted: confirmation declined, or input needed under --no-input"},
        {"code": 130, "meaning": "interrupted (Ctrl-C)"},
    ]
    buf = io.StringIO()
    Renderer(explicit_mode=None, stdout=buf, stdout_is_tty=True, width=40).stream(
        iter(rows), columns.EXIT_CODES, light=True
    )
    lines = buf.getvalue().splitlines()
    assert lines[0].split() == ["CODE", "MEANING"]
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].startswith("6     aborted: confirmation") and lines[1].endswith("…")
    assert lines[2] == "130   interrupted (Ctrl-C)"


def test_plain_tables_align_wide_characters_by_cells() -> None:
    rows = [{"key": "k1", "name": "東京工場"}, {"key": "k2", "name": "Plant"}]
    out = draw(
        rows,
        [Column("KEY", "key"), Column("NAME", "name"), Column("X", "x")],
        mode="table",
        tty=False,
    )
    assert out.splitlines() == ["KEY  NAME      X", "k1   東京工場", "k2   Plant"]


def test_detail_views_keep_the_users_own_names_as_written() -> None:
    from makini_cli.output.render import detail_rows

    rows = dict(detail_rows(
        {"user_metadata": {"customer_id": "C-1"}, "profiles": {"my_prod": {"base_url": "u"}}},
        ["user_metadata", "profiles"], None))
    assert "  customer_id" in rows and "  my_prod" in rows
    assert "    base url" in rows  # below a user's name, the API's fields again
