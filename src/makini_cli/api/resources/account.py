"""The account: the API client record (contract §4)."""

from __future__ import annotations

from makini_cli.api import paths
from makini_cli.api.capabilities import Capabilities
from makini_cli.api.client import ApiClient
from makini_cli.models.account import Client


class AccountAPI:
    def __init__(self, client: ApiClient, capabilities: Capabilities) -> None:
        self.client = client
        self.capabilities = capabilities

    def client_record(self) -> Client:
        return self.client.get_as(Client, paths.CLIENT)
