from __future__ import annotations

from typing import Any

from makini_cli.models.base import ApiModel


class Client(ApiModel):
    id: Any = None
    name: str | None = None
    email: str | None = None


class Platform(ApiModel):
    key: str | None = None
    name: str | None = None


class Account(ApiModel):
    credits_total: int | None = None
    credits_used: int | None = None
    connections: int | None = None
