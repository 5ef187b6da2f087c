"""Raw data: a connected system's own tables and their rows (contract §9, documented,
connection token).

`GET /api/raw/tables` answers `{"data": [{"name", "columns"}]}`; a server with extensions
adds `rows` (how many) and `custom` (a customer's own table). `GET
/api/raw/tables/{table}/data` answers the list envelope and takes the list parameters
(`filter[col]`, `filter[col:op]`, `sort[col]` as api/query.py builds them, `page`,
`per_page`). A table the system does not have is a 404 whose `details.tables` lists those
it has.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import MAX_PER_PAGE, ApiClient
from makini_cli.api.errors import MalformedResponseError
from makini_cli.api.resources.connections import ConnectionsAPI
from makini_cli.api.session import ConnectionTokenSession


@dataclass(frozen=True)
class RowsPage:
    """The first rows of a table, and how many the table has (as filtered)."""

    rows: list[dict[str, Any]]
    #: None when the server does not say
    total: int | None


class RawAPI:
    def __init__(
        self, client: ApiClient, capabilities: Capabilities, connections: ConnectionsAPI
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self.connections = connections

    def tables(self, key: str) -> list[dict[str, Any]]:
        """The tables of `key`'s system, as the server describes them."""
        session = ConnectionTokenSession(self.connections, key)
        resp = session.request(self.client, "GET", paths.RAW_TABLES)
        return _objects(resp.data, paths.RAW_TABLES, resp.request_id)

    def first_page(
        self, key: str, table: str, *, params: Mapping[str, Any] | None = None, size: int
    ) -> RowsPage:
        """The first `size` rows (at most a page of the API), and how many there are."""
        size = min(max(size, 1), MAX_PER_PAGE)
        session = ConnectionTokenSession(self.connections, key)
        path = paths.raw_table_data(table)
        pages = self.client.pages(
            path, params=params, limit=size, per_page=size, send=session.page_getter(self.client)
        )
        page = next(iter(pages), None)
        if page is None:
            return RowsPage([], None)
        return RowsPage(_objects(page.items, path, page.request_id), page.total)

    def rows(
        self,
        key: str,
        table: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row (`limit` stops early), one page in memory at a time, the connection
        token renewed on the way when the walk outlives it."""
        session = ConnectionTokenSession(self.connections, key)
        path = paths.raw_table_data(table)
        for item in self.client.paginate(
            path,
            params=params,
            limit=limit,
            per_page=min(limit, MAX_PER_PAGE) if limit else MAX_PER_PAGE,
            send=session.page_getter(self.client),
        ):
            if not isinstance(item, dict):
                raise MalformedResponseError(
                    f"{path} answered a row that is not an object", path=path
                )
            yield item


def _objects(data: Any, path: str, request_id: str | None) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise MalformedResponseError(
            f"{path} did not answer a list of objects", request_id=request_id, path=path
        )
    return data
