"""Which raw table and columns fill each unified field, per platform family.

A map is `entity path -> (table, {field: spec})`; a plain string names a column. Fields a
family does not map are left out of its records (its system has no value for them).
`createdAt`/`updatedAt` come from the row's times and are never mapped. A spec is
checked against the table when a platform's sources are first built, so a typo fails
at once, not on a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from makini_cli.sandbox import raw
from makini_cli.sandbox.platforms import Platform
from makini_cli.sandbox.raw import RawTable
from makini_cli.sandbox.unified_model import Entity, Reader, record_key


class Spec:
    """How one field is read from a raw row."""

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        """The reader for rows of `table`, or None when the field cannot be filled on
        this platform (a reference to an entity its category does not serve)."""
        raise NotImplementedError


def _column(table: RawTable, column: str) -> str:
    if column not in table.columns:
        raise LookupError(f"table {table.name} has no column {column}")
    return column


def _reference(table: RawTable, column: str) -> str:
    if column not in raw.reference_columns(table):
        raise LookupError(f"{table.name}.{column} is not a reference column")
    return column


@dataclass(frozen=True)
class Col(Spec):
    column: str

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        column = _column(table, self.column)
        return lambda key, number, row: row.values.get(column)


@dataclass(frozen=True)
class Const(Spec):
    value: Any

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        value = self.value
        return lambda key, number, row: value


@dataclass(frozen=True)
class Fn(Spec):
    """`fn` of the values of `columns`."""

    fn: Callable[..., Any]
    columns: tuple[str, ...]

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        columns = [_column(table, c) for c in self.columns]
        fn = self.fn
        return lambda key, number, row: fn(*(row.values.get(c) for c in columns))


def fn(function: Callable[..., Any], *columns: str) -> Fn:
    return Fn(function, columns)


def _money_text(value: Any) -> str | None:
    return (
        f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else None
    )


def amount(column: str) -> Fn:
    """A money amount as Makini writes totals: a string with two decimals."""
    return fn(_money_text, column)


@dataclass(frozen=True)
class Ref(Spec):
    """The key of the `entity` record a reference column points at."""

    column: str
    entity: str
    not_self: bool = False  # a parent: no record is its own

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        target = served.get(self.entity)
        if target is None:
            return None
        column = _reference(table, self.column)
        if self.not_self:
            return lambda key, number, row: (
                None if row.refs[column] == number else record_key(key, target, row.refs[column])
            )
        return lambda key, number, row: record_key(key, target, row.refs[column])


@dataclass(frozen=True)
class Refs(Spec):
    """A one-key list of `Ref` (for `…Keys` arrays)."""

    column: str
    entity: str

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        one = Ref(self.column, self.entity).reader(platform, table, served)
        if one is None:
            return None
        return lambda key, number, row: [one(key, number, row)]


@dataclass(frozen=True)
class Join(Spec):
    """A column of the table linked 1:1 to this one (its row `number`)."""

    table: str
    column: str

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        other = raw.find_table(platform, self.table)
        if other is None or (other.extends or other.name) != (table.extends or table.name):
            raise LookupError(f"{self.table} is not linked 1:1 to {table.name}")
        column = _column(other, self.column)
        return lambda key, number, row: raw.table_row(key, other, number).get(column)


@dataclass(frozen=True)
class Via(Spec):
    """A column of the row a reference column points at (a join through the reference)."""

    reference: str
    table: str
    column: str

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        reference = _reference(table, self.reference)
        other = raw.find_table(platform, self.table)
        if other is None:
            raise LookupError(f"{platform.key} has no table {self.table}")
        column = _column(other, self.column)
        return lambda key, number, row: raw.table_row(key, other, row.refs[reference]).get(column)


_ADDRESS_FIELDS = ("addressee", "addressLines", "postCode", "city", "state", "country", "phone")


@dataclass(frozen=True)
class Address(Spec):
    """Makini's Address object from the columns that hold its parts; `text`: one line
    (for the fields the schema types as a string)."""

    addressLines: str | None = None  # Makini's field names
    city: str | None = None
    postCode: str | None = None
    state: str | None = None
    country: str | None = None
    addressee: str | None = None
    phone: str | None = None
    text: bool = False

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        parts = [
            (name, _column(table, column))
            for name in _ADDRESS_FIELDS
            if (column := getattr(self, name)) is not None
        ]
        if self.text:
            return lambda key, number, row: _address_line(row.values, parts)
        return lambda key, number, row: _address(row.values, parts)


def _address(values: Mapping[str, Any], parts: list[tuple[str, str]]) -> dict[str, Any] | None:
    out = {name: str(values[c]) for name, c in parts if values.get(c) not in (None, "")}
    return out or None


def _address_line(values: Mapping[str, Any], parts: list[tuple[str, str]]) -> str | None:
    found = dict(parts)
    pieces = [values.get(found[n]) for n in ("addressee", "addressLines") if n in found]
    town = " ".join(str(values.get(found[n])) for n in ("postCode", "city") if n in found)
    pieces.append(town)
    pieces += [values.get(found[n]) for n in ("state", "country") if n in found]
    line = ", ".join(str(p) for p in pieces if p not in (None, ""))
    return line or None


@dataclass(frozen=True)
class Contact(Spec):
    name: str
    phones: str | None = None
    emails: str | None = None

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        parts = [
            (field, _column(table, column))
            for field, column in (
                ("name", self.name),
                ("phones", self.phones),
                ("emails", self.emails),
            )
            if column is not None
        ]
        return lambda key, number, row: _address(row.values, parts)


def _date_object(value: Any) -> dict[str, Any] | None:
    instant = _as_instant(value)
    if instant is None:
        return None
    # How PHP writes a DateTime as JSON: Makini types orderDate as an object.
    return {
        "date": instant.strftime("%Y-%m-%d %H:%M:%S.000000"),
        "timezone_type": 3,
        "timezone": "UTC",
    }


def _as_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 8 and value.isdigit():
            return datetime.strptime(value, "%Y%m%d").replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def date_object(column: str) -> Fn:
    """A date as PHP writes a DateTime: `{"date", "timezone_type", "timezone"}`."""
    return fn(_date_object, column)


@dataclass(frozen=True)
class Money(Spec):
    """`{"amount": "12.50", "currency": "EUR"}`: Makini types a part's cost as an object."""

    amount: str
    currency: str | None = None  # a column
    fixed_currency: str | None = None  # when the system keeps one currency

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        amount = _column(table, self.amount)
        currency = _column(table, self.currency) if self.currency else None
        fixed = self.fixed_currency

        def read(key: str, number: int, row: raw.RowDetail) -> dict[str, Any] | None:
            text = _money_text(row.values.get(amount))
            if text is None:
                return None
            unit = row.values.get(currency) if currency else fixed
            return {"amount": text, "currency": unit} if unit else {"amount": text}

        return read


@dataclass(frozen=True)
class Quantity(Spec):
    """`{"value": 12, "uom": "EA"}`: Makini types quantities and stock levels as objects."""

    column: str
    uom: str | None = None  # a column

    def reader(
        self, platform: Platform, table: RawTable, served: Mapping[str, Entity]
    ) -> Reader | None:
        column = _column(table, self.column)
        uom = _column(table, self.uom) if self.uom else None

        def read(key: str, number: int, row: raw.RowDetail) -> dict[str, Any] | None:
            value = row.values.get(column)
            if not isinstance(value, int | float) or isinstance(value, bool):
                return None
            unit = row.values.get(uom) if uom else None
            return {"value": value, "uom": unit} if unit else {"value": value}

        return read


FieldSpec = Spec | str
EntityMap = tuple[str, Mapping[str, FieldSpec]]
Family = Mapping[str, EntityMap]


def _not(flag: Any) -> bool | None:
    return None if flag is None else flag in ("F", "", 0, False)


def _strip_zeros(value: Any) -> str | None:
    return str(value).lstrip("0") or None if value is not None else None


_CMMS: Family = {
    "sites": (
        "sites",
        {
            "code": "code",
            "name": "name",
            "address": Address(
                addressLines="address", city="city", postCode="postal_code", country="country"
            ),
            "contact": Contact("contact_name", phones="contact_phone"),
            "lat": "latitude",
            "lng": "longitude",
        },
    ),
    "locations": (
        "locations",
        {
            "siteKey": Ref("site_id", "sites"),
            "parentKey": Ref("parent_id", "locations", not_self=True),
            "code": "id",
            "name": "name",
            "type": "kind",
            "address": Address(addressLines="address"),
        },
    ),
    "assets": (
        "assets",
        {
            "siteKey": Ref("site_id", "sites"),
            "locationKey": Ref("location_id", "locations"),
            "vendorKey": Ref("vendor_id", "vendors"),
            "name": "name",
            "categoryName": "category",
            "criticality": "criticality",
            "isActive": "is_active",
            "makeName": "manufacturer",
            "modelName": "model",
            "serialNumber": "serial_number",
        },
    ),
    "work-orders": (
        "work_orders",
        {
            "siteKey": Ref("site_id", "sites"),
            "locationKey": Ref("location_id", "locations"),
            "assetKey": Ref("asset_id", "assets"),
            "code": "id",
            "title": "title",
            "instructions": "description",
            "status": "status",
            "severity": "priority",
            "categoryName": "category",
            "scheduledAt": "scheduled_date",
            "dueAt": "due_date",
            "completedAt": "completed_at",
        },
    ),
    "purchase-orders": (
        "purchase_orders",
        {
            "siteKey": Ref("site_id", "sites"),
            "vendorKey": Ref("vendor_id", "vendors"),
            "orderNo": "po_number",
            "orderDate": date_object("order_date"),
            "dueAt": "due_date",
            "shippingMethod": "shipping_method",
            "terms": "payment_terms",
            "totalNetValue": amount("subtotal"),
            "totalGrossValue": amount("total"),
        },
    ),
    "materials": (
        "parts",
        {
            "siteKeys": Refs("site_id", "sites"),
            "code": "id",
            "partNumber": "part_number",
            "name": "name",
            "categoryName": "category",
            "minimumQuantity": "min_quantity",
            "cost": Money("unit_cost", fixed_currency="USD"),
            "currency": Const("USD"),
        },
    ),
    "vendors": ("vendors", {"code": "id", "name": "name"}),
}

_SAP: Family = {
    "sites": (
        "T001W",
        {
            "code": "WERKS",
            "name": "NAME1",
            "address": Address(
                addressLines="STRAS", postCode="PSTLZ", city="ORT01", state="REGIO", country="LAND1"
            ),
        },
    ),
    "vendors": ("LFA1", {"code": "LIFNR", "name": "NAME1"}),
    "customers": (
        "KNA1",
        {
            "code": "KUNNR",
            "name": "NAME1",
            "addresses": Address(
                addressLines="STRAS", postCode="PSTLZ", city="ORT01", country="LAND1", text=True
            ),
            "billingAddress": Address(
                addressLines="STRAS", postCode="PSTLZ", city="ORT01", country="LAND1", text=True
            ),
        },
    ),
    "purchase-orders": (
        "EKKO",
        {
            "siteKey": Ref("WERKS", "sites"),
            "vendorKey": Ref("LIFNR", "vendors"),
            "orderNo": "EBELN",
            "orderDate": date_object("BEDAT"),
            "dueAt": "EINDT",
            "terms": "ZTERM",
            "shippingMethod": "INCO1",
            "totalNetValue": amount("NETWR"),
            "totalGrossValue": amount("BRTWR"),
        },
    ),
    "materials": (
        "MARA",
        {
            "code": "MATNR",
            "partNumber": fn(_strip_zeros, "MATNR"),
            "name": "MAKTX",
            "categoryName": "MATKL",
            "manufacturerName": "MFRNR",
            "isActive": fn(lambda flag: flag != "X", "LVORM"),
        },
    ),
    "products": (
        "MVKE",
        {
            "code": "MATNR",
            "partNumber": fn(_strip_zeros, "MATNR"),
            "name": Join("MARA", "MAKTX"),
            "type": Join("MARA", "MTART"),
            "status": "VMSTA",
            "price": amount("KBETR"),
            "ean": "EAN11",
        },
    ),
    "sales-orders": (
        "VBAK",
        {
            "customerKey": Ref("KUNNR", "customers"),
            "code": "VBELN",
            "orderNumber": "BSTNK",
            "date": "AUDAT",
            "shipmentDate": "VDATU",
            "currencyRate": "KURRF",
        },
    ),
}

_SAP_B1: Family = {
    "sites": (
        "OWHS",
        {
            "code": "WhsCode",
            "name": "WhsName",
            "address": Address(
                addressLines="Street", postCode="ZipCode", city="City", country="Country"
            ),
        },
    ),
    "vendors": ("OCRD", {"code": "CardCode", "name": "CardName"}),
    "customers": (
        "OCRD",
        {
            "code": "CardCode",
            "name": "CardName",
            "addresses": Address(city="City", phone="Phone1", text=True),
        },
    ),
    "purchase-orders": (
        "OPOR",
        {
            "vendorKey": Ref("CardCode", "vendors"),
            "orderNo": "DocNum",
            "orderDate": date_object("DocDate"),
            "dueAt": "DocDueDate",
            "notes": "Comments",
            "totalGrossValue": amount("DocTotal"),
        },
    ),
    "materials": (
        "OITM",
        {
            "code": "ItemCode",
            "partNumber": "ItemCode",
            "name": "ItemName",
            "categoryName": "ItmsGrpCod",
            "isActive": "validFor",
            "cost": Money("AvgPrice"),
        },
    ),
    "products": (
        "OITM",
        {
            "code": "ItemCode",
            "name": "ItemName",
            "price": amount("AvgPrice"),
            "quantity": Quantity("OnHand", uom="InvntryUom"),
            "ean": "CodeBars",
        },
    ),
    "sales-orders": (
        "ORDR",
        {
            "customerKey": Ref("CardCode", "customers"),
            "code": "DocEntry",
            "orderNumber": "DocNum",
            "date": "DocDate",
            "shipmentDate": "DocDueDate",
            "currencyRate": "DocRate",
        },
    ),
}

_MAXIMO: Family = {
    "sites": ("SITE", {"code": "SITEID", "name": "DESCRIPTION", "description": "ORGID"}),
    "locations": (
        "LOCATIONS",
        {
            "siteKey": Ref("SITEID", "sites"),
            "code": "LOCATION",
            "name": "DESCRIPTION",
            "description": "DESCRIPTION",
            "type": "TYPE",
            "isActive": fn(lambda status: status == "OPERATING", "STATUS"),
        },
    ),
    "assets": (
        "ASSET",
        {
            "siteKey": Ref("SITEID", "sites"),
            "locationKey": Ref("LOCATION", "locations"),
            "vendorKey": Ref("VENDOR", "vendors"),
            "name": "DESCRIPTION",
            "categoryName": "ASSETTYPE",
            "criticality": "PRIORITY",
            "isActive": fn(lambda status: status != "DECOMMISSIONED", "STATUS"),
            "makeName": "MANUFACTURER",
            "serialNumber": "SERIALNUM",
            "activatedAt": "INSTALLDATE",
        },
    ),
    "work-orders": (
        "WORKORDER",
        {
            "siteKey": Ref("SITEID", "sites"),
            "locationKey": Ref("LOCATION", "locations"),
            "assetKey": Ref("ASSETNUM", "assets"),
            "code": "WONUM",
            "title": "DESCRIPTION",
            "status": "STATUS",
            "severity": "WOPRIORITY",
            "categoryName": "WORKTYPE",
            "scheduledAt": "TARGSTARTDATE",
            "dueAt": "TARGCOMPDATE",
            "completedAt": "ACTFINISH",
        },
    ),
    "purchase-orders": (
        "PO",
        {
            "siteKey": Ref("SITEID", "sites"),
            "vendorKey": Ref("VENDOR", "vendors"),
            "orderNo": "PONUM",
            "title": "DESCRIPTION",
            "orderDate": date_object("ORDERDATE"),
            "dueAt": "REQUIREDDATE",
            "shippingMethod": "SHIPVIA",
            "terms": "PAYMENTTERMS",
            "totalNetValue": amount("PRETAXTOTAL"),
            "totalGrossValue": amount("TOTALCOST"),
        },
    ),
    "materials": (
        "ITEM",
        {
            "code": "ITEMNUM",
            "partNumber": "ITEMNUM",
            "name": "DESCRIPTION",
            "categoryName": "COMMODITYGROUP",
            "isActive": fn(lambda status: status == "ACTIVE", "STATUS"),
            "manufacturerName": "MANUFACTURER",
            "minimumQuantity": "MINLEVEL",
            "cost": Money("AVGCOST", fixed_currency="USD"),
            "currency": Const("USD"),
        },
    ),
    "vendors": ("COMPANIES", {"code": "COMPANY", "name": "NAME"}),
}

_INFOR: Family = {
    "sites": ("R5ORGANIZATION", {"code": "ORG_CODE", "name": "ORG_DESC"}),
    "locations": (
        "R5LOCATIONS",
        {
            "siteKey": Ref("LOC_ORG", "sites"),
            "parentKey": Ref("LOC_PARENT", "locations", not_self=True),
            "code": "LOC_CODE",
            "name": "LOC_DESC",
        },
    ),
    "assets": (
        "R5OBJECTS",
        {
            "siteKey": Ref("OBJ_ORG", "sites"),
            "locationKey": Ref("OBJ_LOCATION", "locations"),
            "name": "OBJ_DESC",
            "categoryName": "OBJ_CATEGORY",
            "criticality": "OBJ_CRITICALITY",
            "isActive": fn(lambda status: status != "D", "OBJ_STATUS"),
            "makeName": "OBJ_MANUFACT",
            "serialNumber": "OBJ_SERIALNO",
            "activatedAt": "OBJ_COMMISS",
        },
    ),
    "work-orders": (
        "R5EVENTS",
        {
            "siteKey": Ref("EVT_ORG", "sites"),
            "assetKey": Ref("EVT_OBJECT", "assets"),
            "code": "EVT_CODE",
            "title": "EVT_DESC",
            "status": "EVT_STATUS",
            "severity": "EVT_PRIORITY",
            "categoryName": "EVT_JOBTYPE",
            "roleName": "EVT_MRC",
            "scheduledAt": "EVT_TARGET",
            "dueAt": "EVT_DUE",
            "completedAt": "EVT_COMPLETED",
        },
    ),
    "purchase-orders": (
        "R5ORDERS",
        {
            "siteKey": Ref("ORD_ORG", "sites"),
            "vendorKey": Ref("ORD_SUPPLIER", "vendors"),
            "orderNo": "ORD_CODE",
            "title": "ORD_DESC",
            "orderDate": date_object("ORD_DATE"),
            "dueAt": "ORD_DUE",
            "totalGrossValue": amount("ORD_PRICE"),
        },
    ),
    "materials": (
        "R5PARTS",
        {
            "siteKeys": Refs("PAR_ORG", "sites"),
            "code": "PAR_CODE",
            "partNumber": "PAR_CODE",
            "name": "PAR_DESC",
            "categoryName": "PAR_CLASS",
            "isActive": fn(lambda unused: unused == "-", "PAR_NOTUSED"),
            "cost": Money("PAR_BASEPRICE"),
        },
    ),
    "vendors": ("R5COMPANIES", {"code": "COM_CODE", "name": "COM_DESC"}),
}

_ODOO: Family = {
    "sites": (
        "stock_warehouse",
        {"code": "code", "name": "name", "address": Address(addressLines="street", city="city")},
    ),
    "vendors": ("res_partner", {"code": "id", "name": "name"}),
    "customers": (
        "res_partner",
        {
            "code": "id",
            "name": "name",
            "addresses": Address(addressLines="street", postCode="zip", city="city", text=True),
        },
    ),
    "purchase-orders": (
        "purchase_order",
        {
            "vendorKey": Ref("partner_id", "vendors"),
            "orderNo": "name",
            "orderDate": date_object("date_order"),
            "dueAt": "date_planned",
            "notes": "notes",
            "totalNetValue": amount("amount_untaxed"),
            "totalGrossValue": amount("amount_total"),
        },
    ),
    "materials": (
        "product_product",
        {
            "code": "id",
            "partNumber": "default_code",
            "name": Via("product_tmpl_id", "product_template", "name"),
            "isActive": "active",
            "cost": Money("standard_price", fixed_currency="EUR"),
            "currency": Const("EUR"),
        },
    ),
    "products": (
        "product_template",
        {
            "code": "default_code",
            "name": "name",
            "type": "type",
            "price": amount("list_price"),
        },
    ),
    "sales-orders": (
        "sale_order",
        {
            "customerKey": Ref("partner_id", "customers"),
            "code": "name",
            "orderNumber": "client_order_ref",
            "date": "date_order",
            "shipmentDate": "commitment_date",
        },
    ),
}

_NETSUITE: Family = {
    "sites": (
        "location",
        {
            "code": "id",
            "name": "name",
            "address": Address(
                addressLines="addr1", city="city", postCode="zip", country="country"
            ),
        },
    ),
    "vendors": ("vendor", {"code": "entityid", "name": "companyname"}),
    "customers": ("customer", {"code": "entityid", "name": "companyname"}),
    "purchase-orders": (
        "transaction",
        {
            "siteKey": Ref("location", "sites"),
            "vendorKey": Ref("entity", "vendors"),
            "orderNo": "tranid",
            "orderDate": date_object("trandate"),
            "dueAt": "duedate",
            "description": "memo",
            "totalGrossValue": amount("total"),
        },
    ),
    "materials": (
        "item",
        {
            "code": "id",
            "partNumber": "itemid",
            "name": "displayname",
            "categoryName": "itemtype",
            "isActive": fn(_not, "isinactive"),
            "cost": Money("cost", fixed_currency="USD"),
            "currency": Const("USD"),
        },
    ),
    "products": (
        "item",
        {
            "code": "itemid",
            "name": "displayname",
            "type": "itemtype",
            "price": amount("baseprice"),
            "upc": "upccode",
        },
    ),
    "sales-orders": (
        "salesorder",
        {
            "customerKey": Ref("entity", "customers"),
            "code": "tranid",
            "orderNumber": "otherrefnum",
            "date": "trandate",
            "shipmentDate": "shipdate",
            "currencyRate": "exchangerate",
        },
    ),
}

_DYNAMICS: Family = {
    "sites": (
        "InventSite",
        {
            "code": "SiteId",
            "name": "Name",
            "address": Address(addressLines="Street", postCode="ZipCode", city="City"),
        },
    ),
    "vendors": ("VendTable", {"code": "AccountNum", "name": "Name"}),
    "customers": (
        "CustTable",
        {"code": "AccountNum", "name": "Name", "addresses": Address(city="City", text=True)},
    ),
    "purchase-orders": (
        "PurchTable",
        {
            "siteKey": Ref("InventSiteId", "sites"),
            "vendorKey": Ref("OrderAccount", "vendors"),
            "orderNo": "PurchId",
            "title": "PurchName",
            "orderDate": date_object("AccountingDate"),
            "dueAt": "DeliveryDate",
            "shippingMethod": "DlvMode",
            "terms": "Payment",
        },
    ),
    "materials": (
        "InventTable",
        {"code": "ItemId", "partNumber": "ItemId", "name": "NameAlias", "categoryName": "ItemType"},
    ),
    "products": (
        "EcoResProduct",
        {
            "code": "DisplayProductNumber",
            "name": "SearchName",
            "type": "ProductType",
            "price": amount("SalesPrice"),
        },
    ),
    "sales-orders": (
        "SalesTable",
        {
            "customerKey": Ref("CustAccount", "customers"),
            "code": "SalesId",
            "orderNumber": "CustomerRef",
            "shipmentDate": "ShippingDateRequested",
        },
    ),
}

_JDE: Family = {
    "sites": ("F0006", {"code": fn(lambda mcu: str(mcu).strip(), "MCMCU"), "name": "MCDL01"}),
    "vendors": ("F0101", {"code": "ABAN8", "name": "ABALPH"}),
    "customers": ("F0101", {"code": "ABAN8", "name": "ABALPH"}),
    "purchase-orders": (
        "F4301",
        {
            "siteKey": Ref("PHMCU", "sites"),
            "vendorKey": Ref("PHAN8", "vendors"),
            "orderNo": "PHDOCO",
            "orderDate": date_object("PHTRDJ"),
            "dueAt": "PHDRQJ",
            "terms": "PHPTC",
            "totalGrossValue": amount("PHOTOT"),
        },
    ),
    "materials": (
        "F4101",
        {
            "code": "IMITM",
            "partNumber": "IMLITM",
            "name": "IMDSC1",
            "categoryName": "IMSRP1",
            "isActive": fn(lambda stocking: stocking != "O", "IMSTKT"),
        },
    ),
    "products": (
        "F4101",
        {"code": "IMLITM", "name": "IMDSC1", "type": "IMSTKT", "partNumber": "IMLITM"},
    ),
    "sales-orders": (
        "F4201",
        {
            "customerKey": Ref("SHAN8", "customers"),
            "code": "SHDOCO",
            "orderNumber": "SHVR01",
            "date": "SHTRDJ",
            "shipmentDate": "SHDRQJ",
        },
    ),
}

_SAGE: Family = {
    "sites": (
        "timWarehouse",
        {"code": "WhseID", "name": "Description", "address": Address(city="City")},
    ),
    "vendors": ("tapVendor", {"code": "VendID", "name": "VendName"}),
    "customers": (
        "tarCustomer",
        {"code": "CustID", "name": "CustName", "addresses": Address(city="City", text=True)},
    ),
    "purchase-orders": (
        "tpoPurchOrder",
        {
            "siteKey": Ref("WhseKey", "sites"),
            "vendorKey": Ref("VendKey", "vendors"),
            "orderNo": "TranNo",
            "orderDate": date_object("TranDate"),
            "dueAt": "RequestDate",
            "totalGrossValue": amount("TranAmt"),
        },
    ),
    "materials": (
        "timItem",
        {
            "code": "ItemID",
            "partNumber": "ItemID",
            "name": "ShortDesc",
            "isActive": fn(lambda status: status == 1, "Status"),
        },
    ),
    "products": (
        "timItem",
        {"code": "ItemID", "name": "ShortDesc", "type": "ItemType", "price": amount("StdPrice")},
    ),
    "sales-orders": (
        "tsoSalesOrder",
        {
            "customerKey": Ref("CustKey", "customers"),
            "code": "TranNo",
            "orderNumber": "CustPONo",
            "date": "TranDate",
            "shipmentDate": "RequestDate",
        },
    ),
}

_TECSYS: Family = {
    "sites": (
        "WAREHOUSE",
        {
            "code": "WAREHOUSE_ID",
            "name": "NAME",
            "address": Address(
                addressLines="ADDRESS1", city="CITY", postCode="POSTAL_CODE", country="COUNTRY"
            ),
        },
    ),
    "locations": (
        "LOCATION",
        {
            "siteKey": Ref("WAREHOUSE_ID", "sites"),
            "code": "LOCATION_ID",
            "name": "LOCATION_ID",
            "description": fn(lambda zone: f"Zone {zone}", "ZONE"),
            "type": "LOCATION_TYPE",
        },
    ),
    "vendors": ("VENDOR", {"code": "VENDOR_ID", "name": "NAME"}),
    "products": (
        "ITEM",
        {
            "code": "ITEM_ID",
            "name": "DESCRIPTION",
            "status": "ITEM_STATUS",
            "price": amount("UNIT_PRICE"),
            "upc": "UPC",
            "sku": "ITEM_ID",
        },
    ),
    "stocks": (
        "INVENTORY",
        {
            "productKey": Ref("ITEM_ID", "products"),
            "locationKey": Ref("LOCATION_ID", "locations"),
            "position": "LOCATION_ID",
            "quantity": Quantity("QUANTITY"),
            "minLevel": Quantity("MIN_QTY"),
            "maxLevel": Quantity("MAX_QTY"),
            "expiresAt": "EXPIRY_DATE",
        },
    ),
    "sales-orders": (
        "ORDER_HEADER",
        {
            "code": "ORDER_ID",
            "orderNumber": "ORDER_ID",
            "date": "ORDER_DATE",
            "shipmentDate": "SHIP_DATE",
            "shipmentAddress": Address(
                addressee="CUSTOMER", addressLines="SHIP_TO_ADDRESS", city="SHIP_TO_CITY"
            ),
        },
    ),
    "purchase-orders": (
        "PO_HEADER",
        {
            "siteKey": Ref("WAREHOUSE_ID", "sites"),
            "vendorKey": Ref("VENDOR_ID", "vendors"),
            "orderNo": "PO_ID",
            "orderDate": date_object("ORDER_DATE"),
            "dueAt": "EXPECTED_DATE",
            "totalGrossValue": amount("TOTAL_AMOUNT"),
        },
    ),
}

_FISHBOWL: Family = {
    "sites": ("locationgroup", {"code": "id", "name": "name"}),
    "locations": (
        "location",
        {
            "siteKey": Ref("locationGroupId", "sites"),
            "code": "name",
            "name": "name",
            "description": "description",
            "isActive": "activeFlag",
        },
    ),
    "vendors": ("vendor", {"code": "accountNum", "name": "name"}),
    "products": (
        "part",
        {
            "code": "num",
            "partNumber": "num",
            "name": "description",
            "upc": "upc",
            "price": amount("stdCost"),
            "type": "typeId",
        },
    ),
    "stocks": (
        "tag",
        {
            "productKey": Ref("partId", "products"),
            "locationKey": Ref("locationId", "locations"),
            "position": "num",
            "quantity": Quantity("qty"),
        },
    ),
    "sales-orders": (
        "so",
        {
            "code": "num",
            "orderNumber": "num",
            "date": "dateIssued",
            "shipmentDate": "dateFirstShip",
            "contactPerson": "customerContact",
            "shipmentAddress": Address(addressLines="shipToAddress", city="shipToCity"),
        },
    ),
    "purchase-orders": (
        "po",
        {
            "siteKey": Ref("locationGroupId", "sites"),
            "vendorKey": Ref("vendorId", "vendors"),
            "orderNo": "num",
            "orderDate": date_object("dateIssued"),
            "dueAt": "dateFirstShip",
            "totalGrossValue": amount("totalPrice"),
        },
    ),
}

FAMILIES: Mapping[str, Family] = {
    "cmms": _CMMS,
    "sap": _SAP,
    "sap-b1": _SAP_B1,
    "maximo": _MAXIMO,
    "infor": _INFOR,
    "odoo": _ODOO,
    "netsuite": _NETSUITE,
    "dynamics": _DYNAMICS,
    "jde": _JDE,
    "sage": _SAGE,
    "tecsys": _TECSYS,
    "fishbowl": _FISHBOWL,
}

_FAMILY_OF: Mapping[str, str] = {
    "sap-s4hana": "sap",
    "sap-ecc": "sap",
    "sap-business-one": "sap-b1",
    "ibm-maximo": "maximo",
    "infor-eam": "infor",
    "odoo": "odoo",
    "netsuite": "netsuite",
    "microsoft-dynamics": "dynamics",
    "jd-edwards": "jde",
    "sage-500": "sage",
    "tecsys-wms": "tecsys",
    "fishbowl": "fishbowl",
}


def family_of(platform: Platform) -> str:
    return "cmms" if platform.kind == "cmms" else _FAMILY_OF[platform.key]


def mapping_for(platform: Platform, entity_path: str) -> tuple[str, Mapping[str, Spec]]:
    """The table that fills `entity_path` on `platform` and its field specs."""
    table, fields = FAMILIES[family_of(platform)][entity_path]
    return table, {name: Col(s) if isinstance(s, str) else s for name, s in fields.items()}
