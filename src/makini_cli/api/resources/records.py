"""Unified records: `/api/{eam|erp|wms}/{entity}` and `/{key}` (contract §2, §9).

Records are read as plain dicts, never models: an export moves them by the hundred
thousand, and the API's own names and values are what every output prints.

Every call carries the connection's token (`ConnectionTokenSession`), re-issued on the
way: a long export outlives any one token (300 s).

Which category a connection's records live under follows from its platform: the
connection names its platform (`platform`, or only `integration_name` on a server
without extensions), the platform list gives the platform's `kind`, and
`vocabulary.CATEGORY_OF_KIND` the category. When that cannot tell (a platform list
without kinds), the categories are tried in order with one small read each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import MAX_PER_PAGE, ApiClient, Page
from makini_cli.api.errors import APIStatusError, MalformedResponseError
from makini_cli.api.query import Filter as Filter
from makini_cli.api.query import Sort, filter_params, sort_params
from makini_cli.api.resources.connections import ConnectionsAPI
from makini_cli.api.session import ConnectionTokenSession
from makini_cli.vocabulary import CATEGORY_OF_KIND, ENTITIES

#: The entity every category serves: what a category is probed with.
PROBE_ENTITY = "sites"


def entity_path(name: str) -> str:
    """An entity as Makini's paths name it: `work_orders`, `Work-Orders` → `work-orders`."""
    return name.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class RecordQuery:
    """What a list asks for: filters, how they combine, a modified-after time, the order."""

    filters: Sequence[Filter] = ()
    #: "all" (AND) or "any" (OR); None leaves it to the server (all)
    match: str | None = None
    #: an ISO-8601 time: only records updated after it (`modified_after`)
    modified_after: str | None = None
    #: (field, descending) pairs, the first sorts first
    sort: Sequence[Sort] = ()

    def params(self) -> dict[str, str | list[str]]:
        """The query parameters; two filters on one field (`--match any` of two values)
        repeat the parameter."""
        params = filter_params(self.filters)
        if self.match:
            params["filterMatch"] = self.match
        if self.modified_after:
            params["modified_after"] = self.modified_after
        return params | sort_params(self.sort)


@dataclass(frozen=True)
class CategoryFinding:
    """A connection's category, and how it was learnt (for --debug)."""

    category: str | None
    how: str


class RecordsAPI:
    def __init__(
        self, client: ApiClient, capabilities: Capabilities, connections: ConnectionsAPI
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self.connections = connections

    def session(self, key: str) -> ConnectionTokenSession:
        """The connection's token for the calls that follow (issued now)."""
        return ConnectionTokenSession(self.connections, key)

    # ------------------------------------------------------------------ category

    def category_from_platform(self, key: str) -> CategoryFinding:
        """The category of `key`'s records, from its platform's kind (admin calls)."""
        conn = self.connections.get(key)
        platform, name = conn.platform, conn.integration_name
        if not platform and not name:
            return CategoryFinding(None, "the connection names no platform")
        for item in self.client.paginate(paths.PLATFORMS, per_page=MAX_PER_PAGE):
            if not isinstance(item, dict):
                continue
            if (platform and item.get("key") == platform) or (
                not platform and name and item.get("name") == name
            ):
                kind = item.get("kind")
                category = CATEGORY_OF_KIND.get(str(kind).lower()) if kind else None
                said = platform or name
                if category is None:
                    return CategoryFinding(None, f"platform {said} has no known kind ({kind!r})")
                return CategoryFinding(category, f"platform {said}, kind {kind}")
        return CategoryFinding(None, f"platform {platform or name} is not in the platform list")

    def probe_category(self, session: ConnectionTokenSession) -> CategoryFinding:
        """The first category (eam, erp, wms) whose `sites` the connection can read: one
        record's read each. A 404 means "not this one"; any other error is the answer."""
        for category in paths.CATEGORIES:
            try:
                session.request(
                    self.client,
                    "GET",
                    paths.records(category, PROBE_ENTITY),
                    params={"per_page": 1},
                )
            except APIStatusError as exc:
                if exc.status == 404:
                    continue
                raise
            return CategoryFinding(category, f"/api/{category}/{PROBE_ENTITY} answered")
        return CategoryFinding(None, "no category answered")

    @staticmethod
    def entities(category: str) -> tuple[str, ...]:
        return ENTITIES.get(category, ())

    # ------------------------------------------------------------------ reads

    def pages(
        self,
        session: ConnectionTokenSession,
        category: str,
        entity: str,
        *,
        query: RecordQuery | None = None,
        limit: int | None = None,
        per_page: int | None = None,
    ) -> Iterator[Page]:
        """Every page of the entity's records (`limit` stops early), one in memory at a
        time, each fetched with a token that is good for it."""
        size = min(per_page or MAX_PER_PAGE, MAX_PER_PAGE)
        if limit is not None:
            size = min(size, limit)
        return self.client.pages(
            paths.records(category, entity_path(entity)),
            params=query.params() if query else None,
            limit=limit,
            per_page=size,
            send=session.page_getter(self.client),
        )

    def list(
        self,
        session: ConnectionTokenSession,
        category: str,
        entity: str,
        *,
        query: RecordQuery | None = None,
        limit: int | None = None,
        per_page: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        for page in self.pages(
            session, category, entity, query=query, limit=limit, per_page=per_page
        ):
            yield from page.items

    def get(
        self, session: ConnectionTokenSession, category: str, entity: str, record_key: str
    ) -> dict[str, Any]:
        path = paths.record(category, entity_path(entity), record_key)
        resp = session.request(self.client, "GET", path)
        data = resp.data
        if not isinstance(data, dict):
            raise MalformedResponseError(
                f"{path} answered {type(data).__name__ if data is not None else 'nothing'} "
                "where a record was expected",
                request_id=resp.request_id,
                path=path,
            )
        return data


def served_entities(error: APIStatusError) -> list[str] | None:
    """The entities a 404 for an unserved entity path names (`details.entities`)."""
    found = error.details.get("entities")
    if isinstance(found, list) and all(isinstance(e, str) for e in found):
        return list(found)
    return None
