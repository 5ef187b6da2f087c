"""Unified records made from raw rows, without a server: keys, references, custom field
sources, value coercion, and every record of every platform against Makini's schemas."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from makini_cli.sandbox import raw, unified
from makini_cli.sandbox.platforms import PLATFORMS, Platform, get_platform

from .openapi_check import components, load_spec, schema_errors, validator

SAP_KEY = "10000482937115"
MAXIMO_KEY = "10000604159337"
UPKEEP_KEY = "10000715260448"
ODOO_KEY = "10001159604882"
KEYS = (SAP_KEY, MAXIMO_KEY, UPKEEP_KEY, ODOO_KEY)
SAP = get_platform("sap-s4hana")
UPKEEP = get_platform("upkeep")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
SAMPLE = 20

PLATFORM_ENTITIES = [
    pytest.param(platform, path, id=f"{platform.key}-{path}")
    for platform in PLATFORMS
    for path in unified.ENTITIES[unified.category_of(platform)]
]


def _source(platform: Platform, path: str) -> unified.Source:
    return unified.sources(platform)[path]


def test_the_category_comes_from_the_platforms_kind() -> None:
    expected = {"cmms": "eam", "eam": "eam", "erp": "erp", "wms": "wms"}
    for platform in PLATFORMS:
        assert unified.category_of(platform) == expected[platform.kind]
    assert unified.category_of(SAP) == "erp"
    assert unified.category_of(UPKEEP) == "eam"


def test_every_platform_serves_every_entity_of_its_category() -> None:
    for platform in PLATFORMS:
        served = unified.sources(platform)
        assert list(served) == list(unified.ENTITIES[unified.category_of(platform)])
        for path, source in served.items():
            assert source.entity.path == path
            assert source.table in raw.tables_of(platform)
            assert not source.table.custom


def test_entities_have_distinct_prefixes_and_key_first() -> None:
    for entities in unified.ENTITIES.values():
        assert len({e.prefix for e in entities.values()}) == len(entities)
        for entity in entities.values():
            assert entity.fields[0] == "key"
            assert set(entity.field_types) == set(entity.fields)
            assert "deletedAt" not in entity.fields


@pytest.mark.parametrize(("platform", "path"), PLATFORM_ENTITIES)
def test_records_are_deterministic_and_pages_are_slices(platform: Platform, path: str) -> None:
    source = _source(platform, path)
    size = 80  # the real sizes are checked once below: this is about the pages
    everything = source.all_records(UPKEEP_KEY, rows=size)
    assert len(everything) == size
    assert source.all_records(UPKEEP_KEY, rows=size) == everything
    assert source.record(UPKEEP_KEY, 5) == everything[4]
    assert source.records(UPKEEP_KEY, 10, 25, rows=size) == list(everything[10:25])
    assert source.records(UPKEEP_KEY, size - 3, size + 10, rows=size) == list(everything[-3:])
    assert len({record["key"] for record in everything}) == size
    # Another connection to the same platform has records of its own.
    assert source.record(SAP_KEY, 5) != everything[4]


def test_entities_hold_a_few_hundred_to_a_few_thousand_records() -> None:
    sizes = {
        source.size(key)
        for key in KEYS
        for platform in PLATFORMS
        for source in unified.sources(platform).values()
    }
    assert min(sizes) >= raw.MIN_SIZE
    assert max(sizes) <= raw.MAX_SIZE
    source = _source(UPKEEP, "work-orders")
    everything = source.all_records(UPKEEP_KEY)
    assert len(everything) == source.size(UPKEEP_KEY)
    assert source.records(UPKEEP_KEY, 0, 10**6) == list(everything)


def test_rows_override_sizes_every_entity() -> None:
    source = _source(UPKEEP, "work-orders")
    assert source.size(UPKEEP_KEY, rows=5_000) == 5_000
    records = source.all_records(UPKEEP_KEY, rows=25)
    assert len(records) == 25
    assert records[:3] == tuple(source.records(UPKEEP_KEY, 0, 3))
    # Records past the size exist: records created later are made from their own rows.
    later = source.record(UPKEEP_KEY, source.size(UPKEEP_KEY) + 1)
    assert later["key"] == unified.record_key(
        UPKEEP_KEY, source.entity, source.size(UPKEEP_KEY) + 1
    )


def test_keys_round_trip_and_belong_to_one_connection_and_entity() -> None:
    work_orders = unified.ENTITIES["eam"]["work-orders"]
    assets = unified.ENTITIES["eam"]["assets"]
    parts = {unified.record_key(key, work_orders, 1)[2:6] for key in KEYS}
    assert len(parts) == len(KEYS)
    for number in (1, 42, 3_000, 99_999_999):
        key = unified.record_key(UPKEEP_KEY, work_orders, number)
        assert re.fullmatch(r"03\d{12}", key)
        assert unified.record_number(UPKEEP_KEY, work_orders, key) == number
        assert unified.record_number(MAXIMO_KEY, work_orders, key) is None
        assert unified.record_number(UPKEEP_KEY, assets, key) is None
    for bad in ("", "03", "0300000000000x", "030000000000001", "٠٣٠٠٠٠٠٠٠٠٠٠٠١"):
        assert unified.record_number(UPKEEP_KEY, work_orders, bad) is None
    zero = unified.record_key(UPKEEP_KEY, work_orders, 1)[:6] + "00000000"
    assert unified.record_number(UPKEEP_KEY, work_orders, zero) is None


@pytest.mark.parametrize(("platform", "path"), PLATFORM_ENTITIES)
def test_references_name_records_of_the_same_connection(platform: Platform, path: str) -> None:
    served = unified.ENTITIES[unified.category_of(platform)]
    by_prefix = {entity.prefix: entity for entity in served.values()}
    for record in _source(platform, path).records(ODOO_KEY, 0, SAMPLE):
        for name, value in record.items():
            if not (name.endswith("Key") or name.endswith("Keys")) or name == "key":
                continue
            for key in value if isinstance(value, list) else [value]:
                target = by_prefix[key[:2]]
                number = unified.record_number(ODOO_KEY, target, key)
                assert number is not None, (name, key)
                assert number <= _source(platform, target.path).size(ODOO_KEY)
                if name == "parentKey":
                    assert key != record["key"]


@pytest.mark.parametrize(("platform", "path"), PLATFORM_ENTITIES)
def test_records_leave_out_what_has_no_value(platform: Platform, path: str) -> None:
    source = _source(platform, path)
    for record in source.records(MAXIMO_KEY, 0, SAMPLE):
        assert next(iter(record)) == "key"
        assert list(record) == [f for f in source.entity.fields if f in record]
        assert all(value not in (None, "") for value in record.values())
        assert ISO.fullmatch(record["updatedAt"])
        if "createdAt" in source.entity.fields:
            assert ISO.fullmatch(record["createdAt"])
            assert record["createdAt"] <= record["updatedAt"]
        for name in source.entity.datetime_fields & set(record):
            assert ISO.fullmatch(record[name]), (name, record[name])


def test_a_record_agrees_with_its_raw_row() -> None:
    source = _source(SAP, "purchase-orders")
    row = raw.table_row(SAP_KEY, source.table, 9)
    record = source.record(SAP_KEY, 9)
    assert record["orderNo"] == row["EBELN"]
    assert record["updatedAt"] == row["AEDAT"]
    assert record["totalNetValue"] == f"{row['NETWR']:.2f}"
    assert record["orderDate"]["date"].startswith(row["BEDAT"])
    vendors = _source(SAP, "vendors")
    vendor = unified.record_number(SAP_KEY, vendors.entity, record["vendorKey"])
    assert vendor is not None
    assert vendors.record(SAP_KEY, vendor)["code"] == row["LIFNR"]


# --- Makini's schemas --------------------------------------------------------------------

_CHECKS: dict[tuple[str, str], Any] = {}


def _schema_check(category: str, schema: str) -> Any:
    found = _CHECKS.get((category, schema))
    if found is None:
        definitions = components(load_spec(category), closed=True)
        document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/$defs/{schema}",
            "$defs": definitions,
        }
        _CHECKS[(category, schema)] = found = validator(document)
    return found


@pytest.mark.parametrize(("platform", "path"), PLATFORM_ENTITIES)
def test_records_match_makinis_schema_closed(platform: Platform, path: str) -> None:
    category = unified.category_of(platform)
    source = _source(platform, path)
    check = _schema_check(category, source.entity.schema)
    size = source.size(SAP_KEY)
    numbers = [*range(1, SAMPLE + 1), size, size + 7]
    filled: set[str] = set()
    for number in numbers:
        record = source.record(SAP_KEY, number)
        filled |= set(record)
        assert schema_errors(check, record) == [], record
    # Each platform fills the core of each entity, not just its key and times.
    assert len(filled - {"key", "createdAt", "updatedAt"}) >= 2, filled


def test_declared_fields_are_makinis_with_makinis_types() -> None:
    for category, entities in unified.ENTITIES.items():
        schemas: Mapping[str, Any] = load_spec(category)["components"]["schemas"]
        for entity in entities.values():
            properties = schemas[entity.schema]["properties"]
            for name in entity.fields:
                assert name in properties, f"{category} {entity.schema}.{name}"
                assert properties[name].get("type") == entity.field_types[name], (
                    f"{category} {entity.schema}.{name}"
                )


def test_every_declared_field_is_filled_by_some_platform() -> None:
    filled: dict[str, set[str]] = {}
    for platform in PLATFORMS:
        for path, source in unified.sources(platform).items():
            for record in source.records(SAP_KEY, 0, SAMPLE):
                filled.setdefault(path, set()).update(record)
    for entities in unified.ENTITIES.values():
        for entity in entities.values():
            assert filled[entity.path] == set(entity.fields), entity.path


# --- custom fields: sources and values -------------------------------------------------


def test_resolve_source_spells_the_source_as_the_system_does() -> None:
    assert unified.resolve_source(SAP, "materials", "ZMM_QINSP.QINSPECTOR") == (
        "ZMM_QINSP.QINSPECTOR"
    )
    assert unified.resolve_source(SAP, "materials", " zmm_qinsp.qscore ") == "ZMM_QINSP.QSCORE"
    assert unified.resolve_source(SAP, "materials", "MARA.MATKL") == "MARA.MATKL"
    # MVKE extends MARA 1:1 (sales data of a material): it can source materials and
    # products, and the material's custom table can source products.
    assert unified.resolve_source(SAP, "materials", "mvke.kbetr") == "MVKE.KBETR"
    assert unified.resolve_source(SAP, "products", "ZMM_QINSP.QM_ACTIVE") == "ZMM_QINSP.QM_ACTIVE"
    assert unified.resolve_source(UPKEEP, "work-orders", "custom_inspections.inspector") == (
        "custom_inspections.inspector"
    )


def _problem(platform: Platform, entity: str, source: str) -> unified.SourceProblem:
    with pytest.raises(unified.SourceProblem) as caught:
        unified.resolve_source(platform, entity, source)
    assert caught.value.message == str(caught.value)
    return caught.value


def test_resolve_source_names_what_exists() -> None:
    tables = [t.name for t in raw.tables_of(SAP)]
    unknown_table = _problem(SAP, "materials", "ZZ_NOPE.INSPECTOR")
    assert unknown_table.details == {"tables": tables}
    assert "ZZ_NOPE" in unknown_table.message
    assert "ZMM_QINSP" in unknown_table.message

    unknown_column = _problem(SAP, "materials", "ZMM_QINSP.NOPE")
    assert unknown_column.details == {"columns": list(SAP.raw_tables["ZMM_QINSP"])}
    assert "NOPE" in unknown_column.message

    # EQUI (and its Z-table) hold equipment: nothing an ERP connection serves.
    unlinked = _problem(SAP, "materials", "ZPM_INSP.INSPECTOR")
    assert unlinked.details == {"tables": ["MARA", "MVKE", "ZMM_QINSP"]}
    assert "materials" in unlinked.message
    assert _problem(SAP, "vendors", "MARA.MATKL").details == {"tables": ["LFA1"]}
    assert _problem(UPKEEP, "assets", "custom_inspections.inspector").details == {
        "tables": ["assets"]
    }

    assert _problem(SAP, "materials", "ZMM_QINSP").details == {"tables": tables}
    assert _problem(SAP, "work-orders", "AUFK.KTEXT").details == {
        "entities": list(unified.ENTITIES["erp"])
    }


def test_every_platform_has_a_custom_table_that_sources_an_entity() -> None:
    for platform in PLATFORMS:
        found = False
        for path in unified.sources(platform):
            linked = unified.linked_tables(platform, path)
            for table in (t for t in linked if t.custom):
                found = True
                canonical = unified.resolve_source(platform, path, f"{table.name}.{table.link}")
                assert canonical == f"{table.name}.{table.link}"
        assert found, platform.key


def test_custom_values_come_from_the_row_linked_to_the_record() -> None:
    for platform in PLATFORMS:
        for path, source in unified.sources(platform).items():
            for table in (t for t in unified.linked_tables(platform, path) if t.custom):
                assert table.link is not None
                for number in (1, 7, source.size(SAP_KEY) + 2):
                    own_id = raw.table_row(SAP_KEY, source.table, number)[source.table.id_column]
                    base = raw.find_table(platform, table.extends or "")
                    assert base is not None
                    base_id = raw.table_row(SAP_KEY, base, number)[base.id_column]
                    value = unified.custom_value(
                        SAP_KEY, platform, path, f"{table.name}.{table.link}", number
                    )
                    assert value == base_id
                    if source.table is base:
                        assert value == own_id


def test_custom_value_of_an_unknown_column_raises() -> None:
    with pytest.raises(unified.SourceProblem):
        unified.custom_value(UPKEEP_KEY, UPKEEP, "work-orders", "custom_inspections.nope", 1)


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("Inspector A", "string", "Inspector A"),
        (12, "string", "12"),
        (12.0, "string", "12"),
        (12.5, "string", "12.5"),
        (True, "string", "true"),
        ("", "string", None),
        ("   ", "string", None),
        (None, "string", None),
        (7, "number", 7),
        (7.5, "number", 7.5),
        ("7", "number", 7),
        (" 7.25 ", "number", 7.25),
        ("-3", "number", -3),
        ("1e3", "number", 1000.0),
        ("seven", "number", None),
        ("", "number", None),
        (True, "number", None),
        ("X", "boolean", True),
        ("", "boolean", False),
        ("Y", "boolean", True),
        ("N", "boolean", False),
        ("yes", "boolean", True),
        ("No", "boolean", False),
        ("T", "boolean", True),
        ("F", "boolean", False),
        ("+", "boolean", True),
        ("-", "boolean", False),
        (1, "boolean", True),
        (0, "boolean", False),
        (2, "boolean", None),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        (True, "boolean", True),
        ("maybe", "boolean", None),
        ("20240612", "date", "2024-06-12"),
        ("2024-06-12", "date", "2024-06-12"),
        ("2024-06-12T23:30:00Z", "date", "2024-06-12"),
        ("2024-06-12T23:30:00-02:00", "date", "2024-06-13"),
        ("00000000", "date", None),
        ("20241399", "date", None),
        ("12/06/2024", "date", None),
        (20240612, "date", None),
        ("", "date", None),
        (None, "date", None),
    ],
)
def test_coerce(value: Any, type_: str, expected: Any) -> None:
    assert unified.coerce(value, type_) == expected
    assert type(unified.coerce(value, type_)) is type(expected)


def test_coerce_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="type"):
        unified.coerce("x", "timestamp")


def test_the_cli_knows_makini_s_documented_entities_and_the_sandbox_serves_some() -> None:
    # The CLI completes and checks entity names from vocabulary (light, no sandbox import).
    from makini_cli.vocabulary import ENTITIES as CLI_ENTITIES

    for category, served in unified.ENTITIES.items():
        prefix = f"/api/{category}/"
        documented = sorted(
            path.removeprefix(prefix)
            for path, methods in load_spec(category)["paths"].items()
            if "get" in methods and "{" not in path and "/" not in path.removeprefix(prefix)
        )
        assert list(CLI_ENTITIES[category]) == documented
        assert set(served) <= set(documented), category
