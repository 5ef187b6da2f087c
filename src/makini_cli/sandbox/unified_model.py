"""The unified model the sandbox serves: its categories, entities and record keys.

Apart from `unified.py` (which builds records) so that the per-platform maps
(`unified_maps.py`) and the record builder both depend on it, and not on each other.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from makini_cli.sandbox.platforms import Platform
from makini_cli.sandbox.raw import RowDetail
from makini_cli.vocabulary import CATEGORY_OF_KIND

Category = Literal["eam", "erp", "wms"]


def category_of(platform: Platform) -> Category:
    return cast(Category, CATEGORY_OF_KIND[platform.kind])


@dataclass(frozen=True)
class Entity:
    path: str  # "work-orders"
    schema: str  # Makini's OpenAPI component, "WorkOrder"
    scope: str  # "work_orders"
    prefix: str  # "03"
    fields: tuple[str, ...]  # the standard fields the sandbox fills, display order
    field_types: Mapping[str, str] = field(compare=False)  # field -> JSON type

    @property
    def datetime_fields(self) -> frozenset[str]:
        return _DATETIME_FIELDS & frozenset(self.fields)


# String fields that hold an instant: written as ISO-8601 UTC with a "Z".
_DATETIME_FIELDS = frozenset(
    {
        "createdAt",
        "updatedAt",
        "dueAt",
        "scheduledAt",
        "completedAt",
        "approvedAt",
        "activatedAt",
        "expiresAt",
        "date",
        "shipmentDate",
    }
)

_S, _B, _O, _A = "string", "boolean", "object", "array"


def _entity(path: str, schema: str, scope: str, prefix: str, *fields: tuple[str, str]) -> Entity:
    return Entity(path, schema, scope, prefix, tuple(f for f, _ in fields), dict(fields))


_TIMES = (("createdAt", _S), ("updatedAt", _S))
SITES = _entity(
    "sites",
    "Site",
    "sites",
    "01",
    ("key", _S),
    ("code", _S),
    ("name", _S),
    ("description", _S),
    ("address", _O),
    ("contact", _O),
    ("lat", _S),
    ("lng", _S),
    *_TIMES,
)
LOCATIONS = _entity(
    "locations",
    "Location",
    "locations",
    "17",
    ("key", _S),
    ("siteKey", _S),
    ("parentKey", _S),
    ("code", _S),
    ("name", _S),
    ("description", _S),
    ("type", _S),
    ("isActive", _B),
    ("address", _O),
    *_TIMES,
)
ASSETS = _entity(
    "assets",
    "Asset",
    "assets",
    "02",
    ("key", _S),
    ("siteKey", _S),
    ("locationKey", _S),
    ("vendorKey", _S),
    ("name", _S),
    ("categoryName", _S),
    ("criticality", _S),
    ("isActive", _B),
    ("makeName", _S),
    ("modelName", _S),
    ("serialNumber", _S),
    ("activatedAt", _S),
    *_TIMES,
)
WORK_ORDERS = _entity(
    "work-orders",
    "WorkOrder",
    "work_orders",
    "03",
    ("key", _S),
    ("siteKey", _S),
    ("locationKey", _S),
    ("assetKey", _S),
    ("code", _S),
    ("title", _S),
    ("instructions", _S),
    ("status", _S),
    ("severity", _S),
    ("categoryName", _S),
    ("roleName", _S),
    ("scheduledAt", _S),
    ("dueAt", _S),
    ("completedAt", _S),
    *_TIMES,
)
# Makini's PurchaseOrder lists no createdAt (only updatedAt): none is written.
PURCHASE_ORDERS = _entity(
    "purchase-orders",
    "PurchaseOrder",
    "purchase_orders",
    "05",
    ("key", _S),
    ("siteKey", _S),
    ("vendorKey", _S),
    ("orderNo", _S),
    ("orderDate", _O),
    ("title", _S),
    ("description", _S),
    ("dueAt", _S),
    ("shippingMethod", _S),
    ("terms", _S),
    ("notes", _S),
    ("totalNetValue", _S),
    ("totalGrossValue", _S),
    ("updatedAt", _S),
)
MATERIALS = _entity(
    "materials",
    "Part",
    "materials",
    "04",
    ("key", _S),
    ("siteKeys", _A),
    ("code", _S),
    ("partNumber", _S),
    ("name", _S),
    ("categoryName", _S),
    ("isActive", _B),
    ("manufacturerName", _S),
    ("minimumQuantity", _S),
    ("cost", _O),
    ("currency", _S),
    *_TIMES,
)
VENDORS = _entity(
    "vendors", "Vendor", "vendors", "09", ("key", _S), ("code", _S), ("name", _S), *_TIMES
)
CUSTOMERS = _entity(
    "customers",
    "Customer",
    "customers",
    "21",
    ("key", _S),
    ("code", _S),
    ("name", _S),
    ("addresses", _S),
    ("billingAddress", _S),
    *_TIMES,
)
PRODUCTS = _entity(
    "products",
    "Product",
    "products",
    "19",
    ("key", _S),
    ("code", _S),
    ("name", _S),
    ("type", _S),
    ("status", _S),
    ("price", _S),
    ("quantity", _O),
    ("sku", _S),
    ("upc", _S),
    ("ean", _S),
    ("partNumber", _S),
    *_TIMES,
)
SALES_ORDERS = _entity(
    "sales-orders",
    "SalesOrder",
    "sales_orders",
    "20",
    ("key", _S),
    ("customerKey", _S),
    ("code", _S),
    ("orderNumber", _S),
    ("date", _S),
    ("shipmentDate", _S),
    ("contactPerson", _S),
    ("currencyRate", _S),
    ("shipmentAddress", _O),
    *_TIMES,
)
STOCKS = _entity(
    "stocks",
    "Stock",
    "stocks",
    "22",
    ("key", _S),
    ("productKey", _S),
    ("locationKey", _S),
    ("position", _S),
    ("quantity", _O),
    ("minLevel", _O),
    ("maxLevel", _O),
    ("expiresAt", _S),
    *_TIMES,
)


def _by_path(*entities: Entity) -> Mapping[str, Entity]:
    return {entity.path: entity for entity in entities}


ENTITIES: Mapping[Category, Mapping[str, Entity]] = {
    "eam": _by_path(SITES, LOCATIONS, ASSETS, WORK_ORDERS, PURCHASE_ORDERS, MATERIALS, VENDORS),
    "erp": _by_path(SITES, VENDORS, CUSTOMERS, PURCHASE_ORDERS, MATERIALS, PRODUCTS, SALES_ORDERS),
    "wms": _by_path(SITES, LOCATIONS, VENDORS, PRODUCTS, STOCKS, SALES_ORDERS, PURCHASE_ORDERS),
}


# --- keys ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _connection_part(connection_key: str) -> str:
    digest = hashlib.sha256(connection_key.encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10_000:04d}"


def record_key(connection_key: str, entity: Entity, number: int) -> str:
    """The 14-digit key of record `number` (1-based) of `entity` on this connection."""
    return f"{entity.prefix}{_connection_part(connection_key)}{number:08d}"


def record_number(connection_key: str, entity: Entity, key: str) -> int | None:
    """The record number a key names, or None if it is not this connection's `entity` key."""
    if len(key) != 14 or not key.isascii() or not key.isdigit():
        return None
    if key[:2] != entity.prefix or key[2:6] != _connection_part(connection_key):
        return None
    number = int(key[6:])
    return number or None


# Reads one value of a record from its raw row: (connection key, number, row) -> value.
Reader = Callable[[str, int, RowDetail], Any]
