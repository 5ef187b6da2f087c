"""A connection's custom fields (contract §6, ext; capability `custom_fields`).

Fields live under the connection (`/api/system/connections/{key}/custom-fields`) and
are changed by their key (`cf_…`). The server checks what only it can know (the entities
the connection's category serves, the raw tables and columns a source may name, names
already taken) and answers 422 VALIDATION_FAILED with `details` listing what exists.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient, new_idempotency_key
from makini_cli.models.custom_field import CustomField

CAPABILITY = "custom_fields"


class CustomFieldsAPI:
    def __init__(self, client: ApiClient, capabilities: Capabilities) -> None:
        self.client = client
        self.capabilities = capabilities

    def _require(self, operation: str) -> None:
        self.capabilities.require(CAPABILITY, operation)

    def list(self, connection_key: str, *, entity: str | None = None) -> Iterator[CustomField]:
        """Every field of the connection (ordered entity, name), or one entity's."""
        self._require("`custom-fields list`")
        return self._list(connection_key, entity)

    def _list(self, connection_key: str, entity: str | None) -> Iterator[CustomField]:
        params = {"filter[entity]": entity} if entity else None
        for field in self.client.paginate_as(
            CustomField, paths.custom_fields(connection_key), params=params
        ):
            # Checked here too: a server that ignored the filter must not show others.
            if entity is None or field.entity == entity:
                yield field

    def all(self, connection_key: str) -> builtins.list[CustomField]:
        """Every field of the connection, read whole (diff and apply compare all of them)."""
        return builtins.list(self.list(connection_key))

    def create(
        self,
        connection_key: str,
        *,
        entity: str,
        name: str,
        source: str,
        type: str,
        writable: bool = False,
    ) -> CustomField:
        self._require("`custom-fields create`")
        body: dict[str, Any] = {
            "entity": entity,
            "name": name,
            "source": source,
            "type": type,
            "writable": writable,
        }
        return self.client.request_as(
            CustomField,
            "POST",
            paths.custom_fields(connection_key),
            json_body=body,
            # Without a key the server honours, a POST is never repeated: a second try of
            # one that arrived would fail on the name it had just taken.
            idempotency_key=new_idempotency_key() if self.capabilities.has("idempotency") else None,
        )

    def update(
        self,
        connection_key: str,
        field_key: str,
        *,
        name: str | None = None,
        source: str | None = None,
        type: str | None = None,
        writable: bool | None = None,
    ) -> CustomField:
        """Change what is given; None leaves an attribute as it is."""
        self._require("`custom-fields update`")
        given = {"name": name, "source": source, "type": type, "writable": writable}
        body = {attribute: value for attribute, value in given.items() if value is not None}
        return self.client.request_as(
            CustomField, "PATCH", paths.custom_field(connection_key, field_key), json_body=body
        )

    def delete(self, connection_key: str, field_key: str) -> None:
        """Answered 200 `{"data":{"key","deleted":true}}`; an empty 204 does as well."""
        self._require("`custom-fields delete`")
        self.client.request("DELETE", paths.custom_field(connection_key, field_key))
