"""Closed sets of values the API speaks, as `Literal` types.

Light on purpose (no pydantic): command modules use these for their choices when Typer
builds them, which happens before any model is needed.
"""

from typing import Literal, get_args

#: Makini's connection statuses: the dashboard's lifecycle, plus `offline` and
#: `reauth_required` while the connected system is down or rejects its credentials.
ConnectionStatus = Literal[
    "pending",
    "synchronizing",
    "in_progress",
    "active",
    "inactive",
    "overage",
    "offline",
    "reauth_required",
]
STATUSES: tuple[str, ...] = get_args(ConnectionStatus)

#: This project's health extension (contract §4).
Health = Literal["online", "offline", "reauth_required"]

#: The record lists Makini documents, by category, as its paths name them
#: (`GET /api/eam/work-orders`); a test reads them from Makini's OpenAPI files. The CLI
#: accepts these against any server; the sandbox serves a subset and names it in its 404.
ENTITIES: dict[str, tuple[str, ...]] = {
    "eam": (
        "accounts",
        "asset-templates",
        "assets",
        "assets-downtime",
        "companies",
        "customers",
        "documents",
        "inventories",
        "labors",
        "locations",
        "materials",
        "meter-readings",
        "meters",
        "organizations",
        "pm",
        "purchase-orders",
        "purchase-orders.line-items",
        "return-orders",
        "service-requests",
        "sites",
        "stocks",
        "storerooms",
        "teams",
        "uom",
        "users",
        "vendors",
        "work-orders",
    ),
    "erp": (
        "accounts",
        "bom",
        "companies",
        "currencies",
        "customers",
        "exchange-rates",
        "fulfillments",
        "inventories",
        "invoices",
        "labors",
        "locations",
        "materials",
        "organizations",
        "production-orders",
        "products",
        "projects",
        "purchase-orders",
        "purchase-orders.line-items",
        "purchase-requisitions",
        "receipts",
        "receiving",
        "return-orders",
        "rfq",
        "sales-orders",
        "sites",
        "stock-transfers",
        "stocks",
        "storerooms",
        "taxes",
        "teams",
        "uom",
        "users",
        "vendors",
    ),
    "wms": (
        "accounts",
        "companies",
        "currencies",
        "customers",
        "fulfillments",
        "groups",
        "inventories",
        "labors",
        "locations",
        "materials",
        "organizations",
        "products",
        "purchase-orders",
        "purchase-orders.line-items",
        "return-orders",
        "sales-orders",
        "shipment-orders",
        "sites",
        "stock-adjustments",
        "stock-transfers",
        "stocks",
        "storerooms",
        "teams",
        "uom",
        "users",
        "vendors",
    ),
}
#: Platform kinds and the category of unified data each one is read through.
CATEGORY_OF_KIND: dict[str, str] = {"cmms": "eam", "eam": "eam", "erp": "erp", "wms": "wms"}
