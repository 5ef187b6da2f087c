"""One event of the event log (contract §8, ext): the payload a webhook delivery carries.

`body` is the list of affected record keys for entity events (`work_orders.updated`) and
an object of details for operational ones (`sync.completed`)."""

from __future__ import annotations

from typing import Any

from makini_cli.models.base import ApiModel


class Event(ApiModel):
    id: str
    event: str
    created_at: str | None = None
    connection_key: str | None = None
    body: Any = None
