"""`makini custom-fields` against a served sandbox: CRUD, the server's 422s and their
hints, and configuration as code (export → diff → apply, and apply again)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

from makini_cli import completion, fieldfile
from makini_cli.fieldfile import FieldSpec
from makini_cli.main import app
from tests.cli.conftest import Sandbox as Served
from tests.inproc import invoke as run

#: The seeded UpKeep connection (an EAM system): `custom_inspections` extends its
#: `work_orders` table 1:1, so its columns can source work-order fields.
KEY = "10000715260448"
INSPECTOR = "custom_inspections.inspector"
INSPECTED_ON = "custom_inspections.inspected_on"
SCORE = "custom_inspections.criticality_score"
SERIAL = "assets.serial_number"
SCOPE = completion.scope("sandbox", "sandbox")
#: a loopback port nothing listens on: commands that must fail before a request
NOWHERE = {"MAKINI_BASE_URL": "http://127.0.0.1:9"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def create(env: dict[str, str], entity: str, name: str, source: str, type_: str) -> Any:
    made = run(
        "custom-fields", "create", KEY, "--entity", entity, "--name", name,
        "--source", source, "--type", type_, env=env,
    )  # fmt: skip
    assert made.code == 0, made
    return made.json()


def names(env: dict[str, str], *args: str) -> list[tuple[str, str]]:
    listed = run("custom-fields", "list", KEY, *args, env=env)
    assert listed.code == 0, listed
    return [(row["entity"], row["name"]) for row in listed.jsonl()]


def test_create_list_update_and_delete(sandbox: Served) -> None:
    env = sandbox.env
    made = create(env, "work-orders", "inspector", INSPECTOR, "string")
    assert made["key"].startswith("cf_") and made["entity"] == "work-orders"
    assert made["source"] == INSPECTOR and made["type"] == "string"
    assert made["writable"] is False and made["created_at"] and made["updated_at"]
    create(env, "assets", "serialNo", SERIAL, "string")
    # By entity, then name; every field as the API has it.
    listed = run("custom-fields", "list", KEY, env=env)
    assert listed.code == 0, listed
    assert [(r["entity"], r["name"]) for r in listed.jsonl()] == [
        ("assets", "serialNo"),
        ("work-orders", "inspector"),
    ]
    assert listed.jsonl()[1] == made
    assert names(env, "--entity", "work-orders") == [("work-orders", "inspector")]
    as_json = run("custom-field", "list", KEY, "-o", "json", env=env)  # the singular alias
    assert as_json.code == 0 and as_json.json() == listed.jsonl()
    as_csv = run("custom-fields", "list", KEY, "-o", "csv", env=env)
    assert as_csv.stdout.splitlines()[0].split(",")[:4] == ["key", "entity", "name", "source"]

    table = run("custom-fields", "list", KEY, env=env, tty=True, columns=120)
    assert table.code == 0, table
    header = table.stdout.splitlines()[0].split()
    assert header[:6] == ["NAME", "ENTITY", "TYPE", "SOURCE", "WRITABLE", "UPDATED"]
    assert "just now" in table.stdout or "ago" in table.stdout  # an age, not a time

    # By name, or by key; only what is given changes.
    changed = run(
        "custom-fields", "update", KEY, "inspector", "--type", "number", "--writable",
        "--source", SCORE, env=env,
    )  # fmt: skip
    assert changed.code == 0, changed
    assert changed.json()["key"] == made["key"] and changed.json()["type"] == "number"
    assert changed.json()["writable"] is True and changed.json()["source"] == SCORE
    renamed = run("custom-fields", "update", KEY, made["key"], "--name", "score", env=env)
    assert renamed.code == 0, renamed
    assert renamed.json()["name"] == "score" and renamed.json()["type"] == "number"
    assert "updated custom field work-orders/score" in renamed.stderr
    back = run("custom-fields", "update", KEY, "score", "--read-only", env=env).json()
    assert back["writable"] is False

    # Destructive: asked on a terminal, refused without one unless --yes.
    refused = run("custom-fields", "delete", KEY, "score", env=env)
    assert refused.code == 6 and "--yes" in refused.stderr, refused
    declined = run("custom-fields", "delete", KEY, "score", env=env, tty=True, input="n\n")
    assert declined.code == 6, declined
    assert ("work-orders", "score") in names(env)
    asked = run("custom-fields", "delete", KEY, "score", env=env, tty=True, input="y\n")
    assert asked.code == 0, asked
    assert "customFields.score" in asked.stderr  # the question says what is lost
    gone = run("custom-fields", "delete", KEY, "serialNo", "--yes", env=env)
    assert gone.code == 0 and gone.stdout == "", gone
    assert "deleted custom field assets/serialNo" in gone.stderr
    assert names(env) == []
    empty = run("custom-fields", "list", KEY, "-o", "json", env=env)
    assert empty.code == 0 and empty.json() == []


def test_a_name_on_two_entities_needs_entity_and_an_unknown_one_is_not_found(
    sandbox: Served,
) -> None:
    env = sandbox.env
    create(env, "work-orders", "label", INSPECTOR, "string")
    create(env, "assets", "label", SERIAL, "string")
    ambiguous = run("custom-fields", "update", KEY, "label", "--type", "number", env=env)
    assert ambiguous.code == 2, ambiguous
    assert "assets, work-orders" in ambiguous.stderr and "--entity" in ambiguous.stderr
    assert run("custom-fields", "delete", KEY, "label", "--yes", env=env).code == 2
    one = run(
        "custom-fields", "update", KEY, "label", "--entity", "assets", "--type", "number",
        env=env,
    )  # fmt: skip
    assert one.code == 0 and one.json()["entity"] == "assets", one
    missing = run("custom-fields", "delete", KEY, "nothing", "--yes", "-o", "json", env=env)
    assert missing.code == 1, missing
    err = missing.error()
    assert err["code"] == "NOT_FOUND" and f"custom-fields list {KEY}" in err["hint"]
    unknown_key = run("custom-fields", "update", KEY, "cf_0000000000000000", "--type", "date",
                      env=env)  # fmt: skip
    assert unknown_key.code == 1 and "NOT_FOUND" in unknown_key.stderr
    no_such_connection = run("custom-fields", "list", "00000000000000", env=env)
    assert no_such_connection.code == 1, no_such_connection
    assert "makini connections list" in no_such_connection.stderr


def one_line_error(result: Any) -> str:
    assert result.code == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    return str(lines[0])


def test_the_server_s_422s_reach_the_user_with_what_exists(sandbox: Served) -> None:
    env = sandbox.env

    def attempt(entity: str, name: str, source: str, *extra: str) -> Any:
        return run(
            "custom-fields", "create", KEY, "--entity", entity, "--name", name,
            "--source", source, "--type", "string", *extra, env=env,
        )  # fmt: skip

    # The server's message lists what exists; the line says it once, and where to look.
    no_table = one_line_error(attempt("work-orders", "inspector", "NO_SUCH.COLUMN"))
    assert "[VALIDATION_FAILED]" in no_table and "'NO_SUCH'" in no_table
    assert no_table.count("custom_inspections") == 1 and "work_orders" in no_table
    assert f"`makini raw tables {KEY}` lists every table and its columns" in no_table

    no_column = one_line_error(attempt("work-orders", "inspector", "custom_inspections.nope"))
    assert "'nope'" in no_column and no_column.count("inspected_on") == 1

    # A table with no row per work order cannot source one: the line names those that can.
    unlinked = one_line_error(attempt("work-orders", "inspector", SERIAL))
    assert "work_orders, custom_inspections" in unlinked and "sites" not in unlinked

    # An entity this (EAM) connection does not serve.
    not_served = one_line_error(attempt("customers", "inspector", INSPECTOR))
    assert "work-orders" in not_served and "use one of the entities named above" in not_served

    create(env, "work-orders", "inspector", INSPECTOR, "string")
    taken = one_line_error(attempt("work-orders", "inspector", INSPECTED_ON))
    assert re.search(r"pick another name, or change cf_[0-9a-f]{16}", taken), taken

    as_json = attempt("work-orders", "x", "NO_SUCH.COLUMN", "-o", "json")
    assert as_json.code == 1 and as_json.stdout == ""
    err = as_json.error()
    assert err["code"] == "VALIDATION_FAILED" and err["http_status"] == 422
    assert "custom_inspections" in err["message"] and err["exit_code"] == 1
    assert err["hint"] == f"`makini raw tables {KEY}` lists every table and its columns"


def test_a_terse_422_gets_what_exists_in_its_hint() -> None:
    # Makini's own messages may not list what exists: the details then go in the hint.
    from makini_cli.commands.custom_fields import _validation_hint

    details = {
        "fields": {"source": ["unknown table"]},
        "tables": [f"T{n}" for n in range(20)],
    }
    hint = _validation_hint(KEY, details, "The given data was invalid")
    assert hint is not None
    assert hint.startswith("tables that exist: T0, T1, ") and "T14 … and 5 more" in hint
    assert hint.endswith(f"`makini raw tables {KEY}` lists every table and its columns")
    columns = _validation_hint(KEY, {"columns": ["A", "B"]}, "no such column")
    assert columns is not None and columns.startswith("columns that exist: A, B; ")
    served = _validation_hint(KEY, {"entities": ["sites", "assets"]}, "not served")
    assert served == "entities this connection serves: sites, assets"
    assert _validation_hint(KEY, {"fields": {"type": ["bad"]}}, "bad") is None


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("create", KEY, "--entity", "work-orders", "--name", "Inspector",
          "--source", INSPECTOR, "--type", "string"), "not camelCase"),
        (("create", KEY, "--entity", "work-orders", "--name", "inspector",
          "--source", "INSPECTOR", "--type", "string"), "not TABLE.COLUMN"),
        (("create", KEY, "--entity", "work-order", "--name", "inspector",
          "--source", INSPECTOR, "--type", "string"), "did you mean 'work-orders'?"),
        (("create", KEY, "--entity", "work-orders", "--name", "inspector",
          "--source", INSPECTOR, "--type", "text"), "'string'"),
        (("update", KEY, "inspector"), "nothing to change"),
        (("update", KEY, "inspector", "--name", "in_spector"), "not camelCase"),
        (("export", KEY, "-o", "yaml"), "'toml'"),
        (("diff", KEY), "--file"),
    ],
)  # fmt: skip
def test_usage_errors_are_exit_2_before_any_request(argv: tuple[str, ...], says: str) -> None:
    result = run("custom-fields", *argv, env=NOWHERE)
    assert result.code == 2, result
    assert says in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def write(path: Path, fields: list[FieldSpec], fmt: str = "toml", key: str | None = KEY) -> str:
    """A file as `export` would write it."""
    text = fieldfile.dumps(key, fields, fmt)  # type: ignore[arg-type]
    path.write_text(text, encoding="utf-8")
    return text


def test_export_diff_apply_round_trip(sandbox: Served, tmp_path: Path) -> None:
    env = sandbox.env
    create(env, "work-orders", "inspector", INSPECTOR, "string")
    create(env, "work-orders", "inspectedOn", INSPECTED_ON, "date")
    create(env, "assets", "serialNo", SERIAL, "string")

    exported = run("custom-fields", "export", KEY, env=env)
    assert exported.code == 0, exported
    doc = tomllib.loads(exported.stdout)
    assert doc["connection"] == KEY
    assert list(doc["fields"]) == ["assets", "work-orders"]
    assert [f["name"] for f in doc["fields"]["work-orders"]] == ["inspectedOn", "inspector"]
    assert doc["fields"]["assets"] == [
        {"name": "serialNo", "source": SERIAL, "type": "string", "writable": False}
    ]
    assert "cf_" not in exported.stdout and "created_at" not in exported.stdout
    one = run("custom-fields", "export", KEY, "--entity", "assets", env=env)
    assert one.code == 0, one
    assert list(tomllib.loads(one.stdout)["fields"]) == ["assets"]
    assert "deletes those of every other entity" in one.stderr  # a partial file warns
    path = tmp_path / "fields.toml"
    path.write_text(exported.stdout, encoding="utf-8")

    in_sync = run("custom-fields", "diff", KEY, "-f", str(path), env=env)
    assert in_sync.code == 0, in_sync
    assert in_sync.json() == {"changes": [], "in_sync": True}
    assert "in sync" in in_sync.stderr

    # The file changes: one field's type, one removed, one renamed, one new.
    edited = [
        FieldSpec("work-orders", "inspectionDate", INSPECTED_ON, "date"),
        FieldSpec("work-orders", "inspector", INSPECTOR, "string", writable=True),
        FieldSpec("work-orders", "criticality", SCORE, "number"),
    ]
    text = write(path, edited)
    drift = run("custom-fields", "diff", KEY, "-f", str(path), "-o", "json", env=env)
    assert drift.code == 9, drift
    changes = drift.json()["changes"]
    assert drift.json()["in_sync"] is False
    assert [(c["action"], c["entity"], c["name"]) for c in changes] == [
        ("delete", "assets", "serialNo"),
        ("delete", "work-orders", "inspectedOn"),
        ("update", "work-orders", "inspector"),
        ("create", "work-orders", "criticality"),
        ("create", "work-orders", "inspectionDate"),
    ]
    assert changes[2]["from"]["writable"] is False and changes[2]["to"]["writable"] is True
    assert changes[0]["to"] is None and changes[3]["from"] is None
    assert f"makini custom-fields apply {KEY} -f {path}" in drift.stderr

    # On a terminal: coloured lines, + green, ~ yellow, - red, old → new per attribute.
    shown = run(
        "custom-fields", "diff", KEY, "-f", str(path), "--color", "always", env=env, tty=True
    )
    assert shown.code == 9, shown
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("\x1b[31m- delete  assets/serialNo")
    assert any(line.startswith("\x1b[33m~ update  work-orders/inspector") for line in lines)
    assert any("writable" in line and "false → true" in line for line in lines)
    assert any(line.startswith("\x1b[32m+ create  work-orders/criticality") for line in lines)
    assert "renamed to inspectionDate?" in ANSI.sub("", shown.stdout)
    assert "\x1b[" not in run("custom-fields", "diff", KEY, "-f", str(path), env=env,
                              tty=True).stdout  # NO_COLOR  # fmt: skip

    before = run("custom-fields", "list", KEY, env=env).jsonl()
    dry = run("custom-fields", "apply", KEY, "-f", str(path), "--dry-run", env=env)
    assert dry.code == 0, dry
    assert dry.json()["dry_run"] is True and dry.json()["in_sync"] is False
    assert {c["status"] for c in dry.json()["changes"]} == {"planned"}
    assert "- delete  assets/serialNo" in dry.stderr and "nothing was changed" in dry.stderr
    assert run("custom-fields", "list", KEY, env=env).jsonl() == before

    refused = run("custom-fields", "apply", KEY, "-f", str(path), env=env)
    assert refused.code == 6 and "--yes" in refused.stderr, refused
    assert run("custom-fields", "list", KEY, env=env).jsonl() == before

    applied = run("custom-fields", "apply", KEY, "-f", str(path), "--yes", env=env)
    assert applied.code == 0, applied
    result = applied.json()
    assert result["in_sync"] is True and result["dry_run"] is False
    assert [c["status"] for c in result["changes"]] == ["applied"] * 5
    # The plan on stderr, in the order applied, then each change as it is made.
    err = applied.stderr
    assert err.index("- delete  assets/serialNo") < err.index("deleted assets/serialNo")
    assert err.index("deleted work-orders/inspectedOn") < err.index("updated work-orders/inspector")
    assert err.index("updated work-orders/inspector") < err.index("created work-orders/criticality")

    again = run("custom-fields", "apply", KEY, "-f", str(path), env=env)  # no --yes needed
    assert again.code == 0, again
    assert "nothing to change" in again.stderr
    assert again.json() == {"dry_run": False, "changes": [], "in_sync": True}
    assert run("custom-fields", "diff", KEY, "-f", str(path), env=env).code == 0

    after = run("custom-fields", "export", KEY, env=env)
    assert after.code == 0 and after.stdout == text


def test_json_files_stdin_and_a_confirmation_on_a_terminal(sandbox: Served) -> None:
    env = sandbox.env
    create(env, "work-orders", "inspector", INSPECTOR, "string")
    exported = run("custom-fields", "export", KEY, "-o", "json", env=env)
    assert exported.code == 0, exported
    doc = json.loads(exported.stdout)
    assert doc == {
        "connection": KEY,
        "fields": {
            "work-orders": [
                {"name": "inspector", "source": INSPECTOR, "type": "string", "writable": False}
            ]
        },
    }
    # A global -o json means the same.
    assert run("-o", "json", "custom-fields", "export", KEY, env=env).stdout == exported.stdout

    # The flat form, from stdin (sniffed as JSON), without a connection.
    flat = {
        "fields": [
            {"entity": "work-orders", "name": "inspector", "source": INSPECTOR, "type": "string"},
            {"entity": "work-orders", "name": "score", "source": SCORE, "type": "number"},
        ]
    }
    piped = run("custom-fields", "diff", KEY, "-f", "-", env=env, input=json.dumps(flat))
    assert piped.code == 9, piped
    assert [c["name"] for c in piped.json()["changes"]] == ["score"]

    declined = run(
        "custom-fields", "apply", KEY, "-f", "-", env=env, tty=True, input=json.dumps(flat)
    )
    # stdin holds the file, so the answer to the question is not "y": nothing happens.
    assert declined.code == 6, declined
    assert names(env) == [("work-orders", "inspector")]

    toml_in = "[[fields]]\nentity = 'work-orders'\nname = 'score'\nsource = '" + SCORE
    toml_in += "'\ntype = 'number'\n"
    applied = run("custom-fields", "apply", KEY, "-f", "-", "--yes", env=env, input=toml_in)
    assert applied.code == 0, applied
    assert names(env) == [("work-orders", "score")]


def test_apply_asks_on_a_terminal(sandbox: Served, tmp_path: Path) -> None:
    env = sandbox.env
    path = tmp_path / "fields.json"
    write(path, [FieldSpec("work-orders", "inspector", INSPECTOR, "string")], "json")
    asked = run("custom-fields", "apply", KEY, "-f", str(path), env=env, tty=True, input="y\n")
    assert asked.code == 0, asked
    assert f"Apply this change to connection {KEY}? [y/N]" in asked.stderr
    assert "+ create  work-orders/inspector" in asked.stderr
    assert asked.stdout == ""  # people read stderr; the result is for -o json
    assert names(env) == [("work-orders", "inspector")]


def test_apply_stops_at_a_failure_and_says_what_was_done(sandbox: Served, tmp_path: Path) -> None:
    env = sandbox.env
    create(env, "assets", "serialNo", SERIAL, "string")
    path = tmp_path / "fields.toml"
    write(
        path,
        [
            FieldSpec("work-orders", "inspector", INSPECTOR, "string"),
            FieldSpec("work-orders", "broken", "NO_SUCH.COLUMN", "string"),
        ],
    )
    failed = run("custom-fields", "apply", KEY, "-f", str(path), "--yes", env=env)
    assert failed.code == 1, failed
    statuses = [(c["action"], c["name"], c["status"]) for c in failed.json()["changes"]]
    assert statuses == [
        ("delete", "serialNo", "applied"),
        ("create", "broken", "failed"),
        ("create", "inspector", "not_applied"),
    ]
    assert failed.json()["in_sync"] is False
    assert "apply stopped at create work-orders/broken: 1 of 3 changes made" in failed.stderr
    assert "made: -assets/serialNo" in failed.stderr
    assert "not made: +work-orders/broken, +work-orders/inspector" in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "[VALIDATION_FAILED]" in last
    assert "its tables: " in last and f"`makini raw tables {KEY}`" in last
    assert names(env) == []


@pytest.mark.parametrize(
    ("content", "name", "says"),
    [
        ('connection = "1"\n[[fields]\n', "f.toml", "f.toml: invalid TOML: "),
        ('{"fields": [}', "f.json", "f.json: invalid JSON at line 1, column 13"),
        (
            "[[fields.work-orders]]\nname = 'a'\nsource = 'T.C'\ntype = 'string'\n"
            "writabel = true\n",
            "f.toml",
            "fields.work-orders #1 (a): unknown key 'writabel'",
        ),
        ("[[fields]]\nentity = 'assets'\nname = 'a'\n", "f.toml", "source is missing"),
        (
            "[[fields]]\nentity = 'assets'\nname = 'a'\nsource = 'T.C'\ntype = 'int'\n",
            "f.toml",
            "type 'int' is not one of string, number, boolean, date",
        ),
        (
            "[[fields]]\nentity = 'assets'\nname = 'a'\nsource = 'T.C'\ntype = 'date'\n" * 2,
            "f.toml",
            "fields #2 (assets/a): the same field as fields #1",
        ),
        ('connection = "00000000000001"\n', "f.toml", "is for connection 00000000000001, not"),
        (None, "missing.toml", "cannot read missing.toml"),
    ],
)
def test_a_bad_file_is_exit_2_with_one_clear_line(
    content: str | None, name: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        Path(name).write_text(content, encoding="utf-8")
    for command in ("diff", "apply"):
        # Checked before a request: nothing listens on NOWHERE.
        result = run("custom-fields", command, KEY, "-f", name, env=NOWHERE)
        assert result.code == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    if content and content.startswith('connection = "1"'):
        assert "line 2" in run("custom-fields", "diff", KEY, "-f", name, env=NOWHERE).stderr


def test_without_the_extension_every_command_names_the_capability(
    sandbox_factory: Callable[..., Served], tmp_path: Path
) -> None:
    env = sandbox_factory("--no-extensions").env
    path = tmp_path / "fields.toml"
    write(path, [FieldSpec("work-orders", "inspector", INSPECTOR, "string")])
    for argv in (
        ("list", KEY),
        ("create", KEY, "--entity", "work-orders", "--name", "inspector", "--source",
         INSPECTOR, "--type", "string"),
        ("update", KEY, "inspector", "--type", "number"),
        ("delete", KEY, "inspector", "--yes"),
        ("export", KEY),
        ("diff", KEY, "-f", str(path)),
        ("apply", KEY, "-f", str(path), "--yes"),
    ):  # fmt: skip
        result = run("custom-fields", *argv, env=env)
        assert result.code == 1, result
        assert "capability 'custom_fields'" in result.stderr, result
        assert result.stdout == ""


def test_tab_offers_the_field_names_commands_saw(bundled: Served) -> None:
    create({}, "work-orders", "inspector", INSPECTOR, "string")
    create({}, "assets", "serialNo", SERIAL, "string")

    def cached() -> dict[str, str | None]:
        return dict(completion.cached(SCOPE, f"custom_fields:{KEY}"))

    assert cached() == {
        "inspector": f"work-orders · {INSPECTOR}",
        "serialNo": f"assets · {SERIAL}",
    }
    assert run("custom-fields", "update", KEY, "inspector", "--name", "checker").code == 0
    assert set(cached()) == {"checker", "serialNo"}
    assert run("custom-fields", "delete", KEY, "serialNo", "--yes").code == 0
    assert set(cached()) == {"checker"}
    # One entity's list replaces that entity's names only; a full list replaces all.
    completion.remember_custom_fields(
        SCOPE, KEY, [("stale", "assets · X.Y"), ("checker", f"work-orders · {INSPECTOR}")]
    )
    assert run("custom-fields", "list", KEY, "--entity", "work-orders").code == 0
    assert set(cached()) == {"stale", "checker"}
    assert run("custom-fields", "list", KEY).code == 0
    assert set(cached()) == {"checker"}

    tree = completion.describe(typer.main.get_command(app))

    def offered(*args: str, word: str = "") -> list[str]:
        return [value for value, _ in completion.complete(tree, list(args), word).items]

    for command in ("update", "delete"):
        assert offered("custom-fields", command, KEY) == ["checker"], command
    assert offered("custom-fields", "delete", "00000000000000") == []
    assert "work-orders" in offered("custom-fields", "list", KEY, "--entity", word="work")
    assert offered("custom-fields", "export", KEY, "-o") == ["toml", "json"]
    assert offered("custom-fields", "create", KEY, "--type", word="b") == ["boolean"]
    # `records … --fields a,b`: the last name of the list completes, the rest is kept.
    line = ("records", "list", "work-orders", "--connection", KEY, "--fields")
    assert offered(*line, word="key,che") == ["key,checker"]


def test_a_defined_field_shows_on_the_entity_s_records(sandbox: Served) -> None:
    env = sandbox.env
    token = run("connections", "token", KEY, env=env)
    assert token.code == 0, token
    import httpx

    def first_work_order() -> dict[str, Any]:
        resp = httpx.get(
            f"{sandbox.url}/api/eam/work-orders",
            params={"per_page": 1},
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
        )
        assert resp.status_code == 200, resp.text
        record: dict[str, Any] = resp.json()["data"][0]
        return record

    assert "customFields" not in first_work_order()
    create(env, "work-orders", "inspector", INSPECTOR, "string")
    create(env, "work-orders", "criticality", SCORE, "number")
    fields = first_work_order()["customFields"]
    assert set(fields) == {"inspector", "criticality"}
    assert fields["inspector"] is None or isinstance(fields["inspector"], str)
    assert fields["criticality"] is None or isinstance(fields["criticality"], int | float)
    assert run("custom-fields", "delete", KEY, "criticality", "--yes", env=env).code == 0
    assert set(first_work_order()["customFields"]) == {"inspector"}
