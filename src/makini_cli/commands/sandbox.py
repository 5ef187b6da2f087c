"""`makini sandbox`: run and steer the bundled Makini-compatible server."""

import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from makini_cli.commands._common import (
    KeyArg,
    YesOption,
    app_ctx,
    new_app,
)
from makini_cli.context import AppContext
from makini_cli.errors import UsageError

app = new_app(
    """Run the bundled sandbox: a local server that behaves like Makini.

    With nothing configured, commands use it by themselves: it starts in the background
    on first use and stops after 15 idle minutes.

    \b
    Examples:
      makini sandbox status
      makini sandbox outage 10000715260448 --for 30m
      makini sandbox serve --port 8765"""
)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="Address to bind; keep 127.0.0.1 unless you mean it. Any other address "
            "needs a client secret of 16+ characters (not the demo one).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", min=0, max=65535, help="Port (0 = any free one).")
    ] = 8765,
    data_dir: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Where the SQLite state lives.")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Client id the sandbox accepts.")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            metavar="SECRET",
            help="Client secret it accepts, 8+ characters (visible to other local users in "
            "argv; prefer MAKINI_SANDBOX_CLIENT_SECRET).",
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help="Also answer requests whose Host header names NAME (repeatable). Only "
            "localhost and the bound address are answered otherwise (DNS rebinding guard).",
        ),
    ] = None,
    rate_limit: Annotated[
        int | None,
        typer.Option(metavar="N", min=1, help="Requests per minute per token (default 600)."),
    ] = None,
    clock_speed: Annotated[
        float | None,
        typer.Option(
            metavar="FACTOR", min=0.001, help="Run the sandbox clock this many times faster."
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            metavar="SPEC",
            help="Fail requests at random to rehearse failures, e.g. "
            "rate=0.3,seed=7,modes=429,503,drip,reset,drop (see below).",
        ),
    ] = None,
    no_extensions: Annotated[
        bool, typer.Option("--no-extensions", help="Serve only Makini's documented calls.")
    ] = False,
    account_plan: Annotated[
        Literal["trial", "paid"],
        typer.Option(
            "--plan",
            metavar="[trial|paid]",
            help="The account's plan: beyond its credits, a new connection is inactive "
            "(trial) or runs as overage (paid).",
        ),
    ] = "trial",
    table_rows: Annotated[
        int | None,
        typer.Option(
            "--table-rows",
            metavar="N",
            min=20,
            max=10_000_000,
            help="For load tests: every raw table of every connection has N rows (and "
            "the records made from them follow).",
        ),
    ] = None,
    idle_exit: Annotated[
        str | None,
        typer.Option(
            "--idle-exit",
            metavar="DURATION",
            hidden=True,
            help="Exit after this long without a request (the background sandbox).",
        ),
    ] = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background",
            hidden=True,
            help="Be the data dir's shared background sandbox: announce it in server.json.",
        ),
    ] = False,
) -> None:
    """Serve the sandbox over HTTP until Ctrl-C (never idles out).

    Prints its URL on stdout and the demo credentials on stderr.

    --faults SPEC makes a share of requests fail, drawn per request from a seeded
    generator (same seed, same faults for a client that sends one request at a time).
    SPEC is comma-separated: rate=P (share of requests, default 0.1), seed=N (default:
    random, shown at startup), modes=M,... (default: all), latency=D and drip=D
    (default 2s, at most 60s), retry_after=S (default 1), path=PREFIX,... (default: all
    but /sandbox/). Modes: 429 (with Retry-After), 500, 502, 503 (with Retry-After), 504,
    latency (the answer is late), drip (its body trickles out), reset (the connection is
    reset before the request is handled), drop (handled, then the connection closes with
    no answer: retry with the same Idempotency-Key to get it).

    \b
    Examples:
      makini sandbox serve
      makini sandbox serve --port 0 --clock-speed 20 --data-dir ./sandbox-data
      makini sandbox serve --no-extensions
      makini sandbox serve --plan paid
      makini sandbox serve --table-rows 100000
      makini sandbox serve --faults "rate=0.3,seed=7,modes=429,503,drip,reset,drop"
      makini sandbox serve --faults "rate=1,modes=latency,latency=5s,path=/api/system/syncs"
      MAKINI_SANDBOX_CLIENT_SECRET="$(openssl rand -hex 16)" \\
        makini sandbox serve --host 0.0.0.0 --allowed-host sandbox.internal
    """
    from makini_cli.durations import parse_duration
    from makini_cli.errors import ConfigError
    from makini_cli.sandbox.chaos import ChaosSpecError, parse_spec
    from makini_cli.sandbox.middleware import Activity
    from makini_cli.sandbox.server import BindError
    from makini_cli.sandbox.server import serve as run_server
    from makini_cli.sandbox.settings import (
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        EXPOSED_MIN_SECRET_LENGTH,
        MIN_SECRET_LENGTH,
        DataDirError,
        SandboxConfigError,
        SandboxSettings,
        check_exposure,
        default_data_dir,
    )

    c = app_ctx(ctx)
    secret_env = "MAKINI_SANDBOX_CLIENT_SECRET"
    # An empty or short secret is a mistake to report, never a reason to fall back to
    # the public demo secret.
    if client_secret is not None:
        if len(client_secret) < MIN_SECRET_LENGTH:
            raise UsageError(
                "--client-secret is empty"
                if not client_secret
                else f"--client-secret is shorter than {MIN_SECRET_LENGTH} characters",
                hint=f"give a secret of at least {MIN_SECRET_LENGTH} characters, or leave "
                "the option out to use the demo secret",
            )
        secret = client_secret
    elif (from_env := os.environ.get(secret_env)) is not None:
        if len(from_env) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"{secret_env} is empty"
                if not from_env
                else f"{secret_env} is shorter than {MIN_SECRET_LENGTH} characters",
                hint=f"set it to at least {MIN_SECRET_LENGTH} characters, or unset it to use "
                "the demo secret",
            )
        secret = from_env
    else:
        secret = DEMO_CLIENT_SECRET
    if client_id is not None and not client_id.strip():
        raise UsageError("--client-id is empty", hint="leave it out to use the demo client id")
    plan = None
    if faults is not None:
        try:
            plan = parse_spec(faults)
        except ChaosSpecError as exc:
            raise UsageError(
                f"--faults {faults!r}: {exc}",
                hint='e.g. --faults "rate=0.3,seed=7,modes=429,503,drip,reset,drop"',
            ) from None
    settings = SandboxSettings(
        data_dir=data_dir or default_data_dir(),
        client_id=client_id or DEMO_CLIENT_ID,
        client_secret=secret,
        rate_limit_per_minute=rate_limit or 600,
        clock_speed=clock_speed,
        extensions=not no_extensions,
        allowed_hosts=tuple(allowed_host or ()),
        chaos=plan,
        plan=account_plan,
        table_rows=table_rows,
    )

    if background and host != "127.0.0.1":
        raise UsageError("--background serves on 127.0.0.1 only", hint="drop --host")
    try:
        check_exposure(settings, host)
    except SandboxConfigError as exc:
        raise UsageError(
            str(exc),
            hint=f"set {secret_env} to a secret of at least {EXPOSED_MIN_SECRET_LENGTH} "
            "characters (e.g. `openssl rand -hex 16`), or serve on --host 127.0.0.1",
        ) from None
    activity = Activity(
        idle_exit=parse_duration(idle_exit, flag="--idle-exit") if idle_exit else None
    )

    def ready(url: str) -> None:
        if background:
            from makini_cli.sandbox import background as shared

            # First: the run that started this server is waiting for the file.
            shared.announce(
                settings.data_dir,
                url=url,
                instance=activity.instance,
                started_at=activity.started_at,
                idle_exit=activity.idle_exit,
            )
        shown = secret if secret == DEMO_CLIENT_SECRET else "(the one you set)"
        c.msg.notice(f"sandbox listening on {url}  (data: {settings.data_dir})")
        c.msg.notice(f"  client id:     {settings.client_id}")
        c.msg.notice(f"  client secret: {shown}")
        if plan is not None:
            c.msg.notice(f"  faults:        {plan.describe()}")
        c.msg.notice(
            f"  try: MAKINI_BASE_URL={url} MAKINI_CLIENT_ID={settings.client_id} "
            "MAKINI_CLIENT_SECRET=… makini connections list"
        )
        c.out.text(url)
        c.out.flush()

    try:
        run_server(settings, host=host, port=port, on_ready=ready, activity=activity)
    except BindError as exc:
        raise UsageError(
            str(exc), hint="choose another --port, or --port 0 for any free one"
        ) from None
    except DataDirError as exc:
        raise ConfigError(
            str(exc), hint="point --data-dir (or MAKINI_SANDBOX_DIR) at a directory of its own"
        ) from None
    if background:
        # Idle exit or Ctrl-C (a SIGTERM ends the process before this; `stop` tidies up).
        from makini_cli.sandbox import background as shared

        shared.forget(settings.data_dir, activity.instance)
        c.msg.notice("sandbox stopped")


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="PATH",
        help="The sandbox's data dir [default: $MAKINI_SANDBOX_DIR, else the user data dir].",
    ),
]


@app.command("status")
def status(ctx: typer.Context, data_dir: DataDirOption = None) -> None:
    """Show the background sandbox (URL, pid, data dir, uptime, idle exit).

    With nothing configured (or --base-url sandbox), the first run starts the sandbox in
    the background and later runs on the same data dir reuse it; it stops itself after
    MAKINI_SANDBOX_IDLE (default 15m) without a request. Exits 0 when it is running, 1
    (error code SANDBOX_NOT_RUNNING, on stderr) when it is not. Times are in seconds.

    \b
    Examples:
      makini sandbox status
      makini sandbox status -o json | jq -r .url
      MAKINI_SANDBOX_DIR=/tmp/demo makini sandbox status
    """
    import time
    from datetime import UTC, datetime

    from makini_cli.errors import CliError
    from makini_cli.sandbox import background as shared
    from makini_cli.sandbox.settings import default_data_dir

    c = app_ctx(ctx)
    where = data_dir or default_data_dir()
    found = shared.status(where)
    if found is None:
        raise CliError(
            f"the background sandbox is not running (data: {where})",
            code="SANDBOX_NOT_RUNNING",
            hint="a command that uses the sandbox starts it, e.g. `makini connections list`",
        )
    state, answer = found
    started = datetime.fromtimestamp(state.started_at, UTC)
    c.out.object(
        {
            "url": state.url,
            "pid": state.pid,
            "data_dir": state.data_dir,
            "version": answer.get("version"),
            "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "uptime_seconds": round(max(0.0, time.time() - state.started_at)),
            "idle_seconds": round(float(answer.get("idle_seconds") or 0.0), 1),
            "idle_exit_seconds": state.idle_exit,
            "log": str(shared.data_paths(Path(state.data_dir))[2]),
        },
        light=True,
    )


@app.command("stop")
def stop(ctx: typer.Context, data_dir: DataDirOption = None) -> None:
    """Stop the background sandbox now; its data stays for the next one.

    Asks it to finish its open requests and exit (SIGTERM), and kills it if it has not
    after 10 s. Stopping when none is running is not an error: exit 0 with a notice.

    \b
    Examples:
      makini sandbox stop
      MAKINI_SANDBOX_DIR=/tmp/demo makini sandbox stop
    """
    from makini_cli.sandbox import background as shared
    from makini_cli.sandbox.settings import default_data_dir

    c = app_ctx(ctx)
    where = data_dir or default_data_dir()
    stopped = shared.stop(where)
    if stopped is None:
        c.msg.notice(f"no background sandbox is running (data: {where})")
    elif not stopped.signalled:
        c.msg.notice(
            f"no background sandbox is running; removed the stale record of pid "
            f"{stopped.state.pid} (data: {where})"
        )
    elif stopped.killed:
        c.msg.notice(
            f"the background sandbox (pid {stopped.state.pid}) ignored SIGTERM and was killed"
        )
    else:
        state = stopped.state
        c.msg.notice(f"stopped the background sandbox (pid {state.pid}, {state.url})")


@app.command("reset")
def reset(ctx: typer.Context, yes: YesOption = False) -> None:
    """Restore the sandbox's seed data (all changes are lost).

    \b
    Examples:
      makini sandbox reset --yes
    """
    from makini_cli.api import paths

    c = app_ctx(ctx)
    _require_sandbox(c)
    if not yes:
        c.confirm("Reset the sandbox to its seed data? Every change is lost")
    c.require_login()
    c.client.request("POST", paths.sandbox_control("reset"), headers=_control_headers())
    c.msg.notice("sandbox reset to its seed data")


def _require_sandbox(c: AppContext) -> None:
    from makini_cli.api.capabilities import is_local

    url = c.settings.base_url
    if not (c.settings.is_sandbox or is_local(url)):
        raise UsageError(
            f"{url} is not a sandbox; `makini sandbox` commands only steer the bundled sandbox",
            hint="use --base-url sandbox, or the URL `makini sandbox serve` printed",
        )


def _control_headers() -> dict[str, str]:
    """The control token of the sandbox data dir (MAKINI_SANDBOX_DIR or the default), if
    it has one: a `--no-extensions` sandbox shows its control routes only to its holder.
    Sent only to a local sandbox (`_require_sandbox` checks first)."""
    from makini_cli.sandbox.control_token import HEADER, read_token
    from makini_cli.sandbox.settings import default_data_dir

    token = read_token(default_data_dir())
    return {HEADER: token} if token else {}


def _switch(c: AppContext, key: str, action: str, body: dict[str, object] | None = None) -> None:
    from makini_cli.api import paths

    _require_sandbox(c)
    c.require_login()
    resp = c.client.request(
        "POST", paths.sandbox_connection(key, action), json_body=body, headers=_control_headers()
    )
    data = resp.data if isinstance(resp.data, dict) else {}
    c.out.object(data)


@app.command("outage")
def outage(
    ctx: typer.Context,
    key: KeyArg,
    for_: Annotated[
        str | None,
        typer.Option(
            "--for", metavar="DURATION", help="How long the connected system is down, e.g. 30m."
        ),
    ] = None,
    end: Annotated[bool, typer.Option("--end", help="End the outage now.")] = False,
) -> None:
    """Take a connection's system offline: syncs fail, scheduled ones back off and retry.

    \b
    Examples:
      makini sandbox outage 10000715260448 --for 30m
      makini sandbox outage 10000715260448 --end
    """
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
def break_credentials(ctx: typer.Context, key: KeyArg) -> None:
    """Make the connected system reject its credentials: health reauth_required.

    \b
    Examples:
      makini sandbox break-credentials 10000715260448
    """
    c = app_ctx(ctx)
    _switch(c, key, "break-credentials")
    c.msg.notice(
        f"{key} now needs reauthorization; `makini sandbox fix-credentials {key}` undoes it"
    )


@app.command("fix-credentials")
def fix_credentials(ctx: typer.Context, key: KeyArg) -> None:
    """Undo break-credentials.

    \b
    Examples:
      makini sandbox fix-credentials 10000715260448
    """
    c = app_ctx(ctx)
    _switch(c, key, "fix-credentials")
    c.msg.notice(f"{key} credentials accepted again")
