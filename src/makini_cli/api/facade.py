"""`Makini`: the API as commands see it, one client and its resources, each built once.

Commands reach the API only through this object (via `AppContext.api`): they never see
httpx, build URLs or validate answers themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from makini_cli.api.auth import TokenCache
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient
from makini_cli.api.resources.account import AccountAPI
from makini_cli.api.resources.connections import ConnectionsAPI
from makini_cli.api.resources.events import EventsAPI
from makini_cli.api.resources.syncs import SyncsAPI
from makini_cli.api.resources.webhooks import WebhooksAPI

if TYPE_CHECKING:
    from makini_cli.api.resources.custom_fields import CustomFieldsAPI
    from makini_cli.api.resources.generic import GenericAPI
    from makini_cli.api.resources.raw import RawAPI
    from makini_cli.api.resources.records import RecordsAPI


class Makini:
    def __init__(
        self,
        client: ApiClient,
        capabilities: Capabilities,
        connection_token_cache: Callable[[str], TokenCache],
    ) -> None:
        self.client = client
        self.capabilities = capabilities
        self._connection_token_cache = connection_token_cache

    @cached_property
    def connections(self) -> ConnectionsAPI:
        return ConnectionsAPI(self.client, self.capabilities, self._connection_token_cache)

    @cached_property
    def syncs(self) -> SyncsAPI:
        return SyncsAPI(self.client, self.capabilities, self.connections)

    @cached_property
    def account(self) -> AccountAPI:
        return AccountAPI(self.client, self.capabilities)

    @cached_property
    def webhooks(self) -> WebhooksAPI:
        return WebhooksAPI(self.client, self.capabilities)

    @cached_property
    def events(self) -> EventsAPI:
        return EventsAPI(self.client, self.capabilities)

    # The data nouns are imported when first used: most runs never read records.

    @cached_property
    def custom_fields(self) -> CustomFieldsAPI:
        from makini_cli.api.resources.custom_fields import CustomFieldsAPI

        return CustomFieldsAPI(self.client, self.capabilities)

    @cached_property
    def records(self) -> RecordsAPI:
        from makini_cli.api.resources.records import RecordsAPI

        return RecordsAPI(self.client, self.capabilities, self.connections)

    @cached_property
    def raw(self) -> RawAPI:
        from makini_cli.api.resources.raw import RawAPI

        return RawAPI(self.client, self.capabilities, self.connections)

    @cached_property
    def generic(self) -> GenericAPI:
        from makini_cli.api.resources.generic import GenericAPI

        return GenericAPI(self.client, self.capabilities, self.connections)
