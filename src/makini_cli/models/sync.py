from __future__ import annotations

from typing import Any

from makini_cli.models.base import ApiModel
from makini_cli.models.connection import ErrorInfo

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class Progress(ApiModel):
    scope: str | None = None
    records_processed: int | None = None
    records_total: int | None = None


class Sync(ApiModel):
    id: str | None = None
    connection_key: str | None = None
    type: str | None = None
    trigger: str | None = None
    scopes: Any = None
    status: str | None = None
    progress: Progress | None = None
    attempt: int | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: ErrorInfo | None = None
    next_retry_at: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class Schedule(ApiModel):
    enabled: bool | None = None
    interval_minutes: int | None = None


class DocumentedSyncStatus(ApiModel):
    """`GET /api/integrations/sync/status`: inprogress, done, fulldone, error or fail."""

    status: str | None = None
