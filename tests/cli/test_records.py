"""`makini records` against the real sandbox, in process: every output compared with what
the sandbox's HTTP API answers for the same question."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run

#: seeded connections (sandbox/seed.py): platform, kind, state
EAM = "10000715260448"  # upkeep (cmms → eam), active, online
EAM_MAXIMO = "10000604159337"  # ibm-maximo (eam), active, online
ERP = "10000482937115"  # sap-s4hana (erp), active, online
OFFLINE = "10000593048226"  # sap-ecc, offline → 503
REAUTH = "10000826371559"  # fiix, credentials rejected → 409
INACTIVE = "10001159604882"  # odoo, inactive → 402


def conn_token(sb: Sandbox, key: str) -> str:
    return str(sb.api("POST", f"/api/system/connections/{key}/token").json()["data"]["token"])


def http_get(sb: Sandbox, key: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{sb.url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {conn_token(sb, key)}"},
        timeout=30,
    )


def http_all(sb: Sandbox, key: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record the sandbox answers for `path`, walking its pages as documented."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        resp = http_get(sb, key, path, page=page, per_page=500, **params)
        resp.raise_for_status()
        body = resp.json()
        items += body["data"]
        if body["meta"]["current_page"] >= body["meta"]["last_page"]:
            return items
        page += 1


def create_connection(sb: Sandbox, platform: str) -> str:
    fields = next(
        p["credentials"]
        for p in sb.api("GET", "/api/system/platforms?per_page=500").json()["data"]
        if p["key"] == platform
    )
    body = {
        "name": f"Test {platform}",
        "email": "ops@example.com",
        "provider": platform,
        "credentials": {name: f"x-{name}" for name in fields},
    }
    return str(sb.api("POST", "/api/system/connections", body).json()["data"]["key"])


@pytest.fixture(scope="module")
def wms(shared_sandbox: Sandbox) -> str:
    """A connection of a WMS platform (the seed has none)."""
    return create_connection(shared_sandbox, "fishbowl")


def records(sb: Sandbox, *args: str, code: int = 0) -> list[dict[str, Any]]:
    result = run("records", "list", *args, "-o", "jsonl", env=sb.env)
    assert result.code == code, result
    return result.jsonl()


# ---------------------------------------------------------------- categories


@pytest.mark.parametrize(
    ("key", "category", "entity"),
    [
        (EAM, "eam", "work-orders"),
        (EAM_MAXIMO, "eam", "assets"),
        (ERP, "erp", "customers"),
        (None, "wms", "stocks"),
    ],
)
def test_list_reads_through_the_category_of_the_platform(
    shared_sandbox: Sandbox, wms: str, key: str | None, category: str, entity: str
) -> None:
    key = key or wms
    expected = http_all(shared_sandbox, key, f"/api/{category}/{entity}")
    assert expected
    result = run("records", "list", entity, "--connection", key, env=shared_sandbox.env)
    assert result.code == 0, result
    assert result.jsonl() == expected  # piped: every page, as jsonl
    # The category is remembered (Tab offers its entities); Makini's scope spelling works.
    again = run(
        "records",
        "list",
        entity.replace("-", "_"),
        "--connection",
        key,
        "--limit",
        "3",
        "--debug",
        env=shared_sandbox.env,
    )
    assert again.code == 0, again
    assert again.jsonl() == expected[:3]
    assert f"reads through {category} (remembered)" in again.stderr


def test_an_entity_the_category_lacks_is_a_usage_error_naming_its_entities(
    shared_sandbox: Sandbox,
) -> None:
    wrong = run("records", "list", "sales-orders", "--connection", EAM, env=shared_sandbox.env)
    assert wrong.code == 2, wrong
    assert "not an entity of the eam category" in wrong.stderr
    assert "work-orders" in wrong.stderr and "purchase-orders" in wrong.stderr
    # Documented for eam, but not served by this server: its 404 names what it serves.
    unserved = run("records", "list", "stocks", "--connection", EAM, env=shared_sandbox.env)
    assert unserved.code == 2, unserved
    assert "served: sites, locations, assets, work-orders" in unserved.stderr
    unknown = run("records", "list", "widgets", "--connection", EAM, env=shared_sandbox.env)
    assert unknown.code == 2 and "unknown entity 'widgets'" in unknown.stderr
    # --category names another category: the server says what this connection serves.
    forced = run(
        "records",
        "list",
        "customers",
        "--connection",
        EAM,
        "--category",
        "erp",
        env=shared_sandbox.env,
    )
    assert forced.code == 2, forced
    assert "served: " in forced.stderr and "work-orders" in forced.stderr
    bad = run("records", "list", "customers", "--connection", EAM, "--category", "mes")
    assert bad.code == 2


def test_a_documented_only_server_is_read_the_same_way(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    served = sandbox_factory("--no-extensions")
    expected = http_all(served, ERP, "/api/erp/sites")
    result = run("records", "list", "sites", "--connection", ERP, "--debug", env=served.env)
    assert result.code == 0, result
    assert result.jsonl() == expected
    assert "reads through erp (platform SAP S/4HANA, kind erp)" in result.stderr


# ---------------------------------------------------------------- paging and queries


def test_limit_stops_across_pages(shared_sandbox: Sandbox) -> None:
    expected = http_all(shared_sandbox, EAM, "/api/eam/work-orders")
    result = run(
        "records",
        "list",
        "work-orders",
        "--connection",
        EAM,
        "--limit",
        "7",
        "--page-size",
        "3",
        "--debug",
        env=shared_sandbox.env,
    )
    assert result.code == 0, result
    assert result.jsonl() == expected[:7]
    pages = [
        ln for ln in result.stderr.splitlines() if "GET " in ln and "/api/eam/work-orders" in ln
    ]
    assert len(pages) == 3, pages  # 3 + 3 + 1: the walk stops where the limit does


def test_filters_operators_and_match_any(shared_sandbox: Sandbox) -> None:
    everything = http_all(shared_sandbox, EAM, "/api/eam/work-orders")
    statuses = sorted({r["status"] for r in everything if "status" in r})
    assert len(statuses) >= 2
    first, second = statuses[:2]
    equal = records(
        shared_sandbox, "work-orders", "--connection", EAM, "--filter", f"status={first}"
    )
    assert equal == [r for r in everything if r.get("status") == first]
    either = records(
        shared_sandbox,
        "work-orders",
        "--connection",
        EAM,
        "--filter",
        f"status={first}",
        "--filter",
        f"status={second}",
        "--match",
        "any",
    )
    assert either == [r for r in everything if r.get("status") in (first, second)]
    middle = sorted(r["key"] for r in everything)[len(everything) // 2]
    above = records(
        shared_sandbox, "work-orders", "--connection", EAM, "--filter", f"key:gt={middle}"
    )
    assert above == [r for r in everything if r["key"] > middle]
    word = everything[0]["title"].split()[0]
    containing = records(
        shared_sandbox, "work-orders", "--connection", EAM, "--filter", f"title:contains={word}"
    )
    assert containing == [r for r in everything if word.lower() in r.get("title", "").lower()]
    assert containing


def test_bad_filters_fail_before_or_at_the_server(shared_sandbox: Sandbox) -> None:
    local = run(
        "records",
        "list",
        "work-orders",
        "--connection",
        EAM,
        "--filter",
        "key:near=1",
        env=shared_sandbox.env,
    )
    assert local.code == 2 and "unknown operator 'near'" in local.stderr
    assert "startsWith" in local.stderr
    shape = run("records", "list", "work-orders", "--connection", EAM, "--filter", "status")
    assert shape.code == 2
    remote = run(
        "records",
        "list",
        "work-orders",
        "--connection",
        EAM,
        "--filter",
        "noSuchField=1",
        "-o",
        "json",
        env=shared_sandbox.env,
    )
    assert remote.code == 1, remote
    assert remote.stdout == ""
    assert remote.error()["code"] in ("INVALID_REQUEST", "VALIDATION_FAILED")
    assert "noSuchField" in remote.error()["message"]
    assert "--filter" in remote.error()["hint"]


def test_sorting_both_ways(shared_sandbox: Sandbox) -> None:
    everything = http_all(shared_sandbox, EAM, "/api/eam/work-orders")
    up = records(shared_sandbox, "work-orders", "--connection", EAM, "--sort", "title")
    assert [r["title"] for r in up] == sorted(r["title"] for r in everything)
    down = records(shared_sandbox, "work-orders", "--connection", EAM, "--sort", "-key")
    assert [r["key"] for r in down] == sorted((r["key"] for r in everything), reverse=True)
    attached = records(
        shared_sandbox, "work-orders", "--connection", EAM, "--sort=-key", "--limit", "2"
    )
    assert attached == down[:2]


def test_modified_after_a_sync_returns_only_what_it_touched(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    served = sandbox_factory("--clock-speed", "60")
    served.quiet_schedules()
    before = http_all(served, EAM, "/api/eam/work-orders")
    mark = max(r["updatedAt"] for r in before)
    assert records(served, "work-orders", "--connection", EAM, "--modified-after", mark) == []
    synced = run("sync", "run", EAM, "--scope", "work-orders", env=served.env)
    assert synced.code == 0, synced
    after = http_all(served, EAM, "/api/eam/work-orders")
    touched = [r for r in after if r["updatedAt"] > mark]
    assert touched and len(touched) < len(after)
    changed = records(served, "work-orders", "--connection", EAM, "--modified-after", mark)
    assert changed == touched


# ---------------------------------------------------------------- outputs


def test_fields_project_json_and_pick_csv_columns(shared_sandbox: Sandbox) -> None:
    everything = http_all(shared_sandbox, EAM, "/api/eam/work-orders")
    picked = records(
        shared_sandbox,
        "work-orders",
        "--connection",
        EAM,
        "--fields",
        "key,title",
        "--fields",
        "status",
    )
    assert picked == [{k: r[k] for k in ("key", "title", "status") if k in r} for r in everything]
    table = run(
        "records",
        "list",
        "work-orders",
        "--connection",
        EAM,
        "--fields",
        "status,key",
        "-o",
        "csv",
        env=shared_sandbox.env,
    )
    rows = list(csv.reader(io.StringIO(table.stdout)))
    assert rows[0] == ["status", "key"]
    assert rows[1:] == [[r.get("status", ""), r["key"]] for r in everything]


def test_csv_and_json_are_complete(shared_sandbox: Sandbox) -> None:
    everything = http_all(shared_sandbox, EAM_MAXIMO, "/api/eam/assets")
    as_json = run(
        "records",
        "list",
        "assets",
        "--connection",
        EAM_MAXIMO,
        "-o",
        "json",
        env=shared_sandbox.env,
    )
    assert as_json.code == 0, as_json
    assert as_json.json() == everything
    as_csv = run(
        "records", "list", "assets", "--connection", EAM_MAXIMO, "-o", "csv", env=shared_sandbox.env
    )
    assert as_csv.code == 0, as_csv
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == len(everything)
    header = list(rows[0])
    assert header[0] == "key"
    assert set(header) == {name for r in everything for name in r if name != "customFields"}
    for row, record in zip(rows, everything, strict=True):
        for name, value in record.items():
            if isinstance(value, str):
                assert row[name].lstrip("'") == value
            elif isinstance(value, dict | list):
                assert json.loads(row[name]) == value


def define_inspector(sb: Sandbox, key: str, entity: str = "work-orders") -> dict[str, Any]:
    """A custom field `inspector` on `entity`, sourced from a column of a table that
    links to its records (the sandbox says which tables those are)."""
    from makini_cli.sandbox.platforms import get_platform
    from makini_cli.sandbox.unified import linked_tables

    platform = next(c["platform"] for c in sb.connections() if c["key"] == key)
    table = linked_tables(get_platform(platform), entity)[-1]
    column = next(c for c in table.columns if not c.lower().endswith("id"))
    body = {
        "entity": entity,
        "name": "inspector",
        "source": f"{table.name}.{column}",
        "type": "string",
    }
    created: dict[str, Any] = sb.api(
        "POST", f"/api/system/connections/{key}/custom-fields", body
    ).json()["data"]
    return created


def test_custom_fields_show_as_keys_and_columns(sandbox: Sandbox) -> None:
    define_inspector(sandbox, EAM)
    everything = http_all(sandbox, EAM, "/api/eam/work-orders")
    assert all("inspector" in r["customFields"] for r in everything)
    lines = records(sandbox, "work-orders", "--connection", EAM)
    assert lines == everything
    as_csv = run(
        "records", "list", "work-orders", "--connection", EAM, "-o", "csv", env=sandbox.env
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0])[-1] == "customFields.inspector"
    assert [row["customFields.inspector"] for row in rows] == [
        r["customFields"]["inspector"] or "" for r in everything
    ]
    bare = records(sandbox, "work-orders", "--connection", EAM, "--fields", "key,inspector")
    assert bare == [
        {"key": r["key"], "customFields": {"inspector": r["customFields"]["inspector"]}}
        for r in everything
    ]
    by_custom = records(
        sandbox,
        "work-orders",
        "--connection",
        EAM,
        "--sort",
        "-customFields.inspector",
        "--limit",
        "5",
    )
    assert [r["customFields"]["inspector"] for r in by_custom] == sorted(
        (r["customFields"]["inspector"] for r in everything if r["customFields"]["inspector"]),
        reverse=True,
    )[:5]
    shown = run(
        "records",
        "list",
        "work-orders",
        "--connection",
        EAM,
        tty=True,
        columns=220,
        env=sandbox.env,
    )
    assert shown.code == 0, shown
    header = shown.stdout.splitlines()[0].split()
    assert header[0] == "key" and "customFields.inspector" in header
    assert "title" in header


def test_a_terminal_gets_one_page_as_a_table_and_a_note(shared_sandbox: Sandbox) -> None:
    total = len(http_all(shared_sandbox, EAM, "/api/eam/work-orders"))
    assert total > 50
    result = run(
        "records",
        "list",
        "work-orders",
        "--connection",
        EAM,
        "--debug",
        tty=True,
        columns=100,
        env=shared_sandbox.env,
    )
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "key"
    assert len(lines) == 51  # header + 50 rows
    assert all(len(line) <= 100 for line in lines)
    assert f"showing 50 of {total:,} records" in result.stderr
    pages = [
        ln for ln in result.stderr.splitlines() if "/api/eam/work-orders" in ln and "GET " in ln
    ]
    assert len(pages) == 1
    few = run(
        "records",
        "list",
        "work-orders",
        "--connection",
        EAM,
        "--limit",
        "5",
        tty=True,
        env=shared_sandbox.env,
    )
    assert len(few.stdout.splitlines()) == 6
    assert f"showing 5 of {total:,}" in few.stderr


# ---------------------------------------------------------------- get


def test_get_shows_one_record_and_a_missing_one_is_exit_1(shared_sandbox: Sandbox) -> None:
    first = http_all(shared_sandbox, EAM, "/api/eam/work-orders")[0]
    got = run(
        "records", "get", "work-orders", first["key"], "--connection", EAM, env=shared_sandbox.env
    )
    assert got.code == 0, got
    assert got.json() == first
    detail = run(
        "records",
        "get",
        "work_orders",
        first["key"],
        "--connection",
        EAM,
        tty=True,
        env=shared_sandbox.env,
    )
    assert detail.code == 0, detail
    assert first["key"] in detail.stdout and first["title"] in detail.stdout
    missing_key = first["key"][:-6] + "999999"
    missing = run(
        "records", "get", "work-orders", missing_key, "--connection", EAM, env=shared_sandbox.env
    )
    assert missing.code == 1, missing
    assert "makini records list work-orders --connection" in missing.stderr


# ---------------------------------------------------------------- health gate


@pytest.mark.parametrize(
    ("key", "code", "error"),
    [
        (OFFLINE, 5, "SYSTEM_UNREACHABLE"),
        (REAUTH, 7, "REAUTHORIZATION_REQUIRED"),
        (INACTIVE, 1, "INSUFFICIENT_CREDITS"),
    ],
)
def test_an_unreadable_system_gets_its_exit_code_and_nothing_on_stdout(
    shared_sandbox: Sandbox, key: str, code: int, error: str
) -> None:
    result = run(
        "records", "list", "sites", "--connection", key, "-o", "json", env=shared_sandbox.env
    )
    assert result.code == code, result
    assert result.stdout == ""
    assert result.error()["code"] == error and result.error()["hint"]


def test_an_outage_stops_an_export_and_leaves_no_file(sandbox: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "out" / "work-orders.jsonl"
    target.parent.mkdir()
    target.write_text("earlier export\n")
    assert run("sandbox", "outage", EAM, "--for", "5m", env=sandbox.env).code == 0
    result = run(
        "records",
        "export",
        "work-orders",
        "--connection",
        EAM,
        "--output-file",
        str(target),
        env=sandbox.env,
    )
    assert result.code == 5, result
    assert "SYSTEM_UNREACHABLE" in result.stderr
    assert list(target.parent.iterdir()) == [target]
    assert target.read_text() == "earlier export\n"


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("mode", ["jsonl", "csv", "json"])
def test_export_writes_every_record_to_a_file(
    shared_sandbox: Sandbox, tmp_path: Path, mode: str
) -> None:
    everything = http_all(shared_sandbox, ERP, "/api/erp/sales-orders")
    target = tmp_path / f"orders.{mode}"
    args = ["records", "export", "sales-orders", "--connection", ERP, "--output-file", str(target)]
    if mode != "jsonl":
        args += ["-o", mode]
    result = run(*args, env=shared_sandbox.env)
    assert result.code == 0, result
    assert result.stdout == ""
    assert f"exported {len(everything):,} records to {target}" in result.stderr
    text = target.read_text()
    if mode == "jsonl":
        assert [json.loads(line) for line in text.splitlines()] == everything
    elif mode == "json":
        assert json.loads(text) == everything
    else:
        assert len(list(csv.DictReader(io.StringIO(text)))) == len(everything)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_to_stdout_and_its_refusals(shared_sandbox: Sandbox, tmp_path: Path) -> None:
    everything = http_all(shared_sandbox, ERP, "/api/erp/sites")
    piped = run("records", "export", "sites", "--connection", ERP, env=shared_sandbox.env)
    assert piped.code == 0, piped
    assert piped.jsonl() == everything
    table = run(
        "records", "export", "sites", "--connection", ERP, "-o", "table", env=shared_sandbox.env
    )
    assert table.code == 2 and "jsonl, csv or json" in table.stderr
    nowhere = run(
        "records",
        "export",
        "sites",
        "--connection",
        ERP,
        "--output-file",
        str(tmp_path / "missing" / "x.jsonl"),
        env=shared_sandbox.env,
    )
    assert nowhere.code == 2 and "not a directory" in nowhere.stderr


def test_tab_offers_the_entities_of_the_connections_category(bundled: Sandbox) -> None:
    import typer

    from makini_cli import completion
    from makini_cli.main import GLOBAL_OPTIONS, app

    key = create_connection(bundled, "tecsys-wms")
    assert run("records", "list", "stocks", "--connection", key, "--limit", "1").code == 0
    tree = completion.describe(typer.main.get_command(app), GLOBAL_OPTIONS)
    line = ["records", "list", "--connection", key]
    offered = [value for value, _ in completion.complete(tree, line, "").items]
    from makini_cli.vocabulary import ENTITIES

    assert offered == list(ENTITIES["wms"])  # Makini's wms entities only
    assert "stocks" in offered and "work-orders" not in offered
    elsewhere = completion.complete(tree, ["records", "list", "--connection", EAM], "w")
    assert [value for value, _ in elsewhere.items] == ["work-orders"]  # not known: every one


def test_export_progress_is_for_a_terminal_only(shared_sandbox: Sandbox, tmp_path: Path) -> None:
    args = ("records", "export", "sites", "--connection", ERP, "--output-file")
    shown = run(*args, str(tmp_path / "a.jsonl"), tty=True, env=shared_sandbox.env)
    assert shown.code == 0, shown
    assert " records · " in shown.stderr and "\x1b[2K" in shown.stderr  # drawn, then erased
    assert shown.stdout == ""
    plain = run(*args, str(tmp_path / "b.jsonl"), env=shared_sandbox.env)
    assert plain.code == 0 and "\x1b" not in plain.stderr and " records · " not in plain.stderr
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    quiet = run(*args, str(tmp_path / "c.jsonl"), "-q", tty=True, env=shared_sandbox.env)
    assert quiet.code == 0 and quiet.stderr == ""
