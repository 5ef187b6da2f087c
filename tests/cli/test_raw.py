"""`makini raw tables|rows` against a served sandbox: the system's own tables, their rows
with limits, filters, sorting and fields, the unknown-table hint, the health gate, and
Tab's table names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import typer

from makini_cli import completion
from makini_cli.main import GLOBAL_OPTIONS, app
from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run

#: seeded connections: SAP S/4HANA (online), Odoo (inactive: no credits)
S4 = "10000482937115"
ODOO = "10001159604882"


def truth(sandbox: Sandbox, key: str, path: str, **params: Any) -> Any:
    """What the API answers with `key`'s connection token (straight, not through makini)."""
    token = sandbox.api("POST", f"/api/system/connections/{key}/token").json()["data"]["token"]
    resp = httpx.get(
        f"{sandbox.url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    resp.raise_for_status()
    return resp.json()


def total(sandbox: Sandbox, table: str, **params: Any) -> int:
    meta = truth(sandbox, S4, f"/api/raw/tables/{table}/data", per_page=1, **params)["meta"]
    return int(meta["total"])


def every_row(sandbox: Sandbox, table: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        body = truth(
            sandbox, S4, f"/api/raw/tables/{table}/data", per_page=500, page=page, **params
        )
        rows += body["data"]
        if body["meta"]["current_page"] >= body["meta"]["last_page"]:
            return rows
        page += 1


@pytest.fixture(scope="module")
def biggest(shared_sandbox: Sandbox) -> str:
    """The table of S4 with the most rows: more than one page of 500."""
    names = [str(t["name"]) for t in truth(shared_sandbox, S4, "/api/raw/tables")["data"]]
    found = max(names, key=lambda name: total(shared_sandbox, name))
    assert total(shared_sandbox, found) > 500
    return found


def test_tables_are_the_api_s_in_every_format(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    tables = truth(shared_sandbox, S4, "/api/raw/tables")["data"]
    assert len(tables) >= 2
    piped = run("raw", "tables", S4, env=env)
    assert piped.code == 0, piped
    assert piped.jsonl() == tables
    assert run("raw", "tables", S4, "-o", "json", env=env).json() == tables
    csv = run("raw", "tables", S4, "-o", "csv", env=env).stdout.splitlines()
    assert csv[0].startswith("name,columns") and len(csv) == len(tables) + 1

    table = run("raw", "tables", S4, env=env, tty=True, columns=160)
    assert table.code == 0, table
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["TABLE", "COLUMNS"]
    first = lines[1].split()
    assert first[0] == tables[0]["name"] and first[1] == str(len(tables[0]["columns"]))
    assert tables[0]["columns"][0] in lines[1]


def test_rows_piped_are_every_row_and_limit_stops_across_pages(
    shared_sandbox: Sandbox, biggest: str
) -> None:
    env = shared_sandbox.env
    rows = every_row(shared_sandbox, biggest)
    assert len(rows) == total(shared_sandbox, biggest)
    everything = run("raw", "rows", S4, biggest, env=env)
    assert everything.code == 0, everything
    assert everything.jsonl() == rows
    assert run("raw", "rows", S4, biggest, "--limit", "7", env=env).jsonl() == rows[:7]
    across = run("raw", "rows", S4, biggest, "--limit", "501", env=env)
    assert across.jsonl() == rows[:501]
    as_json = run("raw", "rows", S4, biggest, "--limit", "3", "-o", "json", env=env)
    assert as_json.json() == rows[:3]


def test_filters_sort_and_fields(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    pm01 = run("raw", "rows", S4, "AUFK", "--filter", "AUART=PM01", env=env).jsonl()
    assert pm01 and all(row["AUART"] == "PM01" for row in pm01)
    assert len(pm01) == total(shared_sandbox, "AUFK", **{"filter[AUART]": "PM01"})

    both = run(
        "raw",
        "rows",
        S4,
        "AUFK",
        "--filter",
        "AUART=PM01",
        "--filter",
        "KTEXT:contains=pump",
        env=env,
    ).jsonl()
    assert both and all("pump" in row["KTEXT"].lower() and row["AUART"] == "PM01" for row in both)
    assert len(both) < len(pm01)

    newest = run("raw", "rows", S4, "AUFK", "--sort", "-AEDAT", "--limit", "20", env=env).jsonl()
    expected = truth(
        shared_sandbox, S4, "/api/raw/tables/AUFK/data", per_page=20, **{"sort[AEDAT]": 1}
    )["data"]
    assert newest == expected
    assert [r["AEDAT"] for r in newest] == sorted((r["AEDAT"] for r in newest), reverse=True)
    oldest = run("raw", "rows", S4, "AUFK", "--sort", "AEDAT", "--limit", "5", env=env).jsonl()
    assert [r["AEDAT"] for r in oldest] == sorted(r["AEDAT"] for r in oldest)
    assert oldest[0]["AEDAT"] <= newest[-1]["AEDAT"]

    some = run("raw", "rows", S4, "AUFK", "--fields", "KTEXT,AUFNR", "--limit", "3", env=env)
    assert [list(row) for row in some.jsonl()] == [["KTEXT", "AUFNR"]] * 3
    csv = run(
        "raw", "rows", S4, "AUFK", "--fields", "AUFNR,KTEXT", "--limit", "2", "-o", "csv", env=env
    ).stdout.splitlines()
    assert csv[0] == "AUFNR,KTEXT" and len(csv) == 3


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (("--filter", "AUART"), "COLUMN=VALUE"),
        (("--filter", "=PM01"), "COLUMN=VALUE"),
        (("--filter", "KTEXT:like=pump"), "unknown operator"),
        (("--fields", "AUFNR,NOPE"), "no column 'NOPE'"),
        (("--fields", ","), "names no column"),
        (("--sort", "-"), "names no column"),
        (("--limit", "0"), "--limit"),
    ],
)
def test_bad_flags_are_exit_2(shared_sandbox: Sandbox, flags: tuple[str, ...], text: str) -> None:
    result = run("raw", "rows", S4, "AUFK", *flags, env=shared_sandbox.env)
    assert result.code == 2, result
    assert text in result.stderr and result.stdout == ""


def test_the_terminal_shows_one_page_and_says_how_many(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    count = total(shared_sandbox, "AUFK")
    assert count > 50
    page = run("raw", "rows", S4, "AUFK", env=env, tty=True, columns=160)
    assert page.code == 0, page
    lines = page.stdout.splitlines()
    assert lines[0].split()[0] == "AUFNR" and len(lines) == 1 + 50
    assert f"showing 50 of {count} rows" in page.stderr

    five = run("raw", "rows", S4, "AUFK", "--limit", "5", env=env, tty=True, columns=160)
    assert len(five.stdout.splitlines()) == 1 + 5 and f"showing 5 of {count}" in five.stderr

    most = run("raw", "rows", S4, "AUFK", "--limit", "100000", env=env, tty=True, columns=160)
    assert len(most.stdout.splitlines()) == 1 + min(500, count)
    assert "a table shows at most 500" in most.stderr

    first = truth(shared_sandbox, S4, "/api/raw/tables/AUFK/data", per_page=1)["data"][0]
    one = run(
        "raw",
        "rows",
        S4,
        "AUFK",
        "--filter",
        f"AUFNR={first['AUFNR']}",
        env=env,
        tty=True,
        columns=160,
    )
    assert len(one.stdout.splitlines()) == 2 and "showing" not in one.stderr


@pytest.mark.parametrize("tty", [False, True])
def test_an_unknown_table_is_exit_1_with_the_tables_it_has(
    shared_sandbox: Sandbox, tty: bool
) -> None:
    names = [t["name"] for t in truth(shared_sandbox, S4, "/api/raw/tables")["data"]]
    result = run("raw", "rows", S4, "NO_SUCH", env=shared_sandbox.env, tty=tty, columns=400)
    assert result.code == 1, result
    assert result.stdout == ""
    assert "has no table 'NO_SUCH'" in result.stderr
    assert f"its tables: {', '.join(names)}" in result.stderr
    error = run("raw", "rows", S4, "NO_SUCH", "-o", "json", env=shared_sandbox.env).error()
    assert error["code"] == "NOT_FOUND" and error["exit_code"] == 1
    assert error["http_status"] == 404 and names[0] in error["hint"]


def test_the_health_gate_decides_the_exit_code(sandbox: Sandbox) -> None:
    env = sandbox.env
    assert run("raw", "tables", S4, env=env).code == 0
    sandbox.control("POST", f"connections/{S4}/outage", {"seconds": 3600})
    down = run("raw", "rows", S4, "AUFK", env=env)
    assert down.code == 5, down
    assert "SYSTEM_UNREACHABLE" in down.stderr and down.stdout == ""
    assert run("raw", "tables", S4, "-o", "json", env=env).error()["exit_code"] == 5
    sandbox.control("POST", f"connections/{S4}/outage", {"end": True})
    assert run("raw", "tables", S4, env=env).code == 0

    sandbox.control("POST", f"connections/{S4}/break-credentials")
    rejected = run("raw", "tables", S4, env=env)
    assert rejected.code == 7, rejected
    assert "REAUTHORIZATION_REQUIRED" in rejected.stderr

    inactive = run("raw", "tables", ODOO, env=env)
    assert inactive.code == 1, inactive
    assert "INSUFFICIENT_CREDITS" in inactive.stderr

    unknown = run("raw", "tables", "99999999999999", env=env)
    assert unknown.code == 1, unknown
    assert "connections list" in unknown.stderr


def test_table_names_complete_on_tab_once_listed(bundled: Sandbox) -> None:
    tree = completion.describe(typer.main.get_command(app), GLOBAL_OPTIONS)

    def offered(*words: str, incomplete: str = "") -> list[str]:
        return [v for v, _ in completion.complete(tree, list(words), incomplete).items]

    assert offered("raw", "rows", S4) == []  # nothing listed yet: Tab never asks the API
    listed = run("raw", "tables", S4)
    assert listed.code == 0, listed
    names = [t["name"] for t in listed.jsonl()]
    assert offered("raw", "rows", S4) == names
    assert offered("raw", "rows", S4, incomplete="AU") == [n for n in names if n.startswith("AU")]
    described = dict(completion.complete(tree, ["raw", "rows", S4], "").items)
    assert "columns" in (described[names[0]] or "")
    assert offered("raw", "rows", ODOO) == []  # another connection's tables are its own
