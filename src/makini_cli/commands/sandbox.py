"""`makini sandbox`: run and steer the bundled Makini-compatible server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from makini_cli.commands._common import YesOption, app_ctx, new_app
from makini_cli.context import AppContext
from makini_cli.errors import UsageError

app = new_app("Run the bundled sandbox: a local server that behaves like Makini.")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind; keep 127.0.0.1 unless you mean it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free one).")] = 8765,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite state lives.")] = None,
    client_id: Annotated[str | None, typer.Option(help="Client id the sandbox accepts.")] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            help="Client secret it accepts (visible to other local users in argv; "
            "prefer MAKINI_SANDBOX_CLIENT_SECRET)."
        ),
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option(min=1, help="Requests per minute per token (default 600).")
    ] = None,
    clock_speed: Annotated[
        float | None, typer.Option(min=0.001, help="Run the sandbox clock this many times faster.")
    ] = None,
    no_extensions: Annotated[
        bool, typer.Option("--no-extensions", help="Serve only Makini's documented calls.")
    ] = False,
) -> None:
    """Serve the sandbox over HTTP until Ctrl-C."""
    from makini_cli.sandbox.server import serve as run_server
    from makini_cli.sandbox.settings import (
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        SandboxSettings,
        default_data_dir,
    )

    c = app_ctx(ctx)
    secret = client_secret or os.environ.get("MAKINI_SANDBOX_CLIENT_SECRET") or DEMO_CLIENT_SECRET
    settings = SandboxSettings(
        data_dir=data_dir or default_data_dir(),
        client_id=client_id or DEMO_CLIENT_ID,
        client_secret=secret,
        rate_limit_per_minute=rate_limit or 600,
        clock_speed=clock_speed,
        extensions=not no_extensions,
    )

    def ready(url: str) -> None:
        shown = secret if secret == DEMO_CLIENT_SECRET else "(the one you set)"
        c.msg.notice(f"sandbox listening on {url}  (data: {settings.data_dir})")
        c.msg.notice(f"  client id:     {settings.client_id}")
        c.msg.notice(f"  client secret: {shown}")
        c.msg.notice(
            f"  try: MAKINI_BASE_URL={url} MAKINI_CLIENT_ID={settings.client_id} "
            "MAKINI_CLIENT_SECRET=… makini connections list"
        )
        c.out.text(url)
        c.out.flush()

    run_server(settings, host=host, port=port, on_ready=ready)


@app.command("reset")
def reset(ctx: typer.Context, yes: YesOption = False) -> None:
    """Restore the sandbox's seed data (all changes are lost)."""
    from makini_cli.api import paths

    c = app_ctx(ctx)
    _require_sandbox(c)
    if not yes:
        c.confirm("Reset the sandbox to its seed data? Every change is lost")
    c.require_login()
    c.client.request("POST", paths.sandbox_control("reset"))
    c.msg.notice("sandbox reset to its seed data")


def _require_sandbox(c: AppContext) -> None:
    from makini_cli.api.capabilities import is_local

    url = c.settings.base_url
    if not (c.settings.is_sandbox or is_local(url)):
        raise UsageError(
            f"{url} is not a sandbox; `makini sandbox` commands only steer the bundled sandbox",
            hint="use --base-url sandbox, or the URL `makini sandbox serve` printed",
        )


def _switch(c: AppContext, key: str, action: str, body: dict[str, object] | None = None) -> None:
    from makini_cli.api import paths

    _require_sandbox(c)
    c.require_login()
    resp = c.client.request("POST", paths.sandbox_connection(key, action), json_body=body)
    data = resp.data if isinstance(resp.data, dict) else {}
    c.out.object(data)


@app.command("outage")
def outage(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Connection key.")],
    for_: Annotated[
        str | None, typer.Option("--for", help="How long the connected system is down, e.g. 30m.")
    ] = None,
    end: Annotated[bool, typer.Option("--end", help="End the outage now.")] = False,
) -> None:
    """Take a connection's system offline: syncs fail, scheduled ones back off and retry."""
    from makini_cli.durations import parse_duration

    c = app_ctx(ctx)
    if end == (for_ is not None):
        raise UsageError(
            "give --for DURATION or --end", hint="e.g. makini sandbox outage KEY --for 30m"
        )
    if end:
        _switch(c, key, "outage", {"end": True})
        c.msg.notice(f"outage of {key} ended; health returns at the next probe")
    else:
        seconds = parse_duration(for_ or "", flag="--for")
        _switch(c, key, "outage", {"seconds": seconds})
        c.msg.notice(f"{key} is offline for {for_} (sandbox time)")


@app.command("break-credentials")
def break_credentials(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="Connection key.")]
) -> None:
    """Make the connected system reject its credentials: health reauth_required."""
    c = app_ctx(ctx)
    _switch(c, key, "break-credentials")
    c.msg.notice(
        f"{key} now needs reauthorization; `makini sandbox fix-credentials {key}` undoes it"
    )


@app.command("fix-credentials")
def fix_credentials(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="Connection key.")]
) -> None:
    """Undo break-credentials."""
    c = app_ctx(ctx)
    _switch(c, key, "fix-credentials")
    c.msg.notice(f"{key} credentials accepted again")
