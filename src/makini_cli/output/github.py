"""GitHub Actions: workflow-command annotations and the job's step summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from makini_cli.durations import format_duration
from makini_cli.output.sanitize import clean, clean_lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(title: str, message: str) -> str:
    # Cleaned first (no controls: output/sanitize.py), then escaped as the workflow-command
    # syntax wants: a line break in the message is kept as %0A (GitHub shows it inside the
    # annotation), so a value can neither end the command early nor start a forged one.
    title = _escape_property(clean(title))
    return f"::error title={title}::{_escape_data(clean_lines(message))}"


def _cell(text: str) -> str:
    # `clean` leaves one line, so a value cannot end the Markdown table row.
    return clean(text).replace("|", "\\|")


@dataclass(frozen=True)
class SummaryRow:
    """One connection's line in the step summary (output/ knows no command types)."""

    connection: str
    sync_id: str | None
    result: str
    records: int | None
    seconds: float
    error: str | None


def summary_table(rows: Sequence[SummaryRow]) -> str:
    lines = [
        "### makini sync",
        "",
        "| Connection | Sync | Result | Records | Duration | Error |",
        "|---|---|---|---:|---:|---|",
    ]
    for row in rows:
        records = f"{row.records:,}" if row.records is not None else ""
        lines.append(
            f"| {_cell(row.connection)} | {_cell(row.sync_id or '')} | {_cell(row.result)} "
            f"| {records} | {format_duration(row.seconds)} | {_cell(row.error or '')} |"
        )
    return "\n".join(lines) + "\n\n"
