"""Pydantic models keep every field the API sends (extra="allow"), so `-o json` can print
objects complete and under the API's own names. Timestamps stay strings: re-serialising a
parsed datetime would change how the API wrote it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_api(self) -> dict[str, Any]:
        """The object as the API sent it: its fields, its names, nothing invented."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
