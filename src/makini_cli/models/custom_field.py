"""Custom fields of a connection (contract §6, ext; capability `custom_fields`).

A field is known to people by its entity and name (`work-orders` / `inspector`), and to
the API by its key (`cf_…`): PATCH and DELETE take the key."""

from __future__ import annotations

from makini_cli.models.base import ApiModel


class CustomField(ApiModel):
    key: str
    entity: str
    name: str
    #: `TABLE.COLUMN` of the connected system's raw data
    source: str | None = None
    #: string | number | boolean | date
    type: str | None = None
    writable: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None
