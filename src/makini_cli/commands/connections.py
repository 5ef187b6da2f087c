"""`makini connections`: the connected systems of the account."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from makini_cli.commands._common import LimitOption, YesOption, app_ctx, new_app
from makini_cli.context import AppContext
from makini_cli.errors import AbortedError, UsageError

app = new_app("List, inspect, create and delete connections to industrial systems.")
metadata_app = new_app("Read and write a connection's key/value metadata.")
app.add_typer(metadata_app, name="metadata")

KeyArg = Annotated[str, typer.Argument(help="Connection key (see `makini connections list`).")]


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(help="Only this lifecycle status: pending, active, inactive, …"),
    ] = None,
    health: Annotated[
        str | None, typer.Option(help="Only this health: online, offline, reauth_required.")
    ] = None,
    limit: LimitOption = None,
) -> None:
    """List connections (every page; --limit stops early)."""
    from makini_cli.output import columns

    c = app_ctx(ctx)
    items = (
        conn.to_api() for conn in c.connections.list(status=status, health=health, limit=limit)
    )
    c.out.stream(items, columns.CONNECTIONS)


@app.command("get")
def get(ctx: typer.Context, key: KeyArg) -> None:
    """Show one connection with every field the API returns."""
    from makini_cli.output import columns

    c = app_ctx(ctx)
    c.out.object(c.connections.get(key).to_api(), columns.CONNECTIONS)


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
    name: Annotated[str, typer.Option(help="Connection name.")],
    email: Annotated[str, typer.Option(help="Contact email of the connection.")],
    platform: Annotated[
        str,
        typer.Option("--platform", "--provider", help="Platform key (e.g. upkeep, sap-s4hana)."),
    ],
    credential: Annotated[
        list[str] | None,
        typer.Option("--credential", help="A non-secret credential field, KEY=VALUE (repeatable)."),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret", help="A secret credential field to prompt for without echo (repeatable)."
        ),
    ] = None,
    credentials_file: Annotated[
        str | None,
        typer.Option(
            "--credentials-file", help="JSON object of credential fields, or - for stdin."
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Makes a retried create safe (default: one per run).")
    ] = None,
) -> None:
    """Connect a system. Secrets are prompted for or read from a file, never taken from argv."""
    c = app_ctx(ctx)
    creds: dict[str, Any] = {}
    if credentials_file:
        creds.update(_read_credentials_file(credentials_file))
    creds.update(_pairs(credential or [], "--credential"))
    for field in secret or []:
        creds[field] = _prompt_secret(c, field)
    created = c.connections.create(
        name=name,
        email=email,
        provider=platform,
        credentials=creds,
        idempotency_key=idempotency_key,
    )
    data = created.to_api()
    # The answer holds the new connection's token pair: print the key, not the tokens.
    shown = {k: v for k, v in data.items() if k not in ("access_token", "refresh_token")}
    c.msg.notice(f"created connection {created.key or '(key not returned)'}")
    c.out.object(shown)


def _read_credentials_file(path: str) -> dict[str, Any]:
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
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
    import getpass
    import sys

    if c.no_input or not sys.stdin.isatty():
        raise AbortedError(
            f"credential {field!r} must be typed, but there is no terminal to ask on",
            code="INPUT_REQUIRED",
            hint="use --credentials-file FILE (or - for stdin) instead of --secret",
        )
    value = getpass.getpass(f"{field}: ", stream=sys.stderr)
    if not value:
        raise AbortedError(
            f"no value for {field!r}", code="INPUT_REQUIRED", hint="type it at the prompt"
        )
    return value


@app.command("delete")
def delete(ctx: typer.Context, key: KeyArg, yes: YesOption = False) -> None:
    """Disconnect a system: revokes its tokens, stops its schedule, returns its credits."""
    c = app_ctx(ctx)
    if not yes:
        c.confirm(f"Delete connection {key}? Its tokens stop working at once")
    c.connections.delete(key)
    c.msg.notice(f"deleted connection {key}")


@app.command("token")
def token(
    ctx: typer.Context,
    key: KeyArg,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Issue a new token even if one is cached.")
    ] = False,
) -> None:
    """Print a connection token (for /api/eam|erp|wms and /api/integrations calls)."""
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
    keys: Annotated[
        list[str] | None, typer.Argument(help="Connection keys (default: all).")
    ] = None,
) -> None:
    """Health, sync state and last error, per connection."""
    from makini_cli.output import columns

    c = app_ctx(ctx)
    api = c.connections
    if keys:
        items = (api.status(k).to_api() for k in keys)
    else:
        c.capabilities.require("status", "`connections status`")
        items = (api.status(conn.key).to_api() for conn in api.list())
    c.out.stream(items, columns.CONNECTION_STATUS)


@metadata_app.command("get")
def metadata_get(ctx: typer.Context, key: KeyArg) -> None:
    """List a connection's metadata."""
    from makini_cli.output import columns

    c = app_ctx(ctx)
    c.out.stream((m.to_api() for m in c.connections.metadata(key)), columns.METADATA)


@metadata_app.command("set")
def metadata_set(
    ctx: typer.Context,
    key: KeyArg,
    pairs: Annotated[list[str] | None, typer.Argument(help="KEY=VALUE pairs to set.")] = None,
    unset: Annotated[
        list[str] | None, typer.Option("--unset", help="A metadata key to remove (repeatable).")
    ] = None,
) -> None:
    """Set (and with --unset remove) metadata entries; prints the resulting metadata."""
    from makini_cli.output import columns

    c = app_ctx(ctx)
    values: dict[str, Any] = dict(_pairs(pairs or [], "metadata"))
    for name in unset or []:
        values[name] = None
    if not values:
        raise UsageError("nothing to set", hint="give KEY=VALUE pairs or --unset KEY")
    result = c.connections.set_metadata(key, values)
    c.out.stream((m.to_api() for m in result), columns.METADATA)
