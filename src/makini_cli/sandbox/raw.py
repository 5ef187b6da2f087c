"""Raw rows of a connection's own tables, made on the fly from its platform's table shapes.

Nothing is stored. A table's rows are a pure function of the connection key and the table
name (a `random.Random` seeded with both): the same rows on every call, in every process,
on every fresh data dir, and different rows for two connections to the same platform.
Times count back from a fixed origin, not from the clock, so rows do not move when
sandbox time does; update-time columns are ISO-8601 UTC, creation and due dates are
plain dates.

What a column holds comes from its name (`table.column` first, then `column`, then a
guess from the name for columns nobody described). An identifier column holds the row's
own key when it is its table's first column, else a key from the first `MIN_ROWS` rows of
the table it names, which every table has.

`passthrough` is the sandbox's stand-in for a call to the system's own API: it reads raw
tables and accepts writes without changing anything (see routes/raw.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import ApiError
from makini_cli.sandbox.platforms import Platform

MIN_ROWS = 20
MAX_ROWS = 60
PASSTHROUGH_ROWS = 10
ORIGIN = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
DAY = 86_400


@dataclass(frozen=True)
class _Row:
    number: int  # 1-based position in the table
    updated: float  # Unix seconds


Maker = Callable[[random.Random, _Row], Any]


@dataclass(frozen=True)
class _Ident:
    """An identifier: `pattern` formatted with `start + n` (an int when pattern is None)."""

    pattern: str | None
    start: int

    def value(self, number: int) -> str | int:
        n = self.start + number
        return n if self.pattern is None else self.pattern.format(n)


Spec = _Ident | Maker


def _seq(pattern: str, start: int) -> Maker:
    """A second running number of the row (document numbers), never a reference."""
    return lambda rng, row: pattern.format(start + row.number)


def _pick(*choices: Any) -> Maker:
    return lambda rng, row: rng.choice(choices)


def _amount(low: float, high: float) -> Maker:
    return lambda rng, row: round(rng.uniform(low, high), 2)


def _count(low: int, high: int) -> Maker:
    return lambda rng, row: rng.randint(low, high)


def _updated(rng: random.Random, row: _Row) -> str | None:
    return iso(row.updated)


def _created(rng: random.Random, row: _Row) -> str:
    return datetime.fromtimestamp(row.updated - rng.randint(0, 720) * DAY, UTC).date().isoformat()


def _due(rng: random.Random, row: _Row) -> str:
    return datetime.fromtimestamp(row.updated + rng.randint(1, 30) * DAY, UTC).date().isoformat()


_EQUIPMENT = (
    "Centrifugal pump",
    "Air compressor",
    "Conveyor belt",
    "Steam boiler",
    "Cooling tower fan",
    "Forklift",
    "Hydraulic press",
    "Chiller",
    "Diesel generator",
    "Heat exchanger",
    "Mixer",
    "Packaging machine",
)
_ACTIONS = (
    "Inspect",
    "Replace bearings on",
    "Lubricate",
    "Calibrate",
    "Repair leak on",
    "Service",
    "Replace filter on",
    "Check vibration on",
)
_PARTS = (
    "Ball bearing 6205-2RS",
    "V-belt A42",
    "Hydraulic filter element",
    "Mechanical seal 35 mm",
    "Inductive proximity sensor",
    "Contactor 24 V DC",
    "Gear oil ISO VG 220",
    "O-ring kit NBR",
    "Roller chain 08B-1",
    "Air filter cartridge",
)
_PLACES = (
    "Main plant",
    "Boiler house",
    "Warehouse A",
    "Packaging hall",
    "Workshop",
    "Utility building",
    "Loading dock",
    "Production line 2",
)
_COMPANIES = (
    "Nordic Bearings AB",
    "Acme Industrial Supply",
    "Parker Fluid Systems",
    "Baltic Steel Oy",
    "Midwest Motors Inc.",
    "Rhein Elektro GmbH",
    "Harbor Electric Co.",
    "Alpine Tools AG",
)
_CITIES = ("Hamburg", "Gothenburg", "Rotterdam", "Chicago", "Leeds", "Lyon", "Tampere", "Denver")
_MANUFACTURERS = ("Grundfos", "Atlas Copco", "SKF", "Siemens", "ABB", "Caterpillar", "Alfa Laval")


def _task(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(_ACTIONS)} {rng.choice(_EQUIPMENT).lower()}"


def _asset(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(_EQUIPMENT)} {'PCMHGF'[row.number % 6]}-{100 + row.number}"


def _part(rng: random.Random, row: _Row) -> str:
    return rng.choice(_PARTS)


def _place(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(_PLACES)} {row.number}"


def _company(rng: random.Random, row: _Row) -> str:
    return rng.choice(_COMPANIES)


def _email(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(('orders', 'sales', 'service', 'accounts'))}{row.number}@example.com"


def _serial(rng: random.Random, row: _Row) -> str:
    return f"SN{rng.randint(10_000_000, 99_999_999)}"


def _address(rng: random.Random, row: _Row) -> str:
    return f"{rng.randint(1, 240)} Industrial Way, {rng.choice(_CITIES)}"


# Identifiers shared by the tables that hold them and the columns that point at them.
_ID = _Ident(None, 1000)
_SAP_ORDER = _Ident("{:012d}", 4_000_000)
_SAP_EQUIPMENT = _Ident("{:018d}", 10_000_000)
_SAP_MATERIAL = _Ident("{:018d}", 100_000)
_SAP_FLOC = _Ident("1000-PM-{:03d}", 0)
_B1_PARTNER = _Ident("V{:05d}", 10_000)
_MAXIMO_ASSET = _Ident("{}", 11_400)
_MAXIMO_LOCATION = _Ident("BR-{}", 200)
_INFOR_OBJECT = _Ident("OBJ-{:05d}", 10_000)
_JDE_ASSET = _Ident("{}", 5_000)
_D365_VENDOR = _Ident("V-{:06d}", 1_000)
_SAGE_VENDOR = _Ident(None, 200)
_TECSYS_ITEM = _Ident("ITM-{:05d}", 10_000)
_TECSYS_LOCATION = _Ident("A-{:02d}-01", 0)

_PM_STATUS = _pick("CRTD", "REL", "TECO", "CLSD")
_MAXIMO_SITE = _pick("BEDFORD", "NASHUA", "TEXAS")
_UOM = _pick("EA", "PC", "KG", "L", "M", "SET")

_COLUMNS: Mapping[str, Spec] = {
    # SAP ECC and S/4HANA
    "AUFK.AUFNR": _SAP_ORDER,
    "AUART": _pick("PM01", "PM02", "PM03", "PM04"),
    "AUFK.KTEXT": _task,
    "WERKS": _pick("1000", "1100", "2000"),
    "IWERK": _pick("1000", "1100", "2000"),
    "ERDAT": _created,
    "ERSDA": _created,
    "AEDAT": _updated,
    "LAEDA": _updated,
    "EQUNR": _SAP_EQUIPMENT,
    "EQTYP": _pick("M", "P", "Q", "S"),
    "HERST": _pick(*_MANUFACTURERS),
    "TYPBZ": _pick("CR 32-4", "GA 37 VSD", "ACS880", "XC-200", "M22/4"),
    "SERGE": _serial,
    "TPLNR": _SAP_FLOC,
    "TPLMA": _pick("1000-PM", "1000-UT", "1000-PK"),
    "FLTYP": _pick("M", "P", "A"),
    "MATNR": _SAP_MATERIAL,
    "MTART": _pick("ERSA", "HAWA", "HIBE", "ROH"),
    "MATKL": _pick("MRO-01", "MRO-02", "ELEC", "HYDR"),
    "MEINS": _pick("EA", "PC", "KG", "L", "M"),
    # SAP Business One
    "ItemCode": _Ident("A{:05d}", 10_000),
    "ItemName": _part,
    "ItmsGrpCod": _pick(100, 101, 102, 105),
    "OnHand": _count(0, 400),
    "InvntryUom": _UOM,
    "UpdateDate": _updated,
    "DocEntry": _Ident(None, 300),
    "DocNum": _seq("{}", 24_000),
    "CardCode": _B1_PARTNER,
    "CardName": _company,
    "CardType": _pick("S", "C"),
    "E_Mail": _email,
    "DocDate": _created,
    "DocTotal": _amount(120, 48_000),
    "DocStatus": _pick("O", "C"),
    # IBM Maximo
    "WONUM": _Ident("{}", 1_200),
    "WORKORDER.DESCRIPTION": _task,
    "WORKORDER.STATUS": _pick("WAPPR", "APPR", "INPRG", "WMATL", "COMP", "CLOSE"),
    "WORKTYPE": _pick("PM", "CM", "EM", "CAL"),
    "WOPRIORITY": _count(1, 5),
    "ASSETNUM": _MAXIMO_ASSET,
    "ASSET.DESCRIPTION": _asset,
    "ASSET.STATUS": _pick("OPERATING", "NOT READY", "BROKEN", "DECOMMISSIONED"),
    "ASSET.LOCATION": _MAXIMO_LOCATION,
    "SERIALNUM": _serial,
    "LOCATIONS.LOCATION": _MAXIMO_LOCATION,
    "LOCATIONS.DESCRIPTION": _place,
    "LOCATIONS.TYPE": _pick("OPERATING", "STOREROOM", "REPAIR"),
    "LOCATIONS.STATUS": _pick("OPERATING", "NOT READY"),
    "SITEID": _MAXIMO_SITE,
    "CHANGEDATE": _updated,
    # Infor EAM
    "EVT_CODE": _Ident("{}", 30_000),
    "EVT_DESC": _task,
    "EVT_STATUS": _pick("R", "IP", "C", "CANC"),
    "EVT_JOBTYPE": _pick("PM", "BRKD", "REQ", "CAL"),
    "EVT_OBJECT": _INFOR_OBJECT,
    "EVT_MRC": _pick("MECH", "ELEC", "FAC"),
    "EVT_UPDATED": _updated,
    "OBJ_CODE": _INFOR_OBJECT,
    "OBJ_DESC": _asset,
    "OBJ_STATUS": _pick("I", "D", "A"),
    "OBJ_LOCATION": _pick("PLANT-1", "PLANT-2", "DEPOT"),
    "OBJ_SERIALNO": _serial,
    "OBJ_UPDATED": _updated,
    "PAR_CODE": _Ident("P-{:05d}", 50_000),
    "PAR_DESC": _part,
    "PAR_UOM": _UOM,
    "PAR_CLASS": _pick("BEARING", "FILTER", "SEAL", "ELEC"),
    "PAR_UPDATED": _updated,
    # Simple cloud CMMS (snake_case)
    "id": _ID,
    "title": _task,
    "work_orders.status": _pick("open", "in_progress", "on_hold", "done"),
    "priority": _pick("low", "medium", "high", "urgent"),
    "asset_id": _ID,
    "location_id": _ID,
    "due_date": _due,
    "assets.name": _asset,
    "serial_number": _serial,
    "model": _pick("CR 32-4", "GA 37 VSD", "ACS880", "XC-200"),
    "locations.name": _place,
    "address": _address,
    "parts.name": _part,
    "part_number": _seq("PN-{:05d}", 20_000),
    "quantity": _count(0, 250),
    "unit_cost": _amount(2, 900),
    "updated_at": _updated,
    # Odoo
    "purchase_order.name": _seq("P{:05d}", 100),
    "partner_id": _ID,
    "state": _pick("draft", "sent", "purchase", "done", "cancel"),
    "date_order": _created,
    "amount_total": _amount(80, 25_000),
    "default_code": _seq("FURN_{:04d}", 7_000),
    "product_tmpl_id": _ID,
    "barcode": _seq("40{:011d}", 12_345_000),
    "active": _pick(True, True, True, False),
    "res_partner.name": _company,
    "email": _email,
    "city": _pick(*_CITIES),
    "supplier_rank": _count(0, 3),
    "maintenance_equipment.name": _asset,
    "serial_no": _serial,
    "maintenance_equipment.location": _place,
    "write_date": _updated,
    # Oracle NetSuite
    "tranid": _seq("PO{}", 3_100),
    "type": _pick("PurchOrd", "VendBill", "ItemRcpt"),
    "entity": _ID,
    "transaction.status": _pick("A", "B", "F", "H"),
    "trandate": _created,
    "itemid": _seq("ITEM-{:04d}", 4_000),
    "displayname": _part,
    "itemtype": _pick("InvtPart", "NonInvtPart", "Service"),
    "entityid": _seq("VEND-{:04d}", 600),
    "companyname": _company,
    "lastmodifieddate": _updated,
    # Microsoft Dynamics 365
    "PurchId": _Ident("PO-{:06d}", 12_000),
    "OrderAccount": _D365_VENDOR,
    "PurchName": _company,
    "PurchStatus": _pick("Backorder", "Received", "Invoiced", "Canceled"),
    "DeliveryDate": _due,
    "ItemId": _Ident("M{:04d}", 1_000),
    "NameAlias": _part,
    "ItemType": _pick("Item", "Service"),
    "AccountNum": _D365_VENDOR,
    "VendGroup": _pick("10", "20", "30"),
    "Currency": _pick("USD", "EUR", "GBP"),
    "ModifiedDateTime": _updated,
    # JD Edwards EnterpriseOne
    "WADOCO": _Ident(None, 184_000),
    "WADCTO": _pick("WM", "WO"),
    "WADL01": _task,
    "WASRST": _pick("10", "30", "45", "90", "99"),
    "WAMMCU": _pick("M30", "M40"),
    "WANUMB": _JDE_ASSET,
    "WAUPMJ": _updated,
    "IMITM": _Ident(None, 60_000),
    "IMLITM": _seq("MRO-{:05d}", 2_000),
    "IMDSC1": _part,
    "IMUOM1": _UOM,
    "IMUPMJ": _updated,
    "FANUMB": _JDE_ASSET,
    "FAASID": _serial,
    "FADL01": _asset,
    "FAMCU": _pick("M30", "M40"),
    "FAUPMJ": _updated,
    "ABAN8": _Ident(None, 4_200),
    "ABALPH": _company,
    "ABAT1": _pick("V", "C", "E"),
    "ABUPMJ": _updated,
    # Sage 500
    "POKey": _Ident(None, 9_000),
    "TranNo": _seq("{:010d}", 1_500),
    "VendKey": _SAGE_VENDOR,
    "TranDate": _created,
    "Status": _pick(0, 1, 2, 3),
    "ItemKey": _Ident(None, 700),
    "ItemID": _seq("SPR-{:04d}", 300),
    "ShortDesc": _part,
    "timItem.ItemType": _pick(5, 6, 7),
    "VendID": _seq("V{:04d}", 100),
    "VendName": _company,
    # Tecsys WMS
    "ORDER_ID": _Ident("SO{:07d}", 800_000),
    "CUSTOMER": _company,
    "ORDER_HEADER.STATUS": _pick("OPEN", "ALLOCATED", "PICKED", "SHIPPED"),
    "SHIP_DATE": _due,
    "ITEM_ID": _TECSYS_ITEM,
    "ITEM.DESCRIPTION": _part,
    "UOM": _UOM,
    "LOCATION_ID": _TECSYS_LOCATION,
    "ZONE": _pick("A", "B", "COLD", "BULK"),
    "LOCATION_TYPE": _pick("PICK", "RESERVE", "STAGING"),
    "INVENTORY_ID": _Ident(None, 1),
    "QUANTITY": _count(0, 500),
    "LAST_UPDATE": _updated,
    # Fishbowl
    "part.num": _seq("P-{}", 1_000),
    "part.description": _part,
    "uomId": _count(1, 5),
    "typeId": _pick(10, 20, 30),
    "so.num": _seq("SO-{}", 10_000),
    "po.num": _seq("PO-{}", 20_000),
    "customerId": _ID,
    "vendorId": _ID,
    "statusId": _pick(10, 20, 25, 60),
    "dateIssued": _created,
    "location.name": _seq("A-{:02d}", 0),
    "location.description": _place,
    "locationGroupId": _count(1, 4),
    "dateLastModified": _updated,
}


def _guess(column: str) -> Spec:
    """A spec from the name alone, for a column the table above does not describe."""
    name = column.lower()
    if any(word in name for word in ("date", "time", "modified", "updated")) or name.endswith(
        "_at"
    ):
        return _updated
    if name == "id" or name.endswith(("_id", "key", "code", "num")):
        return _ID
    if "status" in name or "state" in name:
        return _pick("open", "closed")
    if any(word in name for word in ("name", "desc", "text", "title")):
        return _part
    return _seq(f"{column}-{{}}", 0)


def _spec(table: str, column: str) -> Spec:
    return _COLUMNS.get(f"{table}.{column}") or _COLUMNS.get(column) or _guess(column)


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[str, ...]

    @property
    def updated_column(self) -> str | None:
        """The column that holds the row's last change (for `modified_after`)."""
        return next((c for c in self.columns if _spec(self.name, c) is _updated), None)

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "columns": list(self.columns)}


def tables_of(platform: Platform) -> list[RawTable]:
    return [RawTable(name, columns) for name, columns in platform.raw_tables.items()]


def find_table(platform: Platform, name: str) -> RawTable | None:
    """The table `name` names, exactly or else ignoring case."""
    tables = tables_of(platform)
    exact = next((t for t in tables if t.name == name), None)
    return exact or next((t for t in tables if t.name.lower() == name.lower()), None)


def unknown_table(platform: Platform, name: str) -> ApiError:
    names = [t.name for t in tables_of(platform)]
    return ApiError(
        404,
        "NOT_FOUND",
        f"Table {name!r} was not found in {platform.name}; its tables: {', '.join(names)}.",
        details={"table": name, "tables": names},
    )


def table_rows(connection_key: str, table: RawTable) -> list[dict[str, Any]]:
    """Every row of `table` as the connection's system holds it, in key order."""
    # Not for secrets: a seeded generator is what makes the rows repeatable.
    rng = random.Random(f"{connection_key}/{table.name}")  # noqa: S311
    specs = [(column, _spec(table.name, column)) for column in table.columns]
    rows = []
    for number in range(1, rng.randint(MIN_ROWS, MAX_ROWS) + 1):
        row = _Row(number, ORIGIN - rng.randint(0, 180 * DAY))
        values: dict[str, Any] = {}
        for position, (column, spec) in enumerate(specs):
            if isinstance(spec, _Ident):
                own = position == 0
                values[column] = spec.value(number if own else rng.randint(1, MIN_ROWS))
            else:
                values[column] = spec(rng, row)
        rows.append(values)
    return rows


def passthrough(
    platform: Platform, connection_key: str, method: str, path: str, body: Any
) -> dict[str, Any]:
    """The system's answer to `method path`: `{"status", "headers", "body"}`."""
    if method != "get":
        return {"status": 200, "headers": {}, "body": {"received": body}}
    last = path.split("?", 1)[0].strip("/").rsplit("/", 1)[-1]
    table = find_table(platform, last) if last else None
    if table is None:
        names = ", ".join(t.name for t in tables_of(platform))
        message = f"{platform.name} has no resource at {path!r} (readable tables: {names})."
        return {"status": 404, "headers": {}, "body": {"message": message}}
    return {
        "status": 200,
        "headers": {},
        "body": table_rows(connection_key, table)[:PASSTHROUGH_ROWS],
    }
