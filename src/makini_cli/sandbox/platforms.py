"""Every platform the sandbox can connect to, as data.

Facts behind the table (makini-api-facts §8.4, §13): credits are 1/2/4 for tiers
1/2/3 and double on premises (cloud SAP S/4HANA 4, on-premises SAP ECC 8); most
systems need an instance URL, a login and a password, some an API token. The kind,
tier and deployment of a product are the sandbox's own reasonable reading where Makini's
pricing page does not state them.

`raw_tables` is the small shape of each system's own tables (table → columns) that the
raw-data endpoints and custom fields of later issues are built on.
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

_CMMS_TABLES: Mapping[str, tuple[str, ...]] = {
    "work_orders": (
        "id",
        "title",
        "status",
        "priority",
        "asset_id",
        "location_id",
        "due_date",
        "updated_at",
    ),
    "assets": ("id", "name", "serial_number", "model", "location_id", "updated_at"),
    "locations": ("id", "name", "address", "updated_at"),
    "parts": ("id", "name", "part_number", "quantity", "unit_cost", "updated_at"),
}
_SAP_TABLES: Mapping[str, tuple[str, ...]] = {
    "AUFK": ("AUFNR", "AUART", "KTEXT", "WERKS", "ERDAT", "AEDAT"),
    "EQUI": ("EQUNR", "EQTYP", "HERST", "TYPBZ", "SERGE", "ERDAT", "AEDAT"),
    "IFLOT": ("TPLNR", "FLTYP", "IWERK", "TPLMA", "ERDAT", "AEDAT"),
    "MARA": ("MATNR", "MTART", "MATKL", "MEINS", "ERSDA", "LAEDA"),
}
_SAP_B1_TABLES: Mapping[str, tuple[str, ...]] = {
    "OITM": ("ItemCode", "ItemName", "ItmsGrpCod", "OnHand", "InvntryUom", "UpdateDate"),
    "OPOR": ("DocEntry", "DocNum", "CardCode", "DocDate", "DocTotal", "DocStatus", "UpdateDate"),
    "OCRD": ("CardCode", "CardName", "CardType", "E_Mail", "UpdateDate"),
}
_MAXIMO_TABLES: Mapping[str, tuple[str, ...]] = {
    "WORKORDER": (
        "WONUM",
        "DESCRIPTION",
        "STATUS",
        "WORKTYPE",
        "WOPRIORITY",
        "ASSETNUM",
        "SITEID",
        "CHANGEDATE",
    ),
    "ASSET": ("ASSETNUM", "DESCRIPTION", "STATUS", "LOCATION", "SERIALNUM", "SITEID", "CHANGEDATE"),
    "LOCATIONS": ("LOCATION", "DESCRIPTION", "TYPE", "STATUS", "SITEID", "CHANGEDATE"),
}
_INFOR_TABLES: Mapping[str, tuple[str, ...]] = {
    "R5EVENTS": (
        "EVT_CODE",
        "EVT_DESC",
        "EVT_STATUS",
        "EVT_JOBTYPE",
        "EVT_OBJECT",
        "EVT_MRC",
        "EVT_UPDATED",
    ),
    "R5OBJECTS": (
        "OBJ_CODE",
        "OBJ_DESC",
        "OBJ_STATUS",
        "OBJ_LOCATION",
        "OBJ_SERIALNO",
        "OBJ_UPDATED",
    ),
    "R5PARTS": ("PAR_CODE", "PAR_DESC", "PAR_UOM", "PAR_CLASS", "PAR_UPDATED"),
}
_ODOO_TABLES: Mapping[str, tuple[str, ...]] = {
    "purchase_order": (
        "id",
        "name",
        "partner_id",
        "state",
        "date_order",
        "amount_total",
        "write_date",
    ),
    "product_product": ("id", "default_code", "product_tmpl_id", "barcode", "active", "write_date"),
    "res_partner": ("id", "name", "email", "city", "supplier_rank", "write_date"),
    "maintenance_equipment": ("id", "name", "serial_no", "location", "write_date"),
}
_NETSUITE_TABLES: Mapping[str, tuple[str, ...]] = {
    "transaction": ("id", "tranid", "type", "entity", "status", "trandate", "lastmodifieddate"),
    "item": ("id", "itemid", "displayname", "itemtype", "lastmodifieddate"),
    "vendor": ("id", "entityid", "companyname", "email", "lastmodifieddate"),
}
_DYNAMICS_TABLES: Mapping[str, tuple[str, ...]] = {
    "PurchTable": (
        "PurchId",
        "OrderAccount",
        "PurchName",
        "PurchStatus",
        "DeliveryDate",
        "ModifiedDateTime",
    ),
    "InventTable": ("ItemId", "NameAlias", "ItemType", "ModifiedDateTime"),
    "VendTable": ("AccountNum", "VendGroup", "Currency", "ModifiedDateTime"),
}
_JDE_TABLES: Mapping[str, tuple[str, ...]] = {
    "F4801": ("WADOCO", "WADCTO", "WADL01", "WASRST", "WAMMCU", "WANUMB", "WAUPMJ"),
    "F4101": ("IMITM", "IMLITM", "IMDSC1", "IMUOM1", "IMUPMJ"),
    "F1201": ("FANUMB", "FAASID", "FADL01", "FAMCU", "FAUPMJ"),
    "F0101": ("ABAN8", "ABALPH", "ABAT1", "ABUPMJ"),
}
_SAGE_TABLES: Mapping[str, tuple[str, ...]] = {
    "tpoPurchOrder": ("POKey", "TranNo", "VendKey", "TranDate", "Status", "UpdateDate"),
    "timItem": ("ItemKey", "ItemID", "ShortDesc", "ItemType", "UpdateDate"),
    "tapVendor": ("VendKey", "VendID", "VendName", "UpdateDate"),
}
_TECSYS_TABLES: Mapping[str, tuple[str, ...]] = {
    "ORDER_HEADER": ("ORDER_ID", "CUSTOMER", "STATUS", "SHIP_DATE", "LAST_UPDATE"),
    "ITEM": ("ITEM_ID", "DESCRIPTION", "UOM", "LAST_UPDATE"),
    "LOCATION": ("LOCATION_ID", "ZONE", "LOCATION_TYPE", "LAST_UPDATE"),
    "INVENTORY": ("INVENTORY_ID", "ITEM_ID", "LOCATION_ID", "QUANTITY", "LAST_UPDATE"),
}
_FISHBOWL_TABLES: Mapping[str, tuple[str, ...]] = {
    "part": ("id", "num", "description", "uomId", "typeId", "dateLastModified"),
    "so": ("id", "num", "customerId", "statusId", "dateIssued", "dateLastModified"),
    "po": ("id", "num", "vendorId", "statusId", "dateIssued", "dateLastModified"),
    "location": ("id", "name", "description", "locationGroupId", "dateLastModified"),
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
    ),
    Platform(
        "sap-ecc",
        "SAP ECC",
        "erp",
        3,
        "on_premises",
        raw_tables=_SAP_TABLES,
    ),
    Platform(
        "sap-business-one",
        "SAP Business One",
        "erp",
        2,
        "on_premises",
        raw_tables=_SAP_B1_TABLES,
    ),
    Platform(
        "ibm-maximo",
        "IBM Maximo",
        "eam",
        2,
        "on_premises",
        raw_tables=_MAXIMO_TABLES,
    ),
    Platform(
        "infor-eam",
        "Infor EAM",
        "eam",
        2,
        "cloud",
        aliases=("infor-e",),
        raw_tables=_INFOR_TABLES,
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
    ),
    Platform(
        "netsuite",
        "Oracle NetSuite",
        "erp",
        2,
        "cloud",
        credential_fields=("account_id", "consumer_key", "certificate_id"),
        raw_tables=_NETSUITE_TABLES,
    ),
    Platform(
        "microsoft-dynamics",
        "Microsoft Dynamics 365",
        "erp",
        2,
        "cloud",
        raw_tables=_DYNAMICS_TABLES,
    ),
    Platform(
        "jd-edwards",
        "JD Edwards EnterpriseOne",
        "erp",
        3,
        "on_premises",
        raw_tables=_JDE_TABLES,
    ),
    Platform(
        "sage-500",
        "Sage 500",
        "erp",
        2,
        "on_premises",
        raw_tables=_SAGE_TABLES,
    ),
    Platform(
        "tecsys-wms",
        "Tecsys WMS",
        "wms",
        2,
        "on_premises",
        raw_tables=_TECSYS_TABLES,
    ),
    Platform(
        "fishbowl",
        "Fishbowl",
        "wms",
        1,
        "on_premises",
        raw_tables=_FISHBOWL_TABLES,
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
