"""The custom-fields file: reading TOML and JSON, its one-line errors, writing it, and the
plan that makes a server match it."""

from __future__ import annotations

import json
import tomllib

import pytest

from makini_cli import fieldfile
from makini_cli.fieldfile import FieldFile, FieldFileError, FieldSpec, make_plan, parse
from makini_cli.output import fieldplan

INSPECTOR = FieldSpec("work-orders", "inspector", "ZPM_INSP.INSPECTOR", "string")
DUE = FieldSpec("work-orders", "inspectionDue", "ZPM_INSP.DUE_DATE", "date", writable=True)
RATING = FieldSpec("assets", "rating", "ZASSET.RATING", "number")

FLAT = """\
connection = "10000715260448"   # optional

[[fields]]
entity = "work-orders"
name = "inspector"
source = "ZPM_INSP.INSPECTOR"
type = "string"
writable = false

[[fields]]
entity = "assets"
name = "rating"
source = "ZASSET.RATING"
type = "number"
"""


def test_the_flat_toml_form_reads_with_writable_defaulting_to_false() -> None:
    parsed = parse(FLAT, where="fields.toml", fmt="toml")
    assert parsed == FieldFile("10000715260448", (INSPECTOR, RATING))


def test_what_export_writes_reads_back_the_same_in_both_formats() -> None:
    fields = [RATING, DUE, INSPECTOR]
    for fmt in ("toml", "json"):
        text = fieldfile.dumps("10000715260448", fields, fmt)
        parsed = parse(text, where=f"f.{fmt}")  # sniffed
        # Sorted by (entity, name), whatever order they came in.
        assert parsed == FieldFile("10000715260448", (RATING, DUE, INSPECTOR))
        # The same fields always make the same file.
        assert fieldfile.dumps("10000715260448", reversed(fields), fmt) == text


def test_export_groups_fields_by_entity_without_server_only_fields() -> None:
    text = fieldfile.dumps("10000715260448", [INSPECTOR, RATING], "toml")
    assert text.startswith("# ")  # says how to apply it
    doc = tomllib.loads(text)
    assert doc == {
        "connection": "10000715260448",
        "fields": {
            "assets": [
                {"name": "rating", "source": "ZASSET.RATING", "type": "number", "writable": False}
            ],
            "work-orders": [
                {
                    "name": "inspector",
                    "source": "ZPM_INSP.INSPECTOR",
                    "type": "string",
                    "writable": False,
                }
            ],
        },
    }
    assert json.loads(fieldfile.dumps("10000715260448", [INSPECTOR, RATING], "json")) == doc


def test_no_fields_at_all_is_a_file_too() -> None:
    for fmt in ("toml", "json"):
        text = fieldfile.dumps("10000715260448", [], fmt)
        assert parse(text, where="f") == FieldFile("10000715260448", ())
    assert parse("", where="f") == FieldFile(None, ())


def test_invisible_and_control_characters_are_escaped_in_toml_and_read_back() -> None:
    odd = FieldSpec("work-orders", "inspector", "Z\u202eTBL\x85.C\u2028OL\x1b", "string")
    text = fieldfile.dumps(None, [odd], "toml")
    assert not any(ch in text for ch in "\u202e\x85\u2028\x1b")
    doc = tomllib.loads(text)
    assert doc["fields"]["work-orders"][0]["source"] == odd.source
    assert not any(ch in fieldfile.dumps(None, [odd], "json") for ch in "\u202e\x85\u2028\x1b")


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        (
            "[[fields]]\nentity = 'work-orders'\nname = 'a'\n",
            "toml",
            "fields #1 (a): source is missing",
        ),
        (
            '{"fields": [{"entity": "work-orders", "name": "a", "source": "T.C", "type": "text"}]}',
            "json",
            "fields #1 (a): type 'text' is not one of string, number, boolean, date",
        ),
        (
            '{"fields": {"work-orders": [{"name": "a", "source": "T.C", "type": "date", '
            '"writeable": true}]}}',
            "json",
            "fields.work-orders #1 (a): unknown key 'writeable'; allowed: name, source, type, "
            "writable",
        ),
        ("connection = 1\n", "toml", "connection must be a connection key in quotes"),
        ("conection = '1'\n", "toml", "unknown key 'conection' at the top"),
        ("fields = 'x'\n", "toml", "fields must be a list of fields"),
        (
            "[[fields]]\nentity = 'work-order'\nname = 'a'\nsource = 'T.C'\ntype = 'date'\n",
            "toml",
            "fields #1 (a): entity 'work-order' is not one Makini documents;"
            " did you mean 'work-orders'?",
        ),
        (
            "[[fields]]\nentity = 'assets'\nname = 'Bad_Name'\nsource = 'T.C'\ntype = 'date'\n",
            "toml",
            "name 'Bad_Name' is not camelCase",
        ),
        (
            "[[fields]]\nentity = 'assets'\nname = 'a'\nsource = 'TC'\ntype = 'date'\n",
            "toml",
            "source 'TC' is not TABLE.COLUMN",
        ),
        (
            "[[fields]]\nentity = 'assets'\nname = 'a'\nsource = 'T.C'\ntype = 'date'\n"
            "writable = 'yes'\n",
            "toml",
            "writable must be true or false",
        ),
        (
            "[[fields.assets]]\nentity = 'sites'\nname = 'a'\nsource = 'T.C'\ntype = 'date'\n",
            "toml",
            "unknown key 'entity' (the group names the entity)",
        ),
        ('{"fields": {"assets": {"name": "a"}}}', "json", "fields.assets must be a list"),
        ("[1, 2]", "json", "expected an object with `connection` and `fields`"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_the_entry_and_the_fix(
    text: str, fmt: str, expected: str
) -> None:
    with pytest.raises(FieldFileError) as caught:
        parse(text, where="my.fields", fmt=fmt)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("my.fields: ") and expected in message, message
    assert "\n" not in message


def test_duplicates_name_both_entries() -> None:
    again = "[[fields]]\nentity = 'work-orders'\nname = 'inspector'\nsource = 'A.B'\n"
    text = f"{FLAT}\n{again}type = 'date'\n"
    with pytest.raises(
        FieldFileError, match=r"fields #3 \(work-orders/inspector\): the same field as fields #1"
    ):
        parse(text, where="f.toml", fmt="toml")
    # The same name on another entity is another field.
    ok = (
        FLAT
        + "\n[[fields]]\nentity = 'assets'\nname = 'inspector'\nsource = 'A.B'\ntype = 'date'\n"
    )
    assert len(parse(ok, where="f.toml").fields) == 3


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(FieldFileError, match=r"f.toml: invalid TOML: .*line 3"):
        parse('connection = "1"\n\n[[fields]\n', where="f.toml", fmt="toml")
    with pytest.raises(FieldFileError, match=r"f.json: invalid JSON at line 2, column \d+"):
        parse('{"fields": [\n  {"name": }]}', where="f.json", fmt="json")


def test_formats_come_from_the_extension_or_are_sniffed() -> None:
    assert fieldfile.format_for("x/Fields.TOML") == "toml"
    assert fieldfile.format_for("fields.json") == "json"
    assert fieldfile.format_for("-") is None and fieldfile.format_for("fields.conf") is None
    assert fieldfile.sniff('\ufeff  {"fields": []}') == "json"
    assert fieldfile.sniff("# a comment\n[[fields]]\n") == "toml"
    assert fieldfile.sniff("") == "toml"


def test_the_plan_deletes_updates_and_creates_in_that_order() -> None:
    current = [
        ("cf_1", INSPECTOR),
        ("cf_2", FieldSpec("work-orders", "inspectionDue", "ZPM_INSP.DUE_DATE", "string")),
        ("cf_3", RATING),
    ]
    new = FieldSpec("work-orders", "priorityCode", "ZPM_INSP.PRIO", "number")
    plan = make_plan([new, DUE, INSPECTOR], current)
    assert [(c.action, c.entity, c.name, c.key) for c in plan.changes] == [
        ("delete", "assets", "rating", "cf_3"),
        ("update", "work-orders", "inspectionDue", "cf_2"),
        ("create", "work-orders", "priorityCode", None),
    ]
    update = plan.changes[1]
    assert update.changed() == ["type", "writable"]
    assert plan.to_json() == {
        "changes": [
            {
                "action": "delete",
                "entity": "assets",
                "name": "rating",
                "from": {"source": "ZASSET.RATING", "type": "number", "writable": False},
                "to": None,
            },
            {
                "action": "update",
                "entity": "work-orders",
                "name": "inspectionDue",
                "from": {"source": "ZPM_INSP.DUE_DATE", "type": "string", "writable": False},
                "to": {"source": "ZPM_INSP.DUE_DATE", "type": "date", "writable": True},
            },
            {
                "action": "create",
                "entity": "work-orders",
                "name": "priorityCode",
                "from": None,
                "to": {"source": "ZPM_INSP.PRIO", "type": "number", "writable": False},
            },
        ],
        "in_sync": False,
    }
    assert (plan.count("create"), plan.count("update"), plan.count("delete")) == (1, 1, 1)


def test_a_plan_of_what_is_there_is_empty() -> None:
    plan = make_plan([INSPECTOR, RATING], [("cf_3", RATING), ("cf_1", INSPECTOR)])
    assert plan.in_sync and plan.to_json() == {"changes": [], "in_sync": True}


def test_a_source_in_another_case_is_the_same_source() -> None:
    # The server matches tables and columns whatever their case and stores them as the
    # system spells them: a file that says otherwise is no change to make on every apply.
    lower = FieldSpec("work-orders", "inspector", "zpm_insp.inspector", "string")
    assert make_plan([lower], [("cf_1", INSPECTOR)]).in_sync
    other_column = FieldSpec("work-orders", "inspector", "ZPM_INSP.INSPECTED_BY", "string")
    assert make_plan([other_column], [("cf_1", INSPECTOR)]).changes[0].changed() == ["source"]


def test_a_new_name_is_a_delete_and_a_create_and_the_plan_says_so() -> None:
    renamed = FieldSpec("work-orders", "inspectorName", INSPECTOR.source, "string")
    plan = make_plan([renamed], [("cf_1", INSPECTOR)])
    assert [c.action for c in plan.changes] == ["delete", "create"]
    assert plan.renames() == {("work-orders", "inspector"): "inspectorName"}
    lines = fieldplan.plan_lines(plan)
    assert lines[0].startswith("- delete  work-orders/inspector ")
    assert "renamed to inspectorName?" in lines[0]
    assert lines[1].startswith("+ create  work-orders/inspectorName")


def test_plan_lines_show_each_changed_attribute_old_to_new_in_colour() -> None:
    plan = make_plan([DUE], [("cf_2", FieldSpec(DUE.entity, DUE.name, DUE.source, "string"))])
    plain = fieldplan.plan_lines(plan)
    assert plain[0] == "~ update  work-orders/inspectionDue"
    assert [line.split() for line in plain[1:]] == [
        ["type", "string", "→", "date"],
        ["writable", "false", "→", "true"],
    ]
    painted = fieldplan.plan_lines(plan, paint=True)
    assert all(line.startswith("\x1b[33m") for line in painted)
    created = fieldplan.plan_lines(make_plan([RATING], []), paint=True)
    deleted = fieldplan.plan_lines(make_plan([], [("cf_3", RATING)]), paint=True)
    assert created[0].startswith("\x1b[32m+ create") and deleted[0].startswith("\x1b[31m- delete")
    assert fieldplan.counts(make_plan([RATING], [("cf_2", DUE)])) == (
        "2 changes: 1 to create, 1 to delete"
    )


def test_names_and_sources_are_checked_like_the_server_checks_them() -> None:
    assert fieldfile.check_name("inspectorName") is None
    assert fieldfile.check_name("x" * 65) is not None
    for bad in ("Inspector", "inspector_name", "1st", "", "naïve"):
        assert fieldfile.check_name(bad) is not None, bad
    assert fieldfile.check_source("ZPM_INSP.INSPECTOR") is None
    for bad in ("ZPM_INSP", ".X", "T.", "T .C"):
        assert fieldfile.check_source(bad) is not None, bad
    assert fieldfile.check_entity("work-orders") is None
    assert fieldfile.check_entity("workorders") is not None
