"""Every platform the sandbox can connect to, as data.

Facts behind the table (makini-api-facts §8.4, §13): credits are 1/2/4 for tiers
1/2/3 and double on premises (cloud SAP S/4HANA 4, on-premises SAP ECC 8); most
systems need an instance URL, a login and a password, some an API token. The kind,
tier and deployment of a product are the sandbox's own reasonable reading where Makini's
pricing page does not state them.

`raw_tables` is the shape of each system's own tables (table → columns, named as the
system names them), which the raw-data endpoints, the unified records (sandbox/unified.py)
and custom fields are built on; `table_links` says which tables extend another 1:1 (row n
of one is row n of the other), among them each system's customer-specific tables (SAP
Z-tables, Odoo `x_` models, NetSuite custom records …) that custom fields are sourced from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["cmms", "eam", "erp", "wms"]
Deployment = Literal["cloud", "on_premises"]

TIER_CREDITS: Mapping[int, int] = {1: 1, 2: 2, 3: 4}
ON_PREMISES_FACTOR = 2

URL_LOGIN_PASSWORD: tuple[str, ...] = ("api", "login", "password")
API_TOKEN: tuple[str, ...] = ("api_token",)

# The unified scopes a fresh connection syncs, by kind, named as Makini names them (its
# adapters' scope list: `work_orders`, `purchase_orders`; makini-api-facts §5.3, §9).
DEFAULT_SCOPES: Mapping[Kind, tuple[str, ...]] = {
    "cmms": ("sites", "locations", "assets", "work_orders", "materials", "users"),
    "eam": (
        "sites",
        "locations",
        "assets",
        "work_orders",
        "materials",
        "purchase_orders",
        "vendors",
    ),
    "erp": ("sites", "products", "purchase_orders", "sales_orders", "vendors", "customers"),
    "wms": ("sites", "locations", "products", "stocks", "sales_orders", "shipment_orders"),
}


@dataclass(frozen=True)
class TableLink:
    """A table whose row n extends row n of `extends` (1:1), through `column`, which holds
    the base row's identifier. `custom`: a customer-specific table, not the product's own."""

    extends: str
    column: str
    custom: bool = True


_CMMS_TABLES: Mapping[str, tuple[str, ...]] = {
    "sites": (
        "id",
        "name",
        "code",
        "address",
        "city",
        "postal_code",
        "country",
        "latitude",
        "longitude",
        "contact_name",
        "contact_phone",
        "updated_at",
    ),
    "locations": ("id", "name", "address", "site_id", "parent_id", "kind", "updated_at"),
    "assets": (
        "id",
        "name",
        "serial_number",
        "model",
        "location_id",
        "site_id",
        "vendor_id",
        "manufacturer",
        "category",
        "criticality",
        "is_active",
        "updated_at",
    ),
    "work_orders": (
        "id",
        "title",
        "status",
        "priority",
        "asset_id",
        "location_id",
        "site_id",
        "category",
        "description",
        "scheduled_date",
        "due_date",
        "completed_at",
        "updated_at",
    ),
    "parts": (
        "id",
        "name",
        "part_number",
        "quantity",
        "unit_cost",
        "site_id",
        "category",
        "min_quantity",
        "updated_at",
    ),
    "vendors": ("id", "name", "email", "phone", "city", "updated_at"),
    "purchase_orders": (
        "id",
        "po_number",
        "vendor_id",
        "site_id",
        "status",
        "order_date",
        "due_date",
        "shipping_method",
        "payment_terms",
        "subtotal",
        "total",
        "updated_at",
    ),
    "custom_inspections": (
        "id",
        "work_order_id",
        "inspector",
        "inspected_on",
        "criticality_score",
        "safety_permit",
    ),
}
_CMMS_LINKS: Mapping[str, TableLink] = {
    "custom_inspections": TableLink("work_orders", "work_order_id"),
}
_SAP_TABLES: Mapping[str, tuple[str, ...]] = {
    "AUFK": ("AUFNR", "AUART", "KTEXT", "WERKS", "ERDAT", "AEDAT"),
    "EQUI": ("EQUNR", "EQTYP", "HERST", "TYPBZ", "SERGE", "ERDAT", "AEDAT"),
    "IFLOT": ("TPLNR", "FLTYP", "IWERK", "TPLMA", "ERDAT", "AEDAT"),
    "MARA": ("MATNR", "MAKTX", "MTART", "MATKL", "MEINS", "MFRNR", "LVORM", "ERSDA", "LAEDA"),
    "MVKE": ("MATNR", "VKORG", "VTWEG", "KBETR", "KONWA", "EAN11", "VMSTA", "ERSDA", "LAEDA"),
    "T001W": ("WERKS", "NAME1", "STRAS", "PSTLZ", "ORT01", "REGIO", "LAND1", "ERDAT", "AEDAT"),
    "LFA1": ("LIFNR", "NAME1", "ORT01", "PSTLZ", "LAND1", "TELF1", "KTOKK", "ERDAT", "AEDAT"),
    "KNA1": ("KUNNR", "NAME1", "STRAS", "PSTLZ", "ORT01", "LAND1", "TELF1", "ERDAT", "AEDAT"),
    "EKKO": (
        "EBELN",
        "BSART",
        "LIFNR",
        "WERKS",
        "BEDAT",
        "EINDT",
        "ZTERM",
        "INCO1",
        "NETWR",
        "BRTWR",
        "WAERS",
        "ERDAT",
        "AEDAT",
    ),
    "VBAK": (
        "VBELN",
        "AUART",
        "KUNNR",
        "AUDAT",
        "VDATU",
        "BSTNK",
        "NETWR",
        "WAERS",
        "KURRF",
        "ERDAT",
        "AEDAT",
    ),
    "ZPM_INSP": ("EQUNR", "INSPECTOR", "LAST_INSP", "CRIT_SCORE", "INSP_DUE"),
    "ZMM_QINSP": ("MATNR", "QINSPECTOR", "LAST_QINSP", "QSCORE", "QM_ACTIVE"),
}
_SAP_LINKS: Mapping[str, TableLink] = {
    "MVKE": TableLink("MARA", "MATNR", custom=False),
    "ZPM_INSP": TableLink("EQUI", "EQUNR"),
    "ZMM_QINSP": TableLink("MARA", "MATNR"),
}
_SAP_B1_TABLES: Mapping[str, tuple[str, ...]] = {
    "OITM": (
        "ItemCode",
        "ItemName",
        "ItmsGrpCod",
        "OnHand",
        "InvntryUom",
        "CodeBars",
        "AvgPrice",
        "validFor",
        "CreateDate",
        "UpdateDate",
    ),
    "OPOR": (
        "DocEntry",
        "DocNum",
        "CardCode",
        "DocDate",
        "DocDueDate",
        "DocTotal",
        "DocCur",
        "DocStatus",
        "Comments",
        "UpdateDate",
    ),
    "ORDR": (
        "DocEntry",
        "DocNum",
        "CardCode",
        "DocDate",
        "DocDueDate",
        "NumAtCard",
        "DocTotal",
        "DocCur",
        "DocRate",
        "DocStatus",
        "UpdateDate",
    ),
    "OCRD": ("CardCode", "CardName", "CardType", "E_Mail", "Phone1", "City", "UpdateDate"),
    "OWHS": ("WhsCode", "WhsName", "Street", "ZipCode", "City", "Country", "UpdateDate"),
    "@INSPECTION": ("Code", "U_ItemCode", "U_Inspector", "U_LastInsp", "U_Score", "U_Passed"),
}
_SAP_B1_LINKS: Mapping[str, TableLink] = {"@INSPECTION": TableLink("OITM", "U_ItemCode")}
_MAXIMO_TABLES: Mapping[str, tuple[str, ...]] = {
    "WORKORDER": (
        "WONUM",
        "DESCRIPTION",
        "STATUS",
        "WORKTYPE",
        "WOPRIORITY",
        "ASSETNUM",
        "LOCATION",
        "SITEID",
        "TARGSTARTDATE",
        "TARGCOMPDATE",
        "ACTFINISH",
        "REPORTDATE",
        "CHANGEDATE",
    ),
    "ASSET": (
        "ASSETNUM",
        "DESCRIPTION",
        "STATUS",
        "LOCATION",
        "SERIALNUM",
        "SITEID",
        "VENDOR",
        "MANUFACTURER",
        "ASSETTYPE",
        "PRIORITY",
        "INSTALLDATE",
        "CHANGEDATE",
    ),
    "LOCATIONS": ("LOCATION", "DESCRIPTION", "TYPE", "STATUS", "SITEID", "CHANGEDATE"),
    "SITE": ("SITEID", "DESCRIPTION", "ORGID", "ACTIVE", "CHANGEDATE"),
    "COMPANIES": (
        "COMPANY",
        "NAME",
        "TYPE",
        "ADDRESS1",
        "CITY",
        "ZIP",
        "COUNTRY",
        "PHONE",
        "CHANGEDATE",
    ),
    "ITEM": (
        "ITEMNUM",
        "DESCRIPTION",
        "ORDERUNIT",
        "COMMODITYGROUP",
        "STATUS",
        "MANUFACTURER",
        "AVGCOST",
        "MINLEVEL",
        "CHANGEDATE",
    ),
    "PO": (
        "PONUM",
        "DESCRIPTION",
        "VENDOR",
        "SITEID",
        "STATUS",
        "ORDERDATE",
        "REQUIREDDATE",
        "STATUSDATE",
        "SHIPVIA",
        "PAYMENTTERMS",
        "PRETAXTOTAL",
        "TOTALCOST",
        "CHANGEDATE",
    ),
    "PLUSINSP": ("WONUM", "INSPECTOR", "LASTINSPDATE", "CRITSCORE", "PERMITREQ"),
}
_MAXIMO_LINKS: Mapping[str, TableLink] = {"PLUSINSP": TableLink("WORKORDER", "WONUM")}
_INFOR_TABLES: Mapping[str, tuple[str, ...]] = {
    "R5EVENTS": (
        "EVT_CODE",
        "EVT_DESC",
        "EVT_STATUS",
        "EVT_JOBTYPE",
        "EVT_OBJECT",
        "EVT_MRC",
        "EVT_ORG",
        "EVT_PRIORITY",
        "EVT_TARGET",
        "EVT_DUE",
        "EVT_COMPLETED",
        "EVT_UPDATED",
    ),
    "R5OBJECTS": (
        "OBJ_CODE",
        "OBJ_DESC",
        "OBJ_STATUS",
        "OBJ_LOCATION",
        "OBJ_SERIALNO",
        "OBJ_ORG",
        "OBJ_MANUFACT",
        "OBJ_CATEGORY",
        "OBJ_CRITICALITY",
        "OBJ_COMMISS",
        "OBJ_UPDATED",
    ),
    "R5PARTS": (
        "PAR_CODE",
        "PAR_DESC",
        "PAR_UOM",
        "PAR_CLASS",
        "PAR_ORG",
        "PAR_BASEPRICE",
        "PAR_NOTUSED",
        "PAR_UPDATED",
    ),
    "R5ORGANIZATION": ("ORG_CODE", "ORG_DESC", "ORG_CURR", "ORG_UPDATED"),
    "R5LOCATIONS": ("LOC_CODE", "LOC_DESC", "LOC_ORG", "LOC_PARENT", "LOC_UPDATED"),
    "R5COMPANIES": ("COM_CODE", "COM_DESC", "COM_CURR", "COM_UPDATED"),
    "R5ORDERS": (
        "ORD_CODE",
        "ORD_DESC",
        "ORD_SUPPLIER",
        "ORD_ORG",
        "ORD_STATUS",
        "ORD_DATE",
        "ORD_DUE",
        "ORD_PRICE",
        "ORD_CURR",
        "ORD_UPDATED",
    ),
    "U5INSPECTIONS": ("UIN_EVENT", "UIN_INSPECTOR", "UIN_DATE", "UIN_SCORE", "UIN_PASSED"),
}
_INFOR_LINKS: Mapping[str, TableLink] = {"U5INSPECTIONS": TableLink("R5EVENTS", "UIN_EVENT")}
_ODOO_TABLES: Mapping[str, tuple[str, ...]] = {
    "purchase_order": (
        "id",
        "name",
        "partner_id",
        "state",
        "date_order",
        "date_planned",
        "amount_untaxed",
        "amount_total",
        "notes",
        "write_date",
    ),
    "sale_order": (
        "id",
        "name",
        "partner_id",
        "state",
        "date_order",
        "commitment_date",
        "client_order_ref",
        "amount_total",
        "write_date",
    ),
    "product_product": (
        "id",
        "default_code",
        "product_tmpl_id",
        "barcode",
        "active",
        "standard_price",
        "write_date",
    ),
    "product_template": (
        "id",
        "name",
        "default_code",
        "type",
        "list_price",
        "sale_ok",
        "write_date",
    ),
    "res_partner": ("id", "name", "email", "street", "zip", "city", "supplier_rank", "write_date"),
    "stock_warehouse": ("id", "name", "code", "street", "city", "active", "write_date"),
    "maintenance_equipment": ("id", "name", "serial_no", "location", "write_date"),
    "x_inspection": (
        "id",
        "x_product_id",
        "x_inspector",
        "x_last_inspection",
        "x_score",
        "x_passed",
    ),
}
_ODOO_LINKS: Mapping[str, TableLink] = {
    "x_inspection": TableLink("product_product", "x_product_id")
}
_NETSUITE_TABLES: Mapping[str, tuple[str, ...]] = {
    "transaction": (
        "id",
        "tranid",
        "type",
        "entity",
        "location",
        "status",
        "trandate",
        "duedate",
        "memo",
        "total",
        "lastmodifieddate",
    ),
    "salesorder": (
        "id",
        "tranid",
        "entity",
        "status",
        "trandate",
        "shipdate",
        "otherrefnum",
        "total",
        "exchangerate",
        "lastmodifieddate",
    ),
    "item": (
        "id",
        "itemid",
        "displayname",
        "itemtype",
        "upccode",
        "cost",
        "baseprice",
        "isinactive",
        "lastmodifieddate",
    ),
    "vendor": ("id", "entityid", "companyname", "email", "lastmodifieddate"),
    "customer": ("id", "entityid", "companyname", "email", "phone", "lastmodifieddate"),
    "location": ("id", "name", "addr1", "city", "zip", "country", "lastmodifieddate"),
    "customrecord_inspection": (
        "id",
        "custrecord_insp_item",
        "custrecord_inspector",
        "custrecord_insp_date",
        "custrecord_insp_score",
        "custrecord_insp_passed",
    ),
}
_NETSUITE_LINKS: Mapping[str, TableLink] = {
    "customrecord_inspection": TableLink("item", "custrecord_insp_item"),
}
_DYNAMICS_TABLES: Mapping[str, tuple[str, ...]] = {
    "PurchTable": (
        "PurchId",
        "OrderAccount",
        "PurchName",
        "PurchStatus",
        "InventSiteId",
        "AccountingDate",
        "DeliveryDate",
        "DlvMode",
        "Payment",
        "CurrencyCode",
        "ModifiedDateTime",
    ),
    "SalesTable": (
        "SalesId",
        "CustAccount",
        "SalesName",
        "SalesStatus",
        "ShippingDateRequested",
        "CustomerRef",
        "CurrencyCode",
        "ModifiedDateTime",
    ),
    "InventTable": ("ItemId", "NameAlias", "ItemType", "PrimaryVendorId", "ModifiedDateTime"),
    "EcoResProduct": (
        "DisplayProductNumber",
        "SearchName",
        "ProductType",
        "SalesPrice",
        "ModifiedDateTime",
    ),
    "VendTable": ("AccountNum", "Name", "VendGroup", "Currency", "ModifiedDateTime"),
    "CustTable": ("AccountNum", "Name", "CustGroup", "Currency", "City", "ModifiedDateTime"),
    "InventSite": ("SiteId", "Name", "Street", "City", "ZipCode", "ModifiedDateTime"),
    "ExtInventInspection": (
        "ItemId",
        "Inspector",
        "LastInspectionDate",
        "CriticalityScore",
        "InspectionRequired",
    ),
}
_DYNAMICS_LINKS: Mapping[str, TableLink] = {
    "ExtInventInspection": TableLink("InventTable", "ItemId"),
}
_JDE_TABLES: Mapping[str, tuple[str, ...]] = {
    "F4801": ("WADOCO", "WADCTO", "WADL01", "WASRST", "WAMMCU", "WANUMB", "WAUPMJ"),
    "F4101": ("IMITM", "IMLITM", "IMDSC1", "IMUOM1", "IMSRP1", "IMSTKT", "IMUPMJ"),
    "F1201": ("FANUMB", "FAASID", "FADL01", "FAMCU", "FAUPMJ"),
    "F0101": ("ABAN8", "ABALPH", "ABAT1", "ABUPMJ"),
    "F0006": ("MCMCU", "MCDL01", "MCSTYL", "MCCO", "MCUPMJ"),
    "F4301": (
        "PHDOCO",
        "PHDCTO",
        "PHAN8",
        "PHMCU",
        "PHTRDJ",
        "PHDRQJ",
        "PHPTC",
        "PHOTOT",
        "PHCRCD",
        "PHUPMJ",
    ),
    "F4201": (
        "SHDOCO",
        "SHDCTO",
        "SHAN8",
        "SHTRDJ",
        "SHDRQJ",
        "SHVR01",
        "SHOTOT",
        "SHCRCD",
        "SHUPMJ",
    ),
    "F550101": ("VAAN8", "VAAUDR", "VAAUDJ", "VASCR", "VAAPPR"),
}
_JDE_LINKS: Mapping[str, TableLink] = {"F550101": TableLink("F0101", "VAAN8")}
_SAGE_TABLES: Mapping[str, tuple[str, ...]] = {
    "tpoPurchOrder": (
        "POKey",
        "TranNo",
        "VendKey",
        "WhseKey",
        "TranDate",
        "RequestDate",
        "Status",
        "TranAmt",
        "CurrID",
        "UpdateDate",
    ),
    "tsoSalesOrder": (
        "SOKey",
        "TranNo",
        "CustKey",
        "TranDate",
        "RequestDate",
        "CustPONo",
        "Status",
        "TranAmt",
        "CurrID",
        "UpdateDate",
    ),
    "timItem": ("ItemKey", "ItemID", "ShortDesc", "ItemType", "StdPrice", "Status", "UpdateDate"),
    "tapVendor": ("VendKey", "VendID", "VendName", "UpdateDate"),
    "tarCustomer": ("CustKey", "CustID", "CustName", "City", "UpdateDate"),
    "timWarehouse": ("WhseKey", "WhseID", "Description", "City", "UpdateDate"),
    "tcuItemInspection": ("ItemKey", "Inspector", "LastInspDate", "Score", "Passed"),
}
_SAGE_LINKS: Mapping[str, TableLink] = {"tcuItemInspection": TableLink("timItem", "ItemKey")}
_TECSYS_TABLES: Mapping[str, tuple[str, ...]] = {
    "ORDER_HEADER": (
        "ORDER_ID",
        "CUSTOMER",
        "STATUS",
        "ORDER_DATE",
        "SHIP_DATE",
        "SHIP_TO_ADDRESS",
        "SHIP_TO_CITY",
        "LAST_UPDATE",
    ),
    "ITEM": ("ITEM_ID", "DESCRIPTION", "UOM", "UPC", "UNIT_PRICE", "ITEM_STATUS", "LAST_UPDATE"),
    "LOCATION": ("LOCATION_ID", "ZONE", "LOCATION_TYPE", "WAREHOUSE_ID", "LAST_UPDATE"),
    "INVENTORY": (
        "INVENTORY_ID",
        "ITEM_ID",
        "LOCATION_ID",
        "QUANTITY",
        "MIN_QTY",
        "MAX_QTY",
        "EXPIRY_DATE",
        "LAST_UPDATE",
    ),
    "WAREHOUSE": (
        "WAREHOUSE_ID",
        "NAME",
        "ADDRESS1",
        "CITY",
        "POSTAL_CODE",
        "COUNTRY",
        "LAST_UPDATE",
    ),
    "VENDOR": ("VENDOR_ID", "NAME", "LAST_UPDATE"),
    "PO_HEADER": (
        "PO_ID",
        "VENDOR_ID",
        "WAREHOUSE_ID",
        "STATUS",
        "ORDER_DATE",
        "EXPECTED_DATE",
        "TOTAL_AMOUNT",
        "LAST_UPDATE",
    ),
    "CUST_ITEM_QC": ("ITEM_ID", "QC_INSPECTOR", "LAST_QC_DATE", "QC_SCORE", "QC_HOLD"),
}
_TECSYS_LINKS: Mapping[str, TableLink] = {"CUST_ITEM_QC": TableLink("ITEM", "ITEM_ID")}
_FISHBOWL_TABLES: Mapping[str, tuple[str, ...]] = {
    "part": (
        "id",
        "num",
        "description",
        "uomId",
        "typeId",
        "upc",
        "stdCost",
        "activeFlag",
        "dateCreated",
        "dateLastModified",
    ),
    "so": (
        "id",
        "num",
        "customerId",
        "customerContact",
        "statusId",
        "dateIssued",
        "dateFirstShip",
        "shipToAddress",
        "shipToCity",
        "totalPrice",
        "dateLastModified",
    ),
    "po": (
        "id",
        "num",
        "vendorId",
        "locationGroupId",
        "statusId",
        "dateIssued",
        "dateFirstShip",
        "totalPrice",
        "dateLastModified",
    ),
    "location": ("id", "name", "description", "locationGroupId", "activeFlag", "dateLastModified"),
    "locationgroup": ("id", "name", "activeFlag", "dateLastModified"),
    "vendor": ("id", "name", "accountNum", "activeFlag", "dateLastModified"),
    "tag": ("id", "num", "partId", "locationId", "qty", "dateLastModified"),
    "plugin_part_inspection": ("id", "partId", "inspector", "lastInspected", "score", "passed"),
}
_FISHBOWL_LINKS: Mapping[str, TableLink] = {
    "plugin_part_inspection": TableLink("part", "partId"),
}


@dataclass(frozen=True)
class Platform:
    key: str
    name: str
    kind: Kind
    tier: Literal[1, 2, 3]
    deployment: Deployment
    credential_fields: tuple[str, ...] = URL_LOGIN_PASSWORD
    aliases: tuple[str, ...] = ()
    raw_tables: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _CMMS_TABLES)
    table_links: Mapping[str, TableLink] = field(default_factory=lambda: _CMMS_LINKS)

    @property
    def credits(self) -> int:
        base = TIER_CREDITS[self.tier]
        return base * ON_PREMISES_FACTOR if self.deployment == "on_premises" else base

    @property
    def scopes(self) -> tuple[str, ...]:
        return DEFAULT_SCOPES[self.kind]

    def to_api(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "tier": self.tier,
            "deployment": self.deployment,
            "credits": self.credits,
            "credentials": list(self.credential_fields),
        }


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        "sap-s4hana",
        "SAP S/4HANA",
        "erp",
        3,
        "cloud",
        raw_tables=_SAP_TABLES,
        table_links=_SAP_LINKS,
    ),
    Platform(
        "sap-ecc",
        "SAP ECC",
        "erp",
        3,
        "on_premises",
        raw_tables=_SAP_TABLES,
        table_links=_SAP_LINKS,
    ),
    Platform(
        "sap-business-one",
        "SAP Business One",
        "erp",
        2,
        "on_premises",
        raw_tables=_SAP_B1_TABLES,
        table_links=_SAP_B1_LINKS,
    ),
    Platform(
        "ibm-maximo",
        "IBM Maximo",
        "eam",
        2,
        "on_premises",
        raw_tables=_MAXIMO_TABLES,
        table_links=_MAXIMO_LINKS,
    ),
    Platform(
        "infor-eam",
        "Infor EAM",
        "eam",
        2,
        "cloud",
        aliases=("infor-e",),
        raw_tables=_INFOR_TABLES,
        table_links=_INFOR_LINKS,
    ),
    Platform("upkeep", "UpKeep", "cmms", 1, "cloud", credential_fields=API_TOKEN),
    Platform("fiix", "Fiix", "cmms", 1, "cloud"),
    Platform(
        "maintainx",
        "MaintainX",
        "cmms",
        1,
        "cloud",
        credential_fields=API_TOKEN,
        aliases=("maintain-x",),
    ),
    Platform("emaint", "eMaint", "cmms", 1, "cloud"),
    Platform("inextia", "Inextia", "cmms", 1, "cloud"),
    Platform(
        "servicechannel",
        "ServiceChannel",
        "cmms",
        1,
        "cloud",
        credential_fields=API_TOKEN,
        aliases=("service-channel",),
    ),
    Platform("brightly", "Brightly (Dude Solutions)", "cmms", 1, "cloud"),
    Platform(
        "odoo",
        "Odoo",
        "erp",
        2,
        "cloud",
        raw_tables=_ODOO_TABLES,
        table_links=_ODOO_LINKS,
    ),
    Platform(
        "netsuite",
        "Oracle NetSuite",
        "erp",
        2,
        "cloud",
        credential_fields=("account_id", "consumer_key", "certificate_id"),
        raw_tables=_NETSUITE_TABLES,
        table_links=_NETSUITE_LINKS,
    ),
    Platform(
        "microsoft-dynamics",
        "Microsoft Dynamics 365",
        "erp",
        2,
        "cloud",
        raw_tables=_DYNAMICS_TABLES,
        table_links=_DYNAMICS_LINKS,
    ),
    Platform(
        "jd-edwards",
        "JD Edwards EnterpriseOne",
        "erp",
        3,
        "on_premises",
        raw_tables=_JDE_TABLES,
        table_links=_JDE_LINKS,
    ),
    Platform(
        "sage-500",
        "Sage 500",
        "erp",
        2,
        "on_premises",
        raw_tables=_SAGE_TABLES,
        table_links=_SAGE_LINKS,
    ),
    Platform(
        "tecsys-wms",
        "Tecsys WMS",
        "wms",
        2,
        "on_premises",
        raw_tables=_TECSYS_TABLES,
        table_links=_TECSYS_LINKS,
    ),
    Platform(
        "fishbowl",
        "Fishbowl",
        "wms",
        1,
        "on_premises",
        raw_tables=_FISHBOWL_TABLES,
        table_links=_FISHBOWL_LINKS,
    ),
)

_BY_NAME: Mapping[str, Platform] = {
    name: platform for platform in PLATFORMS for name in (platform.key, *platform.aliases)
}


def find_platform(provider: str) -> Platform | None:
    """The platform a `provider` names: its key or a known label, any case."""
    return _BY_NAME.get(provider.strip().lower())


def get_platform(key: str) -> Platform:
    platform = _BY_NAME.get(key)
    if platform is None:
        raise KeyError(key)
    return platform
