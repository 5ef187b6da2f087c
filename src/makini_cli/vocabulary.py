"""Closed sets of values the API speaks, as `Literal` types.

Light on purpose (no pydantic): command modules use these for their choices when Typer
builds them, which happens before any model is needed.
"""

from typing import Literal, get_args

#: Makini's connection statuses: the dashboard's lifecycle, plus `offline` and
#: `reauth_required` while the connected system is down or rejects its credentials.
ConnectionStatus = Literal[
    "pending",
    "synchronizing",
    "in_progress",
    "active",
    "inactive",
    "overage",
    "offline",
    "reauth_required",
]
STATUSES: tuple[str, ...] = get_args(ConnectionStatus)

#: This project's health extension (contract §4).
Health = Literal["online", "offline", "reauth_required"]
