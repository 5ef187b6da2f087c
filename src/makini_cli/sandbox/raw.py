"""Raw rows of a connection's own tables, made on the fly from its platform's table shapes.

Nothing is stored. Row n of a table is a pure function of the connection key, the table
name and n (a `random.Random` seeded with the three), so any page is made without the
rest of the table: the same rows on every call, in every process, on every fresh data
dir, and different rows for two connections to the same platform. A table holds
`table_size` rows (300 to 3,000, fixed per connection and table, or the `rows` a load
test asks for); row n exists for every n ≥ 1, so records added later have raw rows too.
Times count back from a fixed origin, not from the clock, so rows do not move when
sandbox time does; update-time columns are ISO-8601 UTC, other dates plain dates (or the
system's own date format, SAP's `YYYYMMDD`, where a customer table keeps one).

What a column holds comes from its name (`table.column` first, then `column`, then a
guess from the name for columns nobody described). An identifier column holds the row's
own key when it is its table's first column or the column that links it to the table
it extends, else a key from the first `MIN_ROWS` rows of the table it names.

`passthrough` is the sandbox's stand-in for a call to the system's own API: it reads raw
tables and accepts writes without changing anything (see routes/raw.py).
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from makini_cli.sandbox.clock import iso
from makini_cli.sandbox.errors import ApiError
from makini_cli.sandbox.platforms import Platform

MIN_ROWS = 20  # references point into the first MIN_ROWS rows; no table is smaller
MIN_SIZE = 300
MAX_SIZE = 3_000
PASSTHROUGH_ROWS = 10
ORIGIN = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
DAY = 86_400


@dataclass(frozen=True)
class _Row:
    number: int  # 1-based position in the table
    updated: float  # Unix seconds
    created: float  # Unix seconds, never after `updated`
    place: int  # which of _PLACES_OF_ROWS the row's address columns describe


Maker = Callable[[random.Random, _Row], Any]


@dataclass(frozen=True)
class _Derived:
    """A value made from the row's earlier columns (a gross total from its net)."""

    make: Callable[[Mapping[str, Any], _Row], Any]


@dataclass(frozen=True)
class _Ident:
    """An identifier: `pattern` formatted with `start + n` (an int when pattern is None)."""

    pattern: str | None
    start: int

    def value(self, number: int) -> str | int:
        n = self.start + number
        return n if self.pattern is None else self.pattern.format(n)


Spec = _Ident | _Derived | Maker


def _seq(pattern: str, start: int) -> Maker:
    """A second running number of the row (document numbers), never a reference."""
    return lambda rng, row: pattern.format(start + row.number)


def _pick(*choices: Any) -> Maker:
    return lambda rng, row: rng.choice(choices)


def _amount(low: float, high: float) -> Maker:
    return lambda rng, row: round(rng.uniform(low, high), 2)


def _count(low: int, high: int) -> Maker:
    return lambda rng, row: rng.randint(low, high)


def _score(rng: random.Random, row: _Row) -> float:
    return round(rng.uniform(0, 10), 1)


def _updated(rng: random.Random, row: _Row) -> str | None:
    return iso(row.updated)


def _day(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _created(rng: random.Random, row: _Row) -> str:
    return _day(row.created).date().isoformat()


def _due(rng: random.Random, row: _Row) -> str:
    return _day(row.updated + rng.randint(1, 30) * DAY).date().isoformat()


def _earlier(rng: random.Random, row: _Row) -> str:
    """A day between the row's creation and its last change (an order date)."""
    span = max(0, int((row.updated - row.created) // DAY))
    return _day(row.created + rng.randint(0, span) * DAY).date().isoformat()


def _inspected(fmt: str) -> Maker:
    """A recent inspection day in the system's own date format."""
    return lambda rng, row: _day(row.updated - rng.randint(0, 120) * DAY).strftime(fmt)


_ISO_DAY = "%Y-%m-%d"
_SAP_DAY = "%Y%m%d"

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
    "Production line",
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
# (city, region, country, postcode prefix): a row's address columns describe one of them.
_TOWNS = (
    ("Hamburg", "HH", "DE", "20"),
    ("Gothenburg", "VG", "SE", "41"),
    ("Rotterdam", "ZH", "NL", "30"),
    ("Chicago", "IL", "US", "606"),
    ("Leeds", "WYK", "GB", "LS"),
    ("Lyon", "ARA", "FR", "69"),
    ("Tampere", "PIR", "FI", "33"),
    ("Denver", "CO", "US", "802"),
)
_CITIES = tuple(town[0] for town in _TOWNS)
_MANUFACTURERS = ("Grundfos", "Atlas Copco", "SKF", "Siemens", "ABB", "Caterpillar", "Alfa Laval")
_PEOPLE = (
    "A. Lindqvist",
    "M. Schmidt",
    "J. Okafor",
    "S. Virtanen",
    "R. Patel",
    "L. Moreau",
    "K. Jansen",
    "D. Brooks",
)
_CURRENCIES = ("EUR", "USD", "GBP", "SEK")


def _task(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(_ACTIONS)} {rng.choice(_EQUIPMENT).lower()}"


def _asset(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(_EQUIPMENT)} {'PCMHGF'[row.number % 6]}-{100 + row.number}"


def _part(rng: random.Random, row: _Row) -> str:
    return rng.choice(_PARTS)


def _place(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(_PLACES)} {row.number}"


def _plant(rng: random.Random, row: _Row) -> str:
    kind = rng.choice(("plant", "works", "site", "depot"))
    return f"{_TOWNS[row.place][0]} {kind} {row.number}"


def _company(rng: random.Random, row: _Row) -> str:
    return rng.choice(_COMPANIES)


def _person(rng: random.Random, row: _Row) -> str:
    return rng.choice(_PEOPLE)


def _email(rng: random.Random, row: _Row) -> str:
    return f"{rng.choice(('orders', 'sales', 'service', 'accounts'))}{row.number}@example.com"


def _phone(rng: random.Random, row: _Row) -> str:
    return (
        f"+{rng.choice((49, 46, 31, 1, 44))} {rng.randint(20, 99)} {rng.randint(100_000, 999_999)}"
    )


def _serial(rng: random.Random, row: _Row) -> str:
    return f"SN{rng.randint(10_000_000, 99_999_999)}"


def _address(rng: random.Random, row: _Row) -> str:
    return f"{rng.randint(1, 240)} Industrial Way, {_TOWNS[row.place][0]}"


def _street(rng: random.Random, row: _Row) -> str:
    return f"{rng.randint(1, 240)} {rng.choice(('Industrial Way', 'Harbour Road', 'Mill Lane'))}"


def _city(rng: random.Random, row: _Row) -> str:
    return _TOWNS[row.place][0]


def _region(rng: random.Random, row: _Row) -> str:
    return _TOWNS[row.place][1]


def _country(rng: random.Random, row: _Row) -> str:
    return _TOWNS[row.place][2]


def _postcode(rng: random.Random, row: _Row) -> str:
    prefix = _TOWNS[row.place][3]
    return f"{prefix}{rng.randint(0, 10 ** (5 - len(prefix)) - 1):0{5 - len(prefix)}d}"


def _gross(net: str, rate: float = 1.19) -> _Derived:
    """A gross total: the row's net `net` with tax."""
    return _Derived(lambda values, row: round(values[net] * rate, 2))


def _net(gross: str, rate: float = 1.19) -> _Derived:
    return _Derived(lambda values, row: round(values[gross] / rate, 2))


def _finished(status: str, *done: Any) -> _Derived:
    """When the row was finished: its last change, if its `status` is one of `done`."""
    return _Derived(lambda values, row: iso(row.updated) if values[status] in done else None)


def _latitude(rng: random.Random, row: _Row) -> float:
    return round(rng.uniform(35, 65), 5)


def _longitude(rng: random.Random, row: _Row) -> float:
    return round(rng.uniform(-100, 30), 5)


# Identifiers shared by the tables that hold them and the columns that point at them.
_ID = _Ident(None, 1000)
_SAP_ORDER = _Ident("{:012d}", 4_000_000)
_SAP_EQUIPMENT = _Ident("{:018d}", 10_000_000)
_SAP_MATERIAL = _Ident("{:018d}", 100_000)
_SAP_FLOC = _Ident("1000-PM-{:03d}", 0)
_SAP_PLANT = _Ident("{:04d}", 1000)
_SAP_VENDOR = _Ident("{:010d}", 100_000)
_SAP_CUSTOMER = _Ident("{:010d}", 200_000)
_B1_PARTNER = _Ident("V{:05d}", 10_000)
_B1_ITEM = _Ident("A{:05d}", 10_000)
_MAXIMO_ASSET = _Ident("{}", 11_400)
_MAXIMO_LOCATION = _Ident("BR-{}", 200)
_MAXIMO_SITE = _Ident("SITE{:04d}", 0)
_MAXIMO_COMPANY = _Ident("V{:05d}", 1_000)
_MAXIMO_WORKORDER = _Ident("{}", 1_200)
_INFOR_OBJECT = _Ident("OBJ-{:05d}", 10_000)
_INFOR_EVENT = _Ident("{}", 30_000)
_INFOR_ORG = _Ident("ORG{:04d}", 0)
_INFOR_LOCATION = _Ident("LOC-{:05d}", 0)
_INFOR_COMPANY = _Ident("SUP-{:05d}", 0)
_JDE_ASSET = _Ident("{}", 5_000)
_JDE_ADDRESS = _Ident(None, 4_200)
_JDE_BRANCH = _Ident("{:>12}", 30)
_D365_VENDOR = _Ident("V-{:06d}", 1_000)
_D365_CUSTOMER = _Ident("C-{:06d}", 1_000)
_D365_SITE = _Ident("S{:04d}", 0)
_D365_ITEM = _Ident("M{:04d}", 1_000)
_SAGE_VENDOR = _Ident(None, 200)
_SAGE_CUSTOMER = _Ident(None, 500)
_SAGE_WAREHOUSE = _Ident(None, 10)
_SAGE_ITEM = _Ident(None, 700)
_TECSYS_ITEM = _Ident("ITM-{:05d}", 10_000)
_TECSYS_LOCATION = _Ident("A-{:02d}-01", 0)
_TECSYS_WAREHOUSE = _Ident("WH{:03d}", 0)
_TECSYS_VENDOR = _Ident("VND{:05d}", 0)

_PM_STATUS = _pick("CRTD", "REL", "TECO", "CLSD")
_UOM = _pick("EA", "PC", "KG", "L", "M", "SET")
_CURRENCY = _pick(*_CURRENCIES)
_CITY = _city
_COUNTRY = _country

_COLUMNS: Mapping[str, Spec] = {
    # SAP ECC and S/4HANA
    "AUFK.AUFNR": _SAP_ORDER,
    "AUART": _pick("PM01", "PM02", "PM03", "PM04"),
    "VBAK.AUART": _pick("OR", "TA", "ZOR"),
    "AUFK.KTEXT": _task,
    "WERKS": _SAP_PLANT,
    "IWERK": _SAP_PLANT,
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
    "MAKTX": _part,
    "MTART": _pick("ERSA", "HAWA", "HIBE", "ROH"),
    "MATKL": _pick("MRO-01", "MRO-02", "ELEC", "HYDR"),
    "MEINS": _pick("EA", "PC", "KG", "L", "M"),
    "MFRNR": _pick(*_MANUFACTURERS),
    "LVORM": _pick("", "", "", "", "X"),
    "VKORG": _pick("1000", "1100", "2000"),
    "VTWEG": _pick("10", "20"),
    "KBETR": _amount(4, 2_400),
    "KONWA": _CURRENCY,
    "EAN11": _seq("40{:011d}", 54_321_000),
    "VMSTA": _pick("", "", "", "Z1"),
    "NAME1": _company,
    "T001W.NAME1": _plant,
    "STRAS": _street,
    "PSTLZ": _postcode,
    "ORT01": _CITY,
    "REGIO": _region,
    "LAND1": _COUNTRY,
    "TELF1": _phone,
    "KTOKK": _pick("KRED", "LIEF", "CPD"),
    "LIFNR": _SAP_VENDOR,
    "KUNNR": _SAP_CUSTOMER,
    "EBELN": _Ident("{:010d}", 4_500_000_000),
    "BSART": _pick("NB", "FO", "UB"),
    "BEDAT": _earlier,
    "EINDT": _due,
    "ZTERM": _pick("0001", "ZB30", "ZN60"),
    "INCO1": _pick("EXW", "FCA", "DAP", "DDP"),
    "NETWR": _amount(120, 48_000),
    "BRTWR": _gross("NETWR"),
    "WAERS": _CURRENCY,
    "VBELN": _Ident("{:010d}", 12_000),
    "AUDAT": _earlier,
    "VDATU": _due,
    "BSTNK": _seq("PO-{:06d}", 70_000),
    "KURRF": _pick(1.0, 1.0, 1.08, 0.86),
    "INSPECTOR": _person,
    "LAST_INSP": _inspected(_SAP_DAY),
    "CRIT_SCORE": _score,
    "INSP_DUE": _pick("X", ""),
    "QINSPECTOR": _person,
    "LAST_QINSP": _inspected(_SAP_DAY),
    "QSCORE": _score,
    "QM_ACTIVE": _pick("X", ""),
    # SAP Business One
    "ItemCode": _B1_ITEM,
    "ItemName": _part,
    "ItmsGrpCod": _pick(100, 101, 102, 105),
    "OnHand": _count(0, 400),
    "InvntryUom": _UOM,
    "CodeBars": _seq("59{:011d}", 10_000_000),
    "AvgPrice": _amount(2, 900),
    "validFor": _pick("Y", "Y", "Y", "N"),
    "CreateDate": _created,
    "UpdateDate": _updated,
    "DocEntry": _Ident(None, 300),
    "DocNum": _seq("{}", 24_000),
    "ORDR.DocNum": _seq("{}", 61_000),
    "CardCode": _B1_PARTNER,
    "CardName": _company,
    "CardType": _pick("S", "C"),
    "E_Mail": _email,
    "Phone1": _phone,
    "DocDate": _earlier,
    "DocDueDate": _due,
    "NumAtCard": _seq("CUST-PO-{:05d}", 3_000),
    "DocTotal": _amount(120, 48_000),
    "DocCur": _CURRENCY,
    "DocRate": _pick(1.0, 1.0, 1.08, 0.86),
    "DocStatus": _pick("O", "C"),
    "Comments": _pick("Urgent", "Based on quotation", "Monthly replenishment", ""),
    "WhsCode": _Ident("WH{:03d}", 0),
    "WhsName": _plant,
    "Street": _street,
    "ZipCode": _postcode,
    "Country": _COUNTRY,
    "Code": _Ident("{:08d}", 0),
    "U_ItemCode": _B1_ITEM,
    "U_Inspector": _person,
    "U_LastInsp": _inspected(_ISO_DAY),
    "U_Score": _score,
    "U_Passed": _pick("Y", "N"),
    # IBM Maximo
    "WONUM": _MAXIMO_WORKORDER,
    "WORKORDER.DESCRIPTION": _task,
    "WORKORDER.STATUS": _pick("WAPPR", "APPR", "INPRG", "WMATL", "COMP", "CLOSE"),
    "WORKORDER.LOCATION": _MAXIMO_LOCATION,
    "WORKTYPE": _pick("PM", "CM", "EM", "CAL"),
    "WOPRIORITY": _count(1, 5),
    "TARGSTARTDATE": _due,
    "TARGCOMPDATE": _due,
    "ACTFINISH": _finished("STATUS", "COMP", "CLOSE"),
    "REPORTDATE": _earlier,
    "ASSETNUM": _MAXIMO_ASSET,
    "ASSET.DESCRIPTION": _asset,
    "ASSET.STATUS": _pick("OPERATING", "NOT READY", "BROKEN", "DECOMMISSIONED"),
    "ASSET.LOCATION": _MAXIMO_LOCATION,
    "ASSET.VENDOR": _MAXIMO_COMPANY,
    "ASSETTYPE": _pick("PUMP", "COMPRESSOR", "CONVEYOR", "HVAC", "VEHICLE"),
    "PRIORITY": _count(1, 5),
    "INSTALLDATE": _created,
    "MANUFACTURER": _pick(*_MANUFACTURERS),
    "SERIALNUM": _serial,
    "LOCATIONS.LOCATION": _MAXIMO_LOCATION,
    "LOCATIONS.DESCRIPTION": _place,
    "LOCATIONS.TYPE": _pick("OPERATING", "STOREROOM", "REPAIR"),
    "LOCATIONS.STATUS": _pick("OPERATING", "NOT READY"),
    "SITEID": _MAXIMO_SITE,
    "SITE.DESCRIPTION": _plant,
    "ORGID": _pick("EAGLENA", "EAGLEUK"),
    "ACTIVE": _pick(1, 1, 1, 0),
    "COMPANY": _MAXIMO_COMPANY,
    "COMPANIES.NAME": _company,
    "COMPANIES.TYPE": _pick("V", "V", "M"),
    "ADDRESS1": _street,
    "ZIP": _postcode,
    "PHONE": _phone,
    "ITEMNUM": _Ident("{}", 10_400),
    "ITEM.DESCRIPTION": _part,  # Maximo's and Tecsys's ITEM alike
    "ORDERUNIT": _UOM,
    "COMMODITYGROUP": _pick("BEARING", "FILTER", "SEAL", "ELEC", "HYDR"),
    "ITEM.STATUS": _pick("ACTIVE", "ACTIVE", "PENDOBS", "OBSOLETE"),
    "AVGCOST": _amount(2, 900),
    "MINLEVEL": _count(0, 20),
    "PONUM": _Ident("{}", 3_000),
    "PO.DESCRIPTION": _pick("Spare parts", "Filters and seals", "Annual service kit", "Lubricants"),
    "PO.VENDOR": _MAXIMO_COMPANY,
    "PO.STATUS": _pick("WAPPR", "APPR", "INPRG", "CLOSE", "CAN"),
    "ORDERDATE": _earlier,
    "REQUIREDDATE": _due,
    "STATUSDATE": _updated,
    "SHIPVIA": _pick("UPS", "FEDEX", "TRUCK", "PICKUP"),
    "PAYMENTTERMS": _pick("NET30", "NET45", "NET60"),
    "PRETAXTOTAL": _amount(100, 40_000),
    "TOTALCOST": _gross("PRETAXTOTAL"),
    "PLUSINSP.INSPECTOR": _person,
    "LASTINSPDATE": _inspected(_ISO_DAY),
    "CRITSCORE": _score,
    "PERMITREQ": _pick(0, 1),
    "CHANGEDATE": _updated,
    # Infor EAM
    "EVT_CODE": _INFOR_EVENT,
    "EVT_DESC": _task,
    "EVT_STATUS": _pick("R", "IP", "C", "CANC"),
    "EVT_JOBTYPE": _pick("PM", "BRKD", "REQ", "CAL"),
    "EVT_OBJECT": _INFOR_OBJECT,
    "EVT_MRC": _pick("MECH", "ELEC", "FAC"),
    "EVT_ORG": _INFOR_ORG,
    "EVT_PRIORITY": _pick("LOW", "MED", "HIGH", "EMER"),
    "EVT_TARGET": _due,
    "EVT_DUE": _due,
    "EVT_COMPLETED": _finished("EVT_STATUS", "C"),
    "EVT_UPDATED": _updated,
    "OBJ_CODE": _INFOR_OBJECT,
    "OBJ_DESC": _asset,
    "OBJ_STATUS": _pick("I", "D", "A"),
    "OBJ_LOCATION": _INFOR_LOCATION,
    "OBJ_SERIALNO": _serial,
    "OBJ_ORG": _INFOR_ORG,
    "OBJ_MANUFACT": _pick(*_MANUFACTURERS),
    "OBJ_CATEGORY": _pick("PUMPS", "HVAC", "FLEET", "PRESS"),
    "OBJ_CRITICALITY": _pick("A", "B", "C"),
    "OBJ_COMMISS": _created,
    "OBJ_UPDATED": _updated,
    "PAR_CODE": _Ident("P-{:05d}", 50_000),
    "PAR_DESC": _part,
    "PAR_UOM": _UOM,
    "PAR_CLASS": _pick("BEARING", "FILTER", "SEAL", "ELEC"),
    "PAR_ORG": _INFOR_ORG,
    "PAR_BASEPRICE": _amount(2, 900),
    "PAR_NOTUSED": _pick("-", "-", "-", "+"),
    "PAR_UPDATED": _updated,
    "ORG_CODE": _INFOR_ORG,
    "ORG_DESC": _plant,
    "ORG_CURR": _CURRENCY,
    "ORG_UPDATED": _updated,
    "LOC_CODE": _INFOR_LOCATION,
    "LOC_DESC": _place,
    "LOC_ORG": _INFOR_ORG,
    "LOC_PARENT": _INFOR_LOCATION,
    "LOC_UPDATED": _updated,
    "COM_CODE": _INFOR_COMPANY,
    "COM_DESC": _company,
    "COM_CURR": _CURRENCY,
    "COM_UPDATED": _updated,
    "ORD_CODE": _Ident("PO{:06d}", 20_000),
    "ORD_DESC": _pick("Spare parts", "Filters and seals", "Annual service kit", "Lubricants"),
    "ORD_SUPPLIER": _INFOR_COMPANY,
    "ORD_ORG": _INFOR_ORG,
    "ORD_STATUS": _pick("U", "A", "RP", "C"),
    "ORD_DATE": _earlier,
    "ORD_DUE": _due,
    "ORD_PRICE": _amount(120, 48_000),
    "ORD_CURR": _CURRENCY,
    "ORD_UPDATED": _updated,
    "UIN_EVENT": _INFOR_EVENT,
    "UIN_INSPECTOR": _person,
    "UIN_DATE": _inspected(_ISO_DAY),
    "UIN_SCORE": _score,
    "UIN_PASSED": _pick("+", "-"),
    # Simple cloud CMMS (snake_case)
    "id": _ID,
    "title": _task,
    "work_orders.status": _pick("open", "in_progress", "on_hold", "done"),
    "priority": _pick("low", "medium", "high", "urgent"),
    "asset_id": _ID,
    "location_id": _ID,
    "site_id": _ID,
    "vendor_id": _ID,
    "parent_id": _ID,
    "work_order_id": _ID,
    "due_date": _due,
    "scheduled_date": _due,
    "completed_at": _finished("status", "done"),
    "work_orders.category": _pick("preventive", "corrective", "inspection", "safety"),
    "work_orders.description": _pick(
        "Follow the checklist in the manual.", "Lock out before opening.", "Report findings."
    ),
    "assets.name": _asset,
    "assets.category": _pick("Pumps", "HVAC", "Vehicles", "Production"),
    "criticality": _pick("low", "medium", "high"),
    "is_active": _pick(True, True, True, False),
    "manufacturer": _pick(*_MANUFACTURERS),
    "serial_number": _serial,
    "model": _pick("CR 32-4", "GA 37 VSD", "ACS880", "XC-200"),
    "locations.name": _place,
    "kind": _pick("building", "area", "room", "line"),
    "address": _address,
    "sites.name": _plant,
    "sites.code": _seq("S{:03d}", 0),
    "sites.address": _street,
    "city": _CITY,
    "postal_code": _postcode,
    "country": _COUNTRY,
    "latitude": _latitude,
    "longitude": _longitude,
    "contact_name": _person,
    "contact_phone": _phone,
    "parts.name": _part,
    "parts.category": _pick("Bearings", "Filters", "Seals", "Electrical"),
    "part_number": _seq("PN-{:05d}", 20_000),
    "quantity": _count(0, 250),
    "unit_cost": _amount(2, 900),
    "min_quantity": _count(0, 20),
    "vendors.name": _company,
    "phone": _phone,
    "po_number": _seq("PO-{:05d}", 40_000),
    "purchase_orders.status": _pick("draft", "approved", "ordered", "received", "cancelled"),
    "order_date": _earlier,
    "shipping_method": _pick("Ground", "Express", "Pickup"),
    "payment_terms": _pick("Net 30", "Net 45", "Due on receipt"),
    "subtotal": _amount(100, 40_000),
    "purchase_orders.total": _gross("subtotal", 1.08),
    "total": _amount(120, 48_000),
    "inspector": _person,
    "inspected_on": _inspected(_ISO_DAY),
    "criticality_score": _score,
    "safety_permit": _pick(True, False),
    "updated_at": _updated,
    # Odoo
    "purchase_order.name": _seq("P{:05d}", 100),
    "sale_order.name": _seq("S{:05d}", 100),
    "partner_id": _ID,
    "state": _pick("draft", "sent", "purchase", "done", "cancel"),
    "sale_order.state": _pick("draft", "sent", "sale", "done", "cancel"),
    "date_order": _earlier,
    "date_planned": _due,
    "commitment_date": _due,
    "client_order_ref": _seq("REF-{:05d}", 1_000),
    "amount_untaxed": _amount(70, 21_000),
    "purchase_order.amount_total": _gross("amount_untaxed", 1.21),
    "amount_total": _amount(80, 25_000),
    "notes": _pick("Deliver to gate 2", "Partial delivery accepted", ""),
    "default_code": _seq("FURN_{:04d}", 7_000),
    "product_tmpl_id": _ID,
    "barcode": _seq("40{:011d}", 12_345_000),
    "active": _pick(True, True, True, False),
    "standard_price": _amount(2, 900),
    "product_template.name": _part,
    "product_template.type": _pick("product", "consu", "service"),
    "list_price": _amount(4, 1_500),
    "sale_ok": _pick(True, True, False),
    "res_partner.name": _company,
    "email": _email,
    "street": _street,
    "zip": _postcode,
    "supplier_rank": _count(0, 3),
    "stock_warehouse.name": _plant,
    "stock_warehouse.code": _seq("WH{}", 0),
    "maintenance_equipment.name": _asset,
    "serial_no": _serial,
    "maintenance_equipment.location": _place,
    "x_product_id": _ID,
    "x_inspector": _person,
    "x_last_inspection": _inspected(_ISO_DAY),
    "x_score": _score,
    "x_passed": _pick(True, False),
    "write_date": _updated,
    # Oracle NetSuite
    "tranid": _seq("PO{}", 3_100),
    "salesorder.tranid": _seq("SO{}", 8_200),
    "type": _pick("PurchOrd"),
    "entity": _ID,
    "transaction.location": _ID,
    "transaction.status": _pick("A", "B", "F", "H"),
    "salesorder.status": _pick("A", "B", "D", "F", "G"),
    "trandate": _earlier,
    "duedate": _due,
    "shipdate": _due,
    "memo": _pick("Spare parts", "Quarterly restock", "Service kit", ""),
    "otherrefnum": _seq("CPO-{:05d}", 500),
    "exchangerate": _pick(1.0, 1.0, 1.08, 0.86),
    "itemid": _seq("ITEM-{:04d}", 4_000),
    "displayname": _part,
    "itemtype": _pick("InvtPart", "NonInvtPart", "Service"),
    "upccode": _seq("0{:011d}", 70_000_000),
    "cost": _amount(2, 900),
    "baseprice": _amount(4, 1_500),
    "isinactive": _pick("F", "F", "F", "T"),
    "entityid": _seq("VEND-{:04d}", 600),
    "customer.entityid": _seq("CUST-{:04d}", 900),
    "companyname": _company,
    "location.name": _place,
    "addr1": _street,
    "custrecord_insp_item": _ID,
    "custrecord_inspector": _person,
    "custrecord_insp_date": _inspected(_ISO_DAY),
    "custrecord_insp_score": _score,
    "custrecord_insp_passed": _pick("T", "F"),
    "lastmodifieddate": _updated,
    # Microsoft Dynamics 365
    "PurchId": _Ident("PO-{:06d}", 12_000),
    "OrderAccount": _D365_VENDOR,
    "PurchName": _company,
    "PurchStatus": _pick("Backorder", "Received", "Invoiced", "Canceled"),
    "InventSiteId": _D365_SITE,
    "AccountingDate": _earlier,
    "DeliveryDate": _due,
    "DlvMode": _pick("Truck", "Air", "Parcel"),
    "Payment": _pick("Net30", "Net45", "COD"),
    "CurrencyCode": _CURRENCY,
    "SalesId": _Ident("SO-{:06d}", 30_000),
    "CustAccount": _D365_CUSTOMER,
    "SalesName": _company,
    "SalesStatus": _pick("Backorder", "Delivered", "Invoiced", "Canceled"),
    "ShippingDateRequested": _due,
    "CustomerRef": _seq("CREF-{:05d}", 2_000),
    "ItemId": _D365_ITEM,
    "NameAlias": _part,
    "ItemType": _pick("Item", "Service"),
    "PrimaryVendorId": _D365_VENDOR,
    "DisplayProductNumber": _Ident("P-{:05d}", 5_000),
    "SearchName": _part,
    "ProductType": _pick("Item", "Service"),
    "SalesPrice": _amount(4, 1_500),
    "AccountNum": _D365_VENDOR,
    "CustTable.AccountNum": _D365_CUSTOMER,
    "VendTable.Name": _company,
    "CustTable.Name": _company,
    "InventSite.Name": _plant,
    "VendGroup": _pick("10", "20", "30"),
    "CustGroup": _pick("10", "20", "30"),
    "Currency": _CURRENCY,
    "City": _CITY,
    "SiteId": _D365_SITE,
    "Inspector": _person,
    "LastInspectionDate": _inspected(_ISO_DAY),
    "CriticalityScore": _score,
    "InspectionRequired": _pick("Yes", "No"),
    "ModifiedDateTime": _updated,
    # JD Edwards EnterpriseOne
    "WADOCO": _Ident(None, 184_000),
    "WADCTO": _pick("WM", "WO"),
    "WADL01": _task,
    "WASRST": _pick("10", "30", "45", "90", "99"),
    "WAMMCU": _JDE_BRANCH,
    "WANUMB": _JDE_ASSET,
    "WAUPMJ": _updated,
    "IMITM": _Ident(None, 60_000),
    "IMLITM": _seq("MRO-{:05d}", 2_000),
    "IMDSC1": _part,
    "IMUOM1": _UOM,
    "IMSRP1": _pick("MRO", "FIN", "RAW"),
    "IMSTKT": _pick("S", "S", "N", "O"),
    "IMUPMJ": _updated,
    "FANUMB": _JDE_ASSET,
    "FAASID": _serial,
    "FADL01": _asset,
    "FAMCU": _JDE_BRANCH,
    "FAUPMJ": _updated,
    "ABAN8": _JDE_ADDRESS,
    "ABALPH": _company,
    "ABAT1": _pick("V", "C", "E"),
    "ABUPMJ": _updated,
    "MCMCU": _JDE_BRANCH,
    "MCDL01": _plant,
    "MCSTYL": _pick("BP", "WH", "IS"),
    "MCCO": _pick("00001", "00200"),
    "MCUPMJ": _updated,
    "PHDOCO": _Ident(None, 5_400),
    "PHDCTO": _pick("OP", "OS"),
    "PHAN8": _JDE_ADDRESS,
    "PHMCU": _JDE_BRANCH,
    "PHTRDJ": _earlier,
    "PHDRQJ": _due,
    "PHPTC": _pick("N30", "N45", "N60"),
    "PHOTOT": _amount(120, 48_000),
    "PHCRCD": _CURRENCY,
    "PHUPMJ": _updated,
    "SHDOCO": _Ident(None, 7_800),
    "SHDCTO": _pick("SO", "SQ"),
    "SHAN8": _JDE_ADDRESS,
    "SHTRDJ": _earlier,
    "SHDRQJ": _due,
    "SHVR01": _seq("CPO{:05d}", 900),
    "SHOTOT": _amount(80, 25_000),
    "SHCRCD": _CURRENCY,
    "SHUPMJ": _updated,
    "VAAN8": _JDE_ADDRESS,
    "VAAUDR": _person,
    "VAAUDJ": _inspected(_ISO_DAY),
    "VASCR": _score,
    "VAAPPR": _pick("Y", "N"),
    # Sage 500
    "POKey": _Ident(None, 9_000),
    "TranNo": _seq("{:010d}", 1_500),
    "tsoSalesOrder.TranNo": _seq("{:010d}", 8_100),
    "VendKey": _SAGE_VENDOR,
    "CustKey": _SAGE_CUSTOMER,
    "WhseKey": _SAGE_WAREHOUSE,
    "TranDate": _earlier,
    "RequestDate": _due,
    "CustPONo": _seq("CPO-{:05d}", 4_000),
    "Status": _pick(0, 1, 2, 3),
    "TranAmt": _amount(120, 48_000),
    "CurrID": _CURRENCY,
    "SOKey": _Ident(None, 16_000),
    "ItemKey": _SAGE_ITEM,
    "ItemID": _seq("SPR-{:04d}", 300),
    "ShortDesc": _part,
    "timItem.ItemType": _pick(5, 6, 7),
    "StdPrice": _amount(4, 1_500),
    "timItem.Status": _pick(1, 1, 1, 2),
    "VendID": _seq("V{:04d}", 100),
    "VendName": _company,
    "CustID": _seq("C{:04d}", 100),
    "CustName": _company,
    "WhseID": _seq("WH{:02d}", 0),
    "timWarehouse.Description": _plant,
    "tcuItemInspection.Inspector": _person,
    "LastInspDate": _inspected(_ISO_DAY),
    "Score": _score,
    "Passed": _pick(0, 1),
    # Tecsys WMS
    "ORDER_ID": _Ident("SO{:07d}", 800_000),
    "CUSTOMER": _company,
    "ORDER_HEADER.STATUS": _pick("OPEN", "ALLOCATED", "PICKED", "SHIPPED"),
    "ORDER_DATE": _earlier,
    "SHIP_DATE": _due,
    "SHIP_TO_ADDRESS": _street,
    "SHIP_TO_CITY": _CITY,
    "ITEM_ID": _TECSYS_ITEM,
    "UOM": _UOM,
    "UPC": _seq("0{:011d}", 80_000_000),
    "UNIT_PRICE": _amount(4, 1_500),
    "ITEM_STATUS": _pick("ACTIVE", "ACTIVE", "ACTIVE", "INACTIVE"),
    "LOCATION_ID": _TECSYS_LOCATION,
    "ZONE": _pick("A", "B", "COLD", "BULK"),
    "LOCATION_TYPE": _pick("PICK", "RESERVE", "STAGING"),
    "INVENTORY_ID": _Ident(None, 1),
    "QUANTITY": _count(0, 500),
    "MIN_QTY": _count(0, 20),
    "MAX_QTY": _count(200, 900),
    "EXPIRY_DATE": _due,
    "WAREHOUSE_ID": _TECSYS_WAREHOUSE,
    "WAREHOUSE.NAME": _plant,
    "POSTAL_CODE": _postcode,
    "CITY": _CITY,
    "COUNTRY": _COUNTRY,
    "VENDOR_ID": _TECSYS_VENDOR,
    "VENDOR.NAME": _company,
    "PO_ID": _Ident("PO{:07d}", 300_000),
    "PO_HEADER.STATUS": _pick("OPEN", "RECEIVING", "CLOSED"),
    "EXPECTED_DATE": _due,
    "TOTAL_AMOUNT": _amount(120, 48_000),
    "QC_INSPECTOR": _person,
    "LAST_QC_DATE": _inspected(_ISO_DAY),
    "QC_SCORE": _score,
    "QC_HOLD": _pick("Y", "N"),
    "LAST_UPDATE": _updated,
    # Fishbowl
    "part.num": _seq("P-{}", 1_000),
    "part.description": _part,
    "uomId": _count(1, 5),
    "typeId": _pick(10, 20, 30),
    "upc": _seq("0{:011d}", 60_000_000),
    "stdCost": _amount(2, 900),
    "activeFlag": _pick(1, 1, 1, 0),
    "dateCreated": _created,
    "so.num": _seq("SO-{}", 10_000),
    "po.num": _seq("PO-{}", 20_000),
    "tag.num": _seq("{}", 50_000),
    "customerId": _ID,
    "customerContact": _person,
    "vendorId": _ID,
    "partId": _ID,
    "locationId": _ID,
    "statusId": _pick(10, 20, 25, 60),
    "dateIssued": _earlier,
    "dateFirstShip": _due,
    "shipToAddress": _street,
    "shipToCity": _CITY,
    "totalPrice": _amount(80, 25_000),
    "location.description": _place,
    "locationGroupId": _ID,
    "locationgroup.name": _plant,
    "vendor.name": _company,
    "accountNum": _seq("ACC-{:04d}", 0),
    "qty": _count(0, 500),
    "plugin_part_inspection.inspector": _person,
    "lastInspected": _inspected(_ISO_DAY),
    "score": _score,
    "passed": _pick(0, 1),
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


def described(table: str, column: str) -> bool:
    """Whether the column has a spec of its own (not one guessed from its name)."""
    return f"{table}.{column}" in _COLUMNS or column in _COLUMNS


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[str, ...]
    custom: bool = False  # a customer-specific table, not one the product ships
    extends: str | None = None  # the table whose row n this table's row n extends (1:1)
    link: str | None = None  # the column holding the extended row's identifier

    @property
    def id_column(self) -> str:
        """The column holding each row's own identifier."""
        return self.columns[0]

    @property
    def updated_column(self) -> str | None:
        """The column that holds the row's last change (for `modified_after`)."""
        return next((c for c in self.columns if _spec(self.name, c) is _updated), None)

    def to_api(self, *, rows: int | None = None) -> dict[str, Any]:
        """`{name, columns}`; with `rows` (extensions), also `rows` and `custom`."""
        out: dict[str, Any] = {"name": self.name, "columns": list(self.columns)}
        if rows is not None:
            out["rows"] = rows
            out["custom"] = self.custom
        return out


_TABLES: dict[str, tuple[RawTable, ...]] = {}


def _tables(platform: Platform) -> tuple[RawTable, ...]:
    cached = _TABLES.get(platform.key)
    if cached is not None:
        return cached
    out = []
    for name, columns in platform.raw_tables.items():
        link = platform.table_links.get(name)
        if link is None:
            out.append(RawTable(name, columns))
        else:
            out.append(RawTable(name, columns, link.custom, link.extends, link.column))
    _TABLES[platform.key] = tables = tuple(out)
    return tables


def tables_of(platform: Platform) -> list[RawTable]:
    return list(_tables(platform))


def find_table(platform: Platform, name: str) -> RawTable | None:
    """The table `name` names, exactly or else ignoring case."""
    tables = _tables(platform)
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


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def table_size(connection_key: str, table: RawTable, *, rows: int | None = None) -> int:
    """How many rows the table holds: `rows` when given (load tests), else 300 to 3,000,
    fixed per connection and table. A table that extends another has the other's size."""
    if rows is not None:
        if rows < MIN_ROWS:
            raise ValueError(f"a raw table holds at least {MIN_ROWS} rows, not {rows}")
        return rows
    base = table.extends or table.name
    return MIN_SIZE + _stable(f"{connection_key}/{base}") % (MAX_SIZE - MIN_SIZE + 1)


@dataclass(frozen=True)
class RowDetail:
    """One raw row and what went into it."""

    values: dict[str, Any]
    refs: dict[str, int]  # reference column -> the row number it points at
    created: float  # Unix seconds
    updated: float  # Unix seconds


@functools.lru_cache(maxsize=256)
def _plan(table: RawTable) -> tuple[tuple[str, Spec, bool], ...]:
    """Per column: its spec and, for an identifier, whether it is the row's own."""
    return tuple(
        (column, _spec(table.name, column), position == 0 or column == table.link)
        for position, column in enumerate(table.columns)
    )


def reference_columns(table: RawTable) -> frozenset[str]:
    """The columns that hold another row's identifier (`RowDetail.refs` has their rows)."""
    return frozenset(c for c, spec, own in _plan(table) if isinstance(spec, _Ident) and not own)


def row_detail(connection_key: str, table: RawTable, number: int) -> RowDetail:
    """Row `number` (1-based, any number ≥ 1) with its references and times."""
    # Not for secrets: a seeded generator is what makes the rows repeatable.
    rng = random.Random(f"{connection_key}/{table.name}/{number}")  # noqa: S311
    updated = ORIGIN - rng.randint(0, 180 * DAY)
    row = _Row(number, updated, updated - rng.randint(0, 720) * DAY, rng.randrange(len(_TOWNS)))
    values: dict[str, Any] = {}
    refs: dict[str, int] = {}
    for column, spec, own in _plan(table):
        if isinstance(spec, _Ident):
            if own:
                values[column] = spec.value(number)
            else:
                refs[column] = target = rng.randint(1, MIN_ROWS)
                values[column] = spec.value(target)
        elif isinstance(spec, _Derived):
            values[column] = spec.make(values, row)
        else:
            values[column] = spec(rng, row)
    return RowDetail(values, refs, row.created, row.updated)


def table_row(connection_key: str, table: RawTable, number: int) -> dict[str, Any]:
    """Row `number` (1-based) as the connection's system holds it; any number ≥ 1."""
    return row_detail(connection_key, table, number).values


def table_page(
    connection_key: str, table: RawTable, start: int, stop: int, *, rows: int | None = None
) -> list[dict[str, Any]]:
    """Rows at positions [start, stop) (0-based), made without the rest of the table."""
    stop = min(stop, table_size(connection_key, table, rows=rows))
    return [table_row(connection_key, table, n + 1) for n in range(max(start, 0), stop)]


# Small: with --table-rows 100000 one entry is a few hundred MB.
@functools.lru_cache(maxsize=8)
def _all_rows(connection_key: str, table: RawTable, rows: int | None) -> tuple[dict[str, Any], ...]:
    return tuple(table_page(connection_key, table, 0, table_size(connection_key, table, rows=rows)))


def table_rows(
    connection_key: str, table: RawTable, *, rows: int | None = None
) -> Sequence[dict[str, Any]]:
    """Every row of `table`, in key order. Cached: treat the rows as read-only."""
    return _all_rows(connection_key, table, rows)


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
        "body": table_page(connection_key, table, 0, PASSTHROUGH_ROWS),
    }
