from __future__ import annotations

from typing import Any

from makini_cli.models.base import ApiModel


class Client(ApiModel):
    id: Any = None
    name: str | None = None
    email: str | None = None
