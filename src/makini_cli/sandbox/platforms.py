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

# The unified scopes a fresh connection syncs, by kind (entity paths of the unified API).
DEFAULT_SCOPES: Mapping[Kind, tuple[str, ...]] = {
    "cmms": ("sites", "locations", "assets", "work-orders", "materials", "users"),
    "eam": (
        "sites",
        "locations",
        "assets",
        "work-orders",
        "materials",
        "purchase-orders",
        "vendors",
    ),
    "erp": ("sites", "products", "purchase-orders", "sales-orders", "vendors", "customers"),
    "wms": ("sites", "locations", "products", "stocks", "sales-orders", "shipment-orders"),
}

_CMMS_TABLES: Mapping[str, tuple[str, ...]] = {
    "work_orders": ("id", "title", "status", "priority", "asset_id", "due_date", "updated_at"),
    "assets": ("id", "name", "serial_number", "location_id", "updated_at"),
    "locations": ("id", "name", "address", "updated_at"),
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
        raw_tables={
            "AUFK": ("AUFNR", "AUART", "KTEXT", "ERDAT", "AEDAT"),
            "EQUI": ("EQUNR", "EQTYP", "HERST", "SERGE", "AEDAT"),
            "EKKO": ("EBELN", "BUKRS", "LIFNR", "BEDAT", "AEDAT"),
        },
    ),
    Platform(
        "sap-ecc",
        "SAP ECC",
        "erp",
        3,
        "on_premises",
        raw_tables={
            "AUFK": ("AUFNR", "AUART", "KTEXT", "ERDAT", "AEDAT"),
            "EQUI": ("EQUNR", "EQTYP", "HERST", "SERGE", "AEDAT"),
            "MARA": ("MATNR", "MTART", "MEINS", "ERSDA", "LAEDA"),
        },
    ),
    Platform(
        "sap-business-one",
        "SAP Business One",
        "erp",
        2,
        "on_premises",
        raw_tables={
            "OPOR": ("DocEntry", "DocNum", "CardCode", "DocDate", "UpdateDate"),
            "OITM": ("ItemCode", "ItemName", "OnHand", "UpdateDate"),
        },
    ),
    Platform(
        "ibm-maximo",
        "IBM Maximo",
        "eam",
        2,
        "on_premises",
        raw_tables={
            "WORKORDER": ("WONUM", "DESCRIPTION", "STATUS", "ASSETNUM", "SITEID", "CHANGEDATE"),
            "ASSET": ("ASSETNUM", "DESCRIPTION", "LOCATION", "SITEID", "CHANGEDATE"),
            "LOCATIONS": ("LOCATION", "DESCRIPTION", "SITEID", "CHANGEDATE"),
        },
    ),
    Platform(
        "infor-eam",
        "Infor EAM",
        "eam",
        2,
        "cloud",
        aliases=("infor-e",),
        raw_tables={
            "R5EVENTS": ("EVT_CODE", "EVT_DESC", "EVT_STATUS", "EVT_OBJECT", "EVT_UPDATED"),
            "R5OBJECTS": ("OBJ_CODE", "OBJ_DESC", "OBJ_LOCATION", "OBJ_UPDATED"),
        },
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
        raw_tables={
            "purchase_order": ("id", "name", "partner_id", "state", "write_date"),
            "product_product": ("id", "default_code", "name", "write_date"),
        },
    ),
    Platform(
        "netsuite",
        "Oracle NetSuite",
        "erp",
        2,
        "cloud",
        credential_fields=("account_id", "consumer_key", "certificate_id"),
        raw_tables={
            "transaction": ("id", "tranid", "type", "entity", "lastmodifieddate"),
            "item": ("id", "itemid", "displayname", "lastmodifieddate"),
        },
    ),
    Platform(
        "microsoft-dynamics",
        "Microsoft Dynamics 365",
        "erp",
        2,
        "cloud",
        raw_tables={
            "PurchTable": ("PurchId", "OrderAccount", "PurchStatus", "ModifiedDateTime"),
            "InventTable": ("ItemId", "NameAlias", "ModifiedDateTime"),
        },
    ),
    Platform(
        "jd-edwards",
        "JD Edwards EnterpriseOne",
        "erp",
        3,
        "on_premises",
        raw_tables={
            "F4801": ("WADOCO", "WADL01", "WASRST", "WAUPMJ"),
            "F4101": ("IMITM", "IMLITM", "IMDSC1", "IMUPMJ"),
        },
    ),
    Platform(
        "sage-500",
        "Sage 500",
        "erp",
        2,
        "on_premises",
        raw_tables={"tpoPurchOrder": ("POKey", "TranNo", "VendKey", "UpdateDate")},
    ),
    Platform(
        "tecsys-wms",
        "Tecsys WMS",
        "wms",
        2,
        "on_premises",
        raw_tables={
            "ORDER_HEADER": ("ORDER_ID", "CUSTOMER", "STATUS", "LAST_UPDATE"),
            "ITEM": ("ITEM_ID", "DESCRIPTION", "UOM", "LAST_UPDATE"),
        },
    ),
    Platform(
        "fishbowl",
        "Fishbowl",
        "wms",
        1,
        "on_premises",
        raw_tables={
            "part": ("id", "num", "description", "dateLastModified"),
            "so": ("id", "num", "customerId", "statusId", "dateLastModified"),
        },
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
