"""How custom fields, and the changes between a file and a server, are shown.

A plan reads like a diff, one field per line, in the order it is applied (deletions,
then changes, then additions):

    - delete  assets/legacyCode        (LEGACY.CODE, string, read-only)
    ~ update  work-orders/inspector
                type      string → number
                writable  false → true
    + create  work-orders/inspectorName  ZPM_INSP.INSPECTOR, string, read-only

On a colour terminal `+` lines are green, `~` yellow and `-` red. Every value the file
or the server chose is cleaned (output/sanitize.py) before our colour codes are added.
`diff` writes these lines to stdout (they are its data); `apply` writes its plan to
stderr, before it asks, so that stdout holds only its result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from makini_cli.output.render import Column, Renderer
from makini_cli.output.sanitize import clean

if TYPE_CHECKING:
    from makini_cli.fieldfile import Change, Plan

#: SGR colour of each action
COLOURS = {"create": "32", "update": "33", "delete": "31"}
SIGNS = {"create": "+", "update": "~", "delete": "-"}
DIM = "2"


def _writable_word(value: Any) -> str:
    if value is True:
        return "writable"
    if value is False:
        return "read-only"
    return ""


CUSTOM_FIELDS = [
    Column("NAME", "name", keep=True),
    Column("ENTITY", "entity", keep=True),
    Column("TYPE", "type", priority=40),
    Column("SOURCE", "source", priority=50, cut=True, min_width=16),
    Column("WRITABLE", "writable", priority=30),
    Column("UPDATED", "updated_at", priority=20, time=True),
    Column("KEY", "key", priority=10),
]

#: `diff -o csv`: one row per change, the attributes as JSON
CHANGES = [
    Column("ACTION", "action"),
    Column("ENTITY", "entity"),
    Column("NAME", "name"),
    Column("FROM", "from"),
    Column("TO", "to"),
]


def _value(attribute: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return clean(str(value)) if value is not None else "(none)"


def _summary(attributes: Mapping[str, Any] | None) -> str:
    if not attributes:
        return ""
    parts = [
        clean(str(attributes.get("source") or "?")),
        clean(str(attributes.get("type") or "?")),
        _writable_word(attributes.get("writable")) or "read-only",
    ]
    return ", ".join(parts)


def plan_lines(plan: Plan, *, paint: bool = False) -> list[str]:
    """The plan as lines of text, coloured when `paint`."""

    def painted(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if paint else text

    renames = plan.renames()
    width = max((len(clean(f"{c.entity}/{c.name}")) for c in plan.changes), default=0)
    lines: list[str] = []
    for change in plan.changes:
        ident = clean(f"{change.entity}/{change.name}")
        head = f"{SIGNS[change.action]} {change.action:<6}  "
        colour = COLOURS[change.action]
        if change.action == "update":
            lines.append(painted(head + ident, colour))
            lines += [painted(line, colour) for line in _attribute_lines(change, len(head))]
            continue
        detail = _summary(change.after if change.action == "create" else change.before)
        if change.action == "delete":
            detail = f"({detail})"
        line = painted(f"{head}{ident.ljust(width)}  {detail}".rstrip(), colour)
        new_name = renames.get(change.ident)
        if new_name is not None:
            line += painted(
                f"  renamed to {clean(new_name)}? a new name is a delete and a create", DIM
            )
        lines.append(line)
    return lines


def _attribute_lines(change: Change, indent: int) -> list[str]:
    before, after = change.before or {}, change.after or {}
    return [
        f"{'':{indent}}  {attribute:<8}  {_value(attribute, before.get(attribute))}"
        f" → {_value(attribute, after.get(attribute))}"
        for attribute in change.changed()
    ]


def counts(plan: Plan) -> str:
    """`3 changes: 1 to create, 1 to update, 1 to delete`."""
    total = len(plan.changes)
    parts = [
        f"{plan.count(action)} to {action}"
        for action in ("create", "update", "delete")
        if plan.count(action)
    ]
    noun = "change" if total == 1 else "changes"
    return f"{total} {noun}: {', '.join(parts)}" if parts else "no changes"


def show_diff(out: Renderer, plan: Plan) -> None:
    """`custom-fields diff` on stdout: coloured lines for people, the plan as one JSON
    document (`-o json`, the default when piped) or a CSV row per change."""
    mode = out.mode_for("object")
    if mode in ("json", "jsonl"):
        out.object(plan.to_json())
    elif mode == "csv":
        out.stream((c.to_json() for c in plan.changes), CHANGES)
    else:
        paint = out.color == "always" or (out.color == "auto" and out.is_tty)
        for line in plan_lines(plan, paint=paint):
            out.line(line)


def show_plan(stream: TextIO, plan: Plan, *, paint: bool) -> None:
    """`custom-fields apply`'s plan, on stderr: what it is about to do."""
    for line in plan_lines(plan, paint=paint):
        stream.write(line + "\n")
    stream.flush()


def applied_line(change: Change) -> str:
    """`deleted assets/legacyCode`, as each change is made."""
    verb = {"create": "created", "update": "updated", "delete": "deleted"}[change.action]
    return clean(f"{verb} {change.entity}/{change.name}")


def idents(changes: Iterable[Change]) -> str:
    """`+work-orders/a, -assets/b`: changes in a few words."""
    return ", ".join(clean(f"{SIGNS[c.action]}{c.entity}/{c.name}") for c in changes)


def apply_result(
    plan: Plan, statuses: Mapping[tuple[str, str, str], str], *, dry_run: bool
) -> dict[str, Any]:
    """`apply`'s result document: the plan's changes, each with its `status` (planned,
    applied, failed or not_applied), and whether the server now matches the file."""
    changes = []
    for change in plan.changes:
        status = statuses.get((change.action, change.entity, change.name), "not_applied")
        changes.append({**change.to_json(), "status": "planned" if dry_run else status})
    done = all(c["status"] == "applied" for c in changes)
    return {
        "dry_run": dry_run,
        "changes": changes,
        "in_sync": plan.in_sync or (done and not dry_run),
    }


def show_result(out: Renderer, result: dict[str, Any]) -> None:
    """`apply`'s result on stdout, for machine formats only: people read the plan and the
    progress on stderr."""
    mode = out.mode_for("object")
    if mode in ("json", "jsonl"):
        out.object(result)
    elif mode == "csv":
        out.stream(result["changes"], [*CHANGES, Column("STATUS", "status")])


def list_columns(out: Renderer) -> list[Column] | None:
    """Columns of `custom-fields list`; none for -o csv, which then has every field."""
    return CUSTOM_FIELDS if out.mode_for("stream") != "csv" else None
