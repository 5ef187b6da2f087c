from __future__ import annotations

from typing import Any

from pydantic import Field

from makini_cli.models.base import ApiModel


class Client(ApiModel):
    id: Any = None
    name: str | None = None
    email: str | None = None


class ServerCapabilities(ApiModel):
    """(ext) `GET /api/system/capabilities`."""

    extensions: list[str] = Field(default_factory=list)
