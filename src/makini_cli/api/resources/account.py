"""The account: the API client record, platforms and credits (contract §4)."""

from __future__ import annotations

from collections.abc import Iterator

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient
from makini_cli.models.account import Account, Client, Platform


class AccountAPI:
    def __init__(self, client: ApiClient, capabilities: Capabilities) -> None:
        self.client = client
        self.capabilities = capabilities

    def client_record(self) -> Client:
        return Client.model_validate(self.client.get(paths.CLIENT).data)

    def platforms(self, *, limit: int | None = None) -> Iterator[Platform]:
        for item in self.client.paginate(paths.PLATFORMS, limit=limit):
            yield Platform.model_validate(item)

    def account(self) -> Account:
        self.capabilities.require("status", "`account`")
        return Account.model_validate(self.client.get(paths.ACCOUNT).data)
