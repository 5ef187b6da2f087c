"""GitHub Actions: workflow-command annotations and the job's step summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from makini_cli.durations import format_duration
from makini_cli.output.sanitize import clean

if TYPE_CHECKING:
    from makini_cli.commands._sync_runner import Outcome


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(title: str, message: str) -> str:
    return f"::error title={_escape_property(title)}::{_escape_data(clean(message))}"


def _cell(text: str) -> str:
    return clean(text).replace("|", "\\|").replace("\n", " ")


def summary_table(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "### makini sync",
        "",
        "| Connection | Sync | Result | Records | Duration | Error |",
        "|---|---|---|---:|---:|---|",
    ]
    for o in outcomes:
        sync = o.sync
        records = ""
        if sync and sync.progress and sync.progress.records_total:
            records = f"{sync.progress.records_processed or 0:,}"
        error = ""
        if sync and sync.error:
            error = f"{sync.error.code}: {sync.error.message}"
        elif o.error:
            error = f"{o.error.code}: {o.error.message}"
        lines.append(
            f"| {_cell(o.key)} | {_cell(o.sync_id or '')} | {o.result} | {records} "
            f"| {format_duration(o.elapsed)} | {_cell(error)} |"
        )
    return "\n".join(lines) + "\n\n"
