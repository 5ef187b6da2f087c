"""`makini connections`: the connected systems of the account."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from makini_cli.api.errors import APIStatusError
from makini_cli.commands._common import (
    SECRET_FIELD_WORDS,
    KeyArg,
    LimitOption,
    YesOption,
    app_ctx,
    keys_arg,
    new_app,
)
from makini_cli.commands._common import idempotency_key as check_idempotency_key
from makini_cli.context import AppContext
from makini_cli.errors import UsageError
from makini_cli.vocabulary import ConnectionStatus, Health

app = new_app(
    """List, inspect, create and delete connections to industrial systems.

    \b
    Examples:
      makini connections list --health offline
      makini connections get 10000715260448
      makini connections status"""
)
metadata_app = new_app(
    """Read and write a connection's key/value metadata.

    \b
    Examples:
      makini connections metadata get 10000715260448
      makini connections metadata set 10000715260448 site=plant-2"""
)
app.add_typer(metadata_app, name="metadata")

Status = ConnectionStatus
#: Output modes that print the API's objects as they are.
MACHINE_MODES = ("json", "jsonl", "csv")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        Status | None,
        typer.Option(
            metavar="[pending|synchronizing|in_progress|active|inactive|overage|offline|"
            "reauth_required]",
            help="Only connections in this status.",
        ),
    ] = None,
    health: Annotated[
        Health | None,
        typer.Option(
            metavar="[online|offline|reauth_required]", help="Only connections with this health."
        ),
    ] = None,
    limit: LimitOption = None,
) -> None:
    """List connections (every page; --limit stops early).

    \b
    Examples:
      makini connections list
      makini connections list --status active --health offline
      makini connections list -o jsonl | jq -r .key
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    seen: list[tuple[str, str | None]] = []

    def rows() -> Iterator[dict[str, Any]]:
        for conn in c.connections.list(status=status, health=health, limit=limit):
            seen.append((conn.key, conn.name))
            yield conn.to_api()

    c.out.stream(rows(), columns.CONNECTIONS)
    # An unfiltered, complete list replaces what Tab offers; anything else adds to it.
    c.remember_connections(seen, complete=not (status or health or limit))


@app.command("get")
def get(ctx: typer.Context, key: KeyArg) -> None:
    """Show one connection with every field the API returns.

    \b
    Examples:
      makini connections get 10000715260448
      makini connections get 10000715260448 -o json
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    try:
        conn = c.connections.get(key)
    except APIStatusError as exc:
        if exc.status == 404:
            c.forget_connections([key])
        raise
    c.remember_connections([(conn.key, conn.name)])
    # Machine formats keep the server's own values (Makini's scopes and metadata are
    # strings); a detail view lists the scopes and shows each metadata entry on its row.
    machine = c.out.mode_for("object") in MACHINE_MODES
    c.out.object(conn.to_api() if machine else conn.for_display(), columns.CONNECTIONS)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not KEY=VALUE", hint=f"write {what} as KEY=VALUE")
        result[key] = value
    return result


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(metavar="NAME", help="Connection name.")],
    email: Annotated[str, typer.Option(metavar="EMAIL", help="Contact email of the connection.")],
    platform: Annotated[
        str,
        typer.Option(
            "--platform",
            "--provider",
            metavar="PLATFORM",
            help="Platform key (e.g. upkeep, sap-s4hana).",
        ),
    ],
    credential: Annotated[
        list[str] | None,
        typer.Option(
            "--credential",
            metavar="FIELD=VALUE",
            help="A non-secret credential field (repeatable).",
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            metavar="FIELD",
            help="A secret credential field to prompt for without echo (repeatable).",
        ),
    ] = None,
    credentials_file: Annotated[
        str | None,
        typer.Option(
            "--credentials-file",
            metavar="FILE",
            help="JSON object of credential fields, or - for stdin.",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(metavar="KEY", help="Makes a retried create safe (default: one per run)."),
    ] = None,
) -> None:
    """Connect a system. Secrets are prompted for or read from a file, never taken from argv.

    \b
    Examples:
      makini connections create --name Plant --email ops@example.com --platform upkeep \\
        --secret api_key
      makini connections create --name Plant --email ops@example.com --platform fiix \\
        --credentials-file creds.json
    """
    c = app_ctx(ctx)
    creds: dict[str, Any] = {}
    if credentials_file:
        creds.update(_read_credentials_file(c, credentials_file))
    given = _pairs(credential or [], "--credential")
    for field_name in given:
        if any(word in field_name.lower() for word in SECRET_FIELD_WORDS):
            c.msg.warn(
                f"--credential {field_name}=… puts a secret in the command line, where other "
                "local users and the shell history can read it; use --secret "
                f"{field_name} (asked without echo) or --credentials-file"
            )
    creds.update(given)
    for field in secret or []:
        creds[field] = _prompt_secret(c, field)
    created = c.connections.create(
        name=name,
        email=email,
        provider=platform,
        credentials=creds,
        idempotency_key=check_idempotency_key(idempotency_key),
    )
    data = created.to_api()
    # The answer holds the new connection's token pair: print the key, not the tokens.
    shown = {k: v for k, v in data.items() if k not in ("access_token", "refresh_token")}
    c.msg.notice(f"created connection {created.key or '(key not returned)'}")
    if created.key:
        c.remember_connections([(created.key, name)])
    c.out.object(shown)


def _read_credentials_file(c: AppContext, path: str) -> dict[str, Any]:
    try:
        text = c.terminal.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the path"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}", hint="fix the file"
        ) from exc
    if not isinstance(data, dict):
        raise UsageError(
            f"{path}: expected a JSON object of credential fields", hint="fix the file"
        )
    return data


def _prompt_secret(c: AppContext, field: str) -> str:
    return c.terminal.ask_secret(
        field,
        no_input=c.no_input,
        hint="use --credentials-file FILE (or - for stdin) instead of --secret",
        piped_ok=False,
    )


@app.command("delete")
def delete(ctx: typer.Context, key: KeyArg, yes: YesOption = False) -> None:
    """Disconnect a system: revokes its tokens, stops its schedule, returns its credits.

    \b
    Examples:
      makini connections delete 10000715260448
      makini connections delete 10000715260448 --yes
    """
    c = app_ctx(ctx)
    if not yes:
        c.confirm(f"Delete connection {key}? Its tokens stop working at once")
    c.connections.delete(key)
    c.forget_connections([key])
    c.msg.notice(f"deleted connection {key}")


@app.command("token")
def token(
    ctx: typer.Context,
    key: KeyArg,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Issue a new token even if one is cached.")
    ] = False,
) -> None:
    """Print a connection token (for /api/eam|erp|wms and /api/integrations calls).

    \b
    Examples:
      makini connections token 10000715260448
      TOKEN=$(makini connections token 10000715260448 --fresh)
    """
    import time

    c = app_ctx(ctx)
    value, expires_at = c.connections.token(key, fresh=fresh)
    mode = c.out.explicit_mode
    if mode in ("json", "jsonl"):
        expires = (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at)) if expires_at else None
        )
        c.out.object({"key": key, "token": value, "expires_at": expires})
    else:
        c.out.text(value)


@app.command("status")
def status(
    ctx: typer.Context,
    keys: Annotated[list[str] | None, keys_arg("Connection keys (default: all).")] = None,
) -> None:
    """Health, sync state and last error, per connection.

    \b
    Examples:
      makini connections status
      makini connections status 10000715260448 -o json
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    api = c.connections
    if keys:
        items = (api.status(k).to_api() for k in keys)
    else:
        c.capabilities.require("status", "`connections status`")
        items = (api.status(conn.key).to_api() for conn in api.list())
    c.out.stream(items, columns.CONNECTION_STATUS)


def _print_metadata(c: AppContext, metadata: dict[str, Any]) -> None:
    """`-o json|jsonl`: the metadata as one object; otherwise a NAME/VALUE row per entry."""
    from makini_cli.output import columns

    if c.out.mode_for("object") in ("json", "jsonl"):
        c.out.object(metadata)
    else:
        c.out.stream(
            ({"key": name, "value": value} for name, value in metadata.items()),
            columns.METADATA,
        )


@metadata_app.command("get")
def metadata_get(ctx: typer.Context, key: KeyArg) -> None:
    """Show a connection's metadata (with -o json: one object of its entries).

    \b
    Examples:
      makini connections metadata get 10000715260448
      makini connections metadata get 10000715260448 -o json | jq -r .customer_id
    """
    c = app_ctx(ctx)
    _print_metadata(c, c.connections.metadata(key))


@metadata_app.command("set")
def metadata_set(
    ctx: typer.Context,
    key: KeyArg,
    pairs: Annotated[
        list[str] | None, typer.Argument(metavar="[NAME=VALUE]...", help="Entries to set.")
    ] = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", metavar="NAME", help="A metadata entry to remove (repeatable)."),
    ] = None,
) -> None:
    """Set (and with --unset remove) metadata entries; prints the resulting metadata.

    Values are strings. Removing an entry needs the server capability `metadata_delete`:
    Makini documents no way to remove one.

    \b
    Examples:
      makini connections metadata set 10000715260448 site=plant-2 owner=ops
      makini connections metadata set 10000715260448 --unset owner
    """
    c = app_ctx(ctx)
    values = _pairs(pairs or [], "metadata")
    remove = list(dict.fromkeys(unset or []))
    if not values and not remove:
        raise UsageError("nothing to set", hint="give NAME=VALUE pairs or --unset NAME")
    both = sorted(set(values) & set(remove))
    if both:
        raise UsageError(f"metadata {both[0]!r} is both set and unset", hint="give each name once")
    _print_metadata(c, c.connections.update_metadata(key, values, remove))
