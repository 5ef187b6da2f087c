"""`makini custom-fields`: custom fields per connection, and the same kept as a file."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from makini_cli import completion
from makini_cli.commands._common import KeyArg, YesOption, app_ctx, new_app
from makini_cli.completion import choices, complete_custom_field_names, complete_entities
from makini_cli.errors import CliError, ExitCode, QuietExit, UsageError, interruption_code

if TYPE_CHECKING:
    from makini_cli.api.errors import APIError
    from makini_cli.context import AppContext
    from makini_cli.fieldfile import Change, FieldFile, FieldSpec, Plan
    from makini_cli.models.custom_field import CustomField

app = new_app(
    """Define custom fields per connection, and keep them as code: export, diff, apply.

    A custom field shows a column of the connected system's own tables (TABLE.COLUMN,
    see `makini raw tables KEY`) on an entity's records, as customFields.NAME. A field
    is known by its entity and name; `export` writes a connection's fields to a TOML or
    JSON file, `diff` compares such a file with the server, and `apply` makes the server
    match it: fields the file does not list are deleted.

    \b
    Examples:
      makini custom-fields list 10000715260448
      makini custom-fields create 10000715260448 --entity work-orders --name inspector \\
        --source ZPM_INSP.INSPECTOR --type string
      makini custom-fields export 10000715260448 > fields.toml
      makini custom-fields diff 10000715260448 -f fields.toml
      makini custom-fields apply 10000715260448 -f fields.toml --yes"""
)

FieldType = Literal["string", "number", "boolean", "date"]
FileFormat = Literal["toml", "json"]
TYPE_METAVAR = "[string|number|boolean|date]"

EntityOption = Annotated[
    str | None,
    typer.Option(
        "--entity",
        metavar="ENTITY",
        help="Only this entity's fields, e.g. work-orders.",
        autocompletion=complete_entities,
    ),
]
#: --entity of a command that names one field: which entity's, when several have it.
FieldEntityOption = Annotated[
    str | None,
    typer.Option(
        "--entity",
        metavar="ENTITY",
        help="The field's entity, when several entities have a field of that name.",
        autocompletion=complete_entities,
    ),
]
NameArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="The field's name (see `makini custom-fields list KEY`), or its key (cf_…).",
        autocompletion=complete_custom_field_names,
    ),
]
FileOption = Annotated[
    str,
    typer.Option(
        "--file",
        "-f",
        metavar="FILE",
        help="TOML or JSON file (by its extension), or - for stdin.",
    ),
]


# ---------------------------------------------------------------------- helpers


def _scope(c: "AppContext") -> str:
    return completion.scope_of(c.settings)


def _describe(field: "CustomField | FieldSpec") -> str:
    return f"{field.entity} · {field.source or '?'}"


def _cache(
    c: "AppContext",
    key: str,
    *,
    keep: Callable[[str, str | None], bool] = lambda _n, _d: True,
    add: "Sequence[CustomField | FieldSpec]" = (),
) -> None:
    """Offer the connection's field names on Tab: what was known and `keep` says stays,
    plus `add`. Best effort: Tab's cache never fails a command."""
    kind = f"custom_fields:{key}"
    try:
        scope = _scope(c)
        old = [item for item in completion.cached(scope, kind) if keep(*item)]
        new = [(f.name, _describe(f)) for f in add]
        completion.remember_custom_fields(scope, key, list(dict.fromkeys([*old, *new])))
    except (CliError, OSError):
        pass


def _none(_name: str, _text: str | None) -> bool:
    """A `keep` for `_cache` that drops every name (a complete list replaces them)."""
    return False


def _of_entity(entity: str) -> Callable[[str, str | None], bool]:
    """A `keep` for `_cache` that drops this entity's names (a fresh list replaces them)."""
    return lambda _name, text: not (text or "").startswith(f"{entity} ·")


def _not(field: "CustomField") -> Callable[[str, str | None], bool]:
    """A `keep` for `_cache` that drops one field's name."""
    return lambda name, text: (
        not (name == field.name and (text or "").startswith(f"{field.entity} ·"))
    )


def _listing(values: list[Any], shown: int = 15) -> str:
    from makini_cli.output.sanitize import clean

    names = [clean(str(v)) for v in values[:shown]]
    more = f" … and {len(values) - shown} more" if len(values) > shown else ""
    return ", ".join(names) + more


def _validation_hint(key: str, details: dict[str, Any], message: str) -> str | None:
    """What exists, from a 422's details: the entities the connection serves, the tables
    a source may name, the columns of the table it named. A list the message already
    spells out whole is not repeated."""
    parts: list[str] = []
    listed = False
    for name, label in (
        ("entities", "entities this connection serves"),
        ("tables", "tables that exist"),
        ("columns", "columns that exist"),
    ):
        values = details.get(name)
        if not isinstance(values, list) or not values:
            continue
        listed = listed or name != "entities"
        if not all(str(v) in message for v in values):
            parts.append(f"{label}: {_listing(values)}")
        elif name == "entities":
            parts.append("use one of the entities named above")
    existing = details.get("existing_key")
    if isinstance(existing, str) and existing:
        parts.append(f"pick another name, or change {existing} with `makini custom-fields update`")
    elif isinstance(details.get("fields"), dict) and "name" in details["fields"]:
        parts.append("pick another name")
    if listed:
        parts.append(f"`makini raw tables {key}` lists every table and its columns")
    return "; ".join(parts) or None


def _explained(c: "AppContext", key: str, exc: "APIError") -> CliError:
    err = c.explain(exc)
    if exc.status == 422 or exc.code == "VALIDATION_FAILED":
        err.hint = _validation_hint(key, exc.details, err.message) or err.hint
    return err


@contextmanager
def _api_errors(c: "AppContext", key: str) -> Iterator[None]:
    """API errors with hints that name what exists (tables, columns, entities)."""
    from makini_cli.api.errors import APIStatusError

    try:
        yield
    except APIStatusError as exc:
        raise _explained(c, key, exc) from exc


def _local_checks(
    *, entity: str | None = None, name: str | None = None, source: str | None = None
) -> None:
    """What the server would refuse, said before a request, as exit 2."""
    from makini_cli import fieldfile

    checks = [
        ("--entity", entity, fieldfile.check_entity),
        ("--name", name, fieldfile.check_name),
        ("--source", source, fieldfile.check_source),
    ]
    for flag, value, check in checks:
        problem = check(value) if value is not None else None
        if problem:
            raise UsageError(f"{flag}: {problem}", hint="see --help")


def _resolve(c: "AppContext", key: str, field: str, entity: str | None) -> "CustomField":
    """The field a NAME (or `cf_…` key) names; its entity must be given when several
    entities have a field of that name."""
    with _api_errors(c, key):
        fields = list(c.api.custom_fields.list(key, entity=entity))
    by_key = field.startswith("cf_")
    found = [f for f in fields if (f.key if by_key else f.name) == field]
    if not found:
        on = f" on {entity}" if entity else ""
        raise CliError(
            f"connection {key} has no custom field {field!r}{on}",
            code="NOT_FOUND",
            hint=f"`makini custom-fields list {key}` shows them",
            exit_code=ExitCode.ERROR,
        )
    if len(found) > 1:
        raise UsageError(
            f"connection {key} has a custom field {field!r} on "
            f"{', '.join(f.entity for f in found)}",
            hint="pass --entity to say which",
        )
    return found[0]


def _print_field(c: "AppContext", field: "CustomField") -> None:
    from makini_cli.output import fieldplan

    c.out.object(field.to_api(), fieldplan.CUSTOM_FIELDS)


def _where(path: str) -> str:
    """A --file as messages name it."""
    return "stdin" if path == "-" else path


def _read(c: "AppContext", path: str) -> "FieldFile":
    """The file (or stdin), checked: anything wrong with it is exit 2, before a request."""
    from pathlib import Path

    from makini_cli import fieldfile

    where = _where(path)
    try:
        text = c.terminal.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text", hint="save it as UTF-8") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read {where}: {exc.strerror or exc}", hint="check the path"
        ) from None
    fmt = fieldfile.format_for(path) if path != "-" else None
    try:
        return fieldfile.parse(text, where=where, fmt=fmt)
    except fieldfile.FieldFileError as exc:
        raise UsageError(
            str(exc),
            code="INVALID_FIELD_FILE",
            hint="fix the file; `makini custom-fields export KEY` writes one to start from",
        ) from None


def _for_connection(parsed: "FieldFile", key: str, path: str) -> None:
    if parsed.connection is not None and parsed.connection != key:
        raise UsageError(
            f"{_where(path)} is for connection {parsed.connection}, not {key}",
            code="CONNECTION_MISMATCH",
            hint=f"pass {parsed.connection}, or remove `connection` from the file to use it "
            "with any connection",
        )


def _spec(field: "CustomField") -> "FieldSpec":
    from makini_cli.fieldfile import FieldSpec

    return FieldSpec(
        field.entity, field.name, field.source or "", field.type or "", bool(field.writable)
    )


def _current(c: "AppContext", key: str) -> "list[CustomField]":
    with _api_errors(c, key):
        fields = c.api.custom_fields.all(key)
    _cache(c, key, keep=_none, add=fields)
    return fields


def _plan_for(c: "AppContext", key: str, path: str) -> "tuple[FieldFile, Plan]":
    """The file, checked (exit 2 before a request), and what would make the server's
    fields match it."""
    from makini_cli.fieldfile import make_plan

    parsed = _read(c, path)
    _for_connection(parsed, key, path)
    return parsed, make_plan(parsed.fields, [(f.key, _spec(f)) for f in _current(c, key)])


# ---------------------------------------------------------------------- commands


@app.command("list")
def list_(ctx: typer.Context, key: KeyArg, entity: EntityOption = None) -> None:
    """List a connection's custom fields, by entity and name.

    \b
    Examples:
      makini custom-fields list 10000715260448
      makini custom-fields list 10000715260448 --entity work-orders -o json
    """
    from makini_cli.output import fieldplan

    c = app_ctx(ctx)
    seen: list[CustomField] = []

    def rows() -> "Iterator[dict[str, Any]]":
        for field in c.api.custom_fields.list(key, entity=entity):
            seen.append(field)
            yield field.to_api()

    with _api_errors(c, key):
        c.out.stream(rows(), fieldplan.list_columns(c.out))
    # A complete list replaces what Tab offers; one entity's replaces that entity's.
    _cache(c, key, keep=_of_entity(entity) if entity else _none, add=seen)


@app.command("create")
def create(
    ctx: typer.Context,
    key: KeyArg,
    entity: Annotated[
        str,
        typer.Option(
            "--entity",
            metavar="ENTITY",
            help="The entity whose records get the field, e.g. work-orders.",
            autocompletion=complete_entities,
        ),
    ],
    name: Annotated[
        str,
        typer.Option("--name", metavar="NAME", help="camelCase name, shown as customFields.NAME."),
    ],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            metavar="TABLE.COLUMN",
            help="The raw column it shows (see `makini raw tables KEY`).",
        ),
    ],
    type_: Annotated[
        FieldType,
        typer.Option("--type", metavar=TYPE_METAVAR, help="How its values are typed."),
    ],
    writable: Annotated[
        bool, typer.Option("--writable", help="Writes may set it (default: read-only).")
    ] = False,
) -> None:
    """Define a custom field: a raw column shown on an entity's records.

    \b
    Examples:
      makini custom-fields create 10000715260448 --entity work-orders --name inspector \\
        --source ZPM_INSP.INSPECTOR --type string
      makini custom-fields create 10000715260448 --entity assets --name lastInspected \\
        --source ZPM_INSP.INSP_DATE --type date --writable
    """
    _local_checks(entity=entity, name=name, source=source)
    c = app_ctx(ctx)
    with _api_errors(c, key):
        field = c.api.custom_fields.create(
            key, entity=entity, name=name, source=source, type=type_, writable=writable
        )
    _cache(c, key, add=[field])
    c.msg.notice(f"created custom field {field.entity}/{field.name} ({field.key})")
    _print_field(c, field)


@app.command("update")
def update(
    ctx: typer.Context,
    key: KeyArg,
    field: NameArg,
    entity: FieldEntityOption = None,
    new_name: Annotated[
        str | None, typer.Option("--name", metavar="NEW", help="A new camelCase name.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", metavar="TABLE.COLUMN", help="Another raw column."),
    ] = None,
    type_: Annotated[
        FieldType | None,
        typer.Option("--type", metavar=TYPE_METAVAR, help="Another type."),
    ] = None,
    writable: Annotated[
        bool | None,
        typer.Option("--writable/--read-only", help="Whether writes may set it."),
    ] = None,
) -> None:
    """Change a custom field's name, source, type, or whether it is writable.

    \b
    Examples:
      makini custom-fields update 10000715260448 inspector --type number
      makini custom-fields update 10000715260448 inspector --entity work-orders \\
        --name inspectorName --writable
    """
    if new_name is None and source is None and type_ is None and writable is None:
        raise UsageError(
            "nothing to change", hint="give --name, --source, --type, --writable or --read-only"
        )
    _local_checks(entity=entity, name=new_name, source=source)
    c = app_ctx(ctx)
    found = _resolve(c, key, field, entity)
    with _api_errors(c, key):
        changed = c.api.custom_fields.update(
            key, found.key, name=new_name, source=source, type=type_, writable=writable
        )
    _cache(c, key, keep=_not(found), add=[changed])
    c.msg.notice(f"updated custom field {changed.entity}/{changed.name} ({changed.key})")
    _print_field(c, changed)


@app.command("delete")
def delete(
    ctx: typer.Context,
    key: KeyArg,
    field: NameArg,
    entity: FieldEntityOption = None,
    yes: YesOption = False,
) -> None:
    """Delete a custom field: its values leave the entity's records at once.

    \b
    Examples:
      makini custom-fields delete 10000715260448 inspector
      makini custom-fields delete 10000715260448 inspector --entity work-orders --yes
    """
    _local_checks(entity=entity)
    c = app_ctx(ctx)
    found = _resolve(c, key, field, entity)
    if not yes:
        c.confirm(
            f"Delete custom field {found.entity}/{found.name} of connection {key}? "
            f"Records lose customFields.{found.name}"
        )
    with _api_errors(c, key):
        c.api.custom_fields.delete(key, found.key)
    _cache(c, key, keep=_not(found))
    c.msg.notice(f"deleted custom field {found.entity}/{found.name} ({found.key})")


@app.command("export")
def export(
    ctx: typer.Context,
    key: KeyArg,
    output: Annotated[
        FileFormat | None,
        typer.Option(
            "--output",
            "-o",
            metavar="[toml|json]",
            help="The file's format (default: toml).",
            autocompletion=choices("toml", "json"),
        ),
    ] = None,
    entity: EntityOption = None,
) -> None:
    """Write a connection's custom fields to stdout, as a file `diff` and `apply` read.

    The connection's key, then the fields by entity and name, each with its source,
    type and writable; never keys or times, so the same fields give the same file.
    With --entity the file holds that entity's fields only: applying it would delete
    every other entity's.

    \b
    Examples:
      makini custom-fields export 10000715260448 > fields.toml
      makini custom-fields export 10000715260448 -o json > fields.json
    """
    from makini_cli import fieldfile

    _local_checks(entity=entity)
    c = app_ctx(ctx)
    # Its own -o (a file format); a global `-o json` before the noun means JSON too.
    fmt: FileFormat = output or ("json" if c.flags.get("output") == "json" else "toml")
    fields = [_spec(f) for f in _current(c, key) if entity is None or f.entity == entity]
    c.out.line(fieldfile.dumps(key, fields, fmt).rstrip("\n"))
    if entity is not None:
        c.msg.warn(
            f"the file holds {entity}'s custom fields only: `apply` with it deletes those "
            "of every other entity"
        )


@app.command("diff")
def diff(ctx: typer.Context, key: KeyArg, file: FileOption) -> None:
    """Compare a file with the server's custom fields; exit 9 when they differ.

    Prints what `apply` would do, in the order it would: - delete (red), ~ update with
    each attribute's old → new (yellow), + create (green). A field is known by entity
    and name: a renamed field is a delete and a create. With -o json (the default when
    piped): {"changes": [{"action", "entity", "name", "from", "to"}], "in_sync": bool}.
    Exit 0 when in sync, 9 on drift.

    \b
    Examples:
      makini custom-fields diff 10000715260448 -f fields.toml
      makini custom-fields diff 10000715260448 -f fields.json -o json | jq .changes
    """
    from makini_cli.output import fieldplan

    c = app_ctx(ctx)
    _, plan = _plan_for(c, key, file)
    fieldplan.show_diff(c.out, plan)
    where = _where(file)
    if plan.in_sync:
        c.msg.notice(f"in sync: the custom fields of {key} match {where}")
        return
    c.msg.notice(f"{fieldplan.counts(plan)}; to make the server match {where}:")
    if not c.msg.quiet:
        c.msg.hint(f"makini custom-fields apply {key} -f {file}")
    raise QuietExit(ExitCode.CHECK_FAILED)


@app.command("apply")
def apply(
    ctx: typer.Context,
    key: KeyArg,
    file: FileOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan, change nothing (exit 0).")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Make the server's custom fields match a file: create, update, and delete.

    Fields the file does not list are deleted. A field is known by entity and name, so a
    new name is a delete and a create. The plan (as `diff` shows it) goes to stderr, then
    is confirmed on a terminal; elsewhere it needs --yes, unless there is nothing to do.
    Deletes go first, then updates, then creates. If a change fails, apply stops there,
    says what was and was not done, and exits with that error's code. A second apply of
    the same file changes nothing ("nothing to change", exit 0). --dry-run shows the plan
    and exits 0 whatever it holds (use `diff` to fail on drift). With -o json (the
    default when piped) stdout gets the result: {"dry_run", "changes": [… "status":
    applied|failed|not_applied|planned], "in_sync"}.

    \b
    Examples:
      makini custom-fields apply 10000715260448 -f fields.toml
      makini custom-fields apply 10000715260448 -f fields.toml --dry-run
      makini custom-fields apply 10000715260448 -f fields.json --yes -o json
    """
    from makini_cli.output import fieldplan

    c = app_ctx(ctx)
    parsed, plan = _plan_for(c, key, file)
    where = _where(file)
    if plan.in_sync:
        c.msg.notice(f"nothing to change: the custom fields of {key} match {where}")
        fieldplan.show_result(c.out, fieldplan.apply_result(plan, {}, dry_run=dry_run))
        return
    if not c.msg.quiet or not (yes or dry_run):
        fieldplan.show_plan(c.msg.stderr, plan, paint=c.msg.color)
    deletes = plan.count("delete")
    if dry_run:
        c.msg.notice(f"{fieldplan.counts(plan)} (dry run: nothing was changed)")
        fieldplan.show_result(c.out, fieldplan.apply_result(plan, {}, dry_run=True))
        return
    if not yes:
        made = len(plan.changes)
        these = "this change" if made == 1 else f"these {made} changes"
        gone = (
            f", deleting {deletes} field{'' if deletes == 1 else 's'} the file does not list"
            if deletes
            else ""
        )
        c.confirm(f"Apply {these} to connection {key}{gone}?")
    statuses = _carry_out(c, key, plan, where)
    made = len(plan.changes)
    c.msg.notice(
        f"made {made} change{'' if made == 1 else 's'}: the custom fields of {key} now match "
        f"{where}"
    )
    _cache(c, key, keep=_none, add=list(parsed.fields))
    fieldplan.show_result(c.out, fieldplan.apply_result(plan, statuses, dry_run=False))


def _carry_out(
    c: "AppContext", key: str, plan: "Plan", where: str
) -> dict[tuple[str, str, str], str]:
    """Make each change in order; on a failure (or Ctrl-C) stop, say what was and was
    not done, print the result, and end with the failure's exit code."""
    from makini_cli.api.errors import APIError
    from makini_cli.output import fieldplan

    api = c.api.custom_fields
    statuses: dict[tuple[str, str, str], str] = {}
    done: list[Change] = []
    for change in plan.changes:
        ident = (change.action, change.entity, change.name)
        try:
            _make(api, key, change)
        except (APIError, KeyboardInterrupt) as exc:
            statuses[ident] = "failed"
            left = [x for x in plan.changes if x is not change and x not in done]
            c.msg.warn(
                f"apply stopped at {change.action} {change.entity}/{change.name}: "
                f"{len(done)} of {len(plan.changes)} changes made"
            )
            if done:
                c.msg.warn(f"made: {fieldplan.idents(done)}")
            c.msg.warn(f"not made: {fieldplan.idents([change, *left])}")
            fieldplan.show_result(c.out, fieldplan.apply_result(plan, statuses, dry_run=False))
            if isinstance(exc, KeyboardInterrupt):
                raise QuietExit(interruption_code(exc)) from None
            raise _explained(c, key, exc) from exc
        statuses[ident] = "applied"
        done.append(change)
        c.msg.notice(fieldplan.applied_line(change))
    return statuses


def _make(api: Any, key: str, change: "Change") -> None:
    after = change.after or {}
    if change.action == "delete":
        api.delete(key, change.key)
    elif change.action == "update":
        wanted = {attribute: after[attribute] for attribute in change.changed()}
        api.update(key, change.key, **wanted)
    else:
        api.create(
            key,
            entity=change.entity,
            name=change.name,
            source=after["source"],
            type=after["type"],
            writable=bool(after["writable"]),
        )
