"""`makini webhooks verify` and `makini webhooks listen`: the receiving end of webhooks.

The other `webhooks` commands (list, create, test, deliveries…) live in
commands/webhooks.py, which adds these two with `register(app)`. Both take the webhook's
secret from an environment variable or a file, never from argv. Nothing heavy is
imported here at module level: the listener (asyncio server) and httpx load inside
`listen`.
"""

import os
import re
from pathlib import Path
from typing import Annotated

import typer

from makini_cli.commands._common import app_ctx
from makini_cli.context import AppContext
from makini_cli.errors import CliError, ConfigError, ExitCode, UsageError

#: How a secret is passed instead: by name, or in a file.
SECRET_ADVICE = (
    "the secret is never a flag value (the process list shows argv): "
    "give --secret-env VAR or --secret-file FILE"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

SecretEnvOption = Annotated[
    str | None,
    typer.Option(
        "--secret-env",
        metavar="VAR",
        help="Name of the environment variable holding the webhook's secret (whsec_…).",
    ),
]
SecretFileOption = Annotated[
    Path | None,
    typer.Option(
        "--secret-file",
        metavar="FILE",
        help="File holding the webhook's secret (keep it mode 0600).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add `verify` and `listen` to the `webhooks` sub-app."""
    app.command("verify")(verify)
    app.command("listen")(listen)


def read_secret(c: AppContext, secret_env: str | None, secret_file: Path | None) -> str | None:
    """The secret from --secret-env or --secret-file (None when neither is given),
    surrounding whitespace (a file's final newline) removed."""
    if secret_env is not None and secret_file is not None:
        raise UsageError(
            "give --secret-env or --secret-file, not both", hint="keep the one that holds it"
        )
    if secret_env is not None:
        if secret_env.startswith("whsec_") or not _ENV_NAME.fullmatch(secret_env):
            # Never echoed: it may well be the secret itself.
            raise UsageError(
                "--secret-env takes the name of an environment variable, not the secret",
                hint="export WEBHOOK_SECRET=whsec_… and pass --secret-env WEBHOOK_SECRET",
            )
        value = c.env.get(secret_env)
        if value is None or not value.strip():
            state = "not set" if value is None else "empty"
            raise ConfigError(
                f"environment variable {secret_env} is {state}",
                code="SECRET_MISSING",
                hint=f"set {secret_env} to the secret `makini webhooks create` (or "
                "rotate-secret) showed, or use --secret-file",
            )
        return value.strip()
    if secret_file is not None:
        try:
            mode = secret_file.stat().st_mode
            value = secret_file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(
                f"cannot read --secret-file {secret_file}: {reason}",
                hint="point it at a readable file that holds only the secret",
            ) from None
        if os.name == "posix" and mode & 0o077:
            c.msg.warn(
                f"{secret_file} can be read by other users (mode {mode & 0o777:04o}); "
                f"`chmod 600 {secret_file}` keeps the secret yours"
            )
        if not value.strip():
            raise UsageError(
                f"--secret-file {secret_file} is empty",
                hint="write the webhook's secret (whsec_…) into it",
            )
        return value.strip()
    return None


def _read_body(c: AppContext, body: str) -> bytes:
    if body == "-":
        if c.terminal.is_tty("stdin"):
            raise UsageError(
                "no body to check: stdin is a terminal",
                hint="pipe the raw body in (… | makini webhooks verify …), or pass --body FILE",
            )
        stream = c.terminal.stdin
        raw = getattr(stream, "buffer", None)
        # The bytes as they are: a text read would turn \r\n into \n and break the check.
        return raw.read() if raw is not None else stream.read().encode("utf-8")
    try:
        return Path(body).read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read --body {body}: {exc.strerror or exc}",
            hint="give the file holding the raw request body, or - for stdin",
        ) from None


def verify(
    ctx: typer.Context,
    signature: Annotated[
        str,
        typer.Option(
            "--signature",
            metavar="SIG",
            help="The delivery's X-Webhook-Signature header value.",
        ),
    ],
    secret_env: SecretEnvOption = None,
    secret_file: SecretFileOption = None,
    body: Annotated[
        str,
        typer.Option(
            "--body",
            metavar="FILE|-",
            help="File holding the raw request body; - (the default) reads stdin.",
        ),
    ] = "-",
) -> None:
    """Check a delivery's signature: exit 0 when genuine, 9 when not, saying why.

    The signature is base64 of HMAC-SHA256, keyed with the webhook's secret, over the
    body's bytes exactly as received. When the check fails, one line on stderr says
    why, with a hint: a wrong secret, a body that was re-serialised (it verifies once
    compacted the way JSON.stringify writes it), hex instead of base64, a signature cut
    short, one that is not base64 at all, or none. Nothing is printed on stdout; with
    -o json, the verdict: {"valid", "reason", "message", "hint"}.

    The secret comes from --secret-env VAR or --secret-file FILE, never from argv.

    \b
    Examples:
      makini webhooks verify --secret-env WEBHOOK_SECRET --signature "$SIG" --body body.json
      curl -s https://example.test/last-body | makini webhooks verify \\
          --secret-file ~/.config/wh-secret --signature "$SIG"
      makini webhooks verify --secret-env WEBHOOK_SECRET --signature "$SIG" -o json < body.json
    """
    from makini_cli.webhooks.signature import explain_failure

    c = app_ctx(ctx)
    secret = read_secret(c, secret_env, secret_file)
    if secret is None:
        raise UsageError("the webhook's secret is needed to check a signature", hint=SECRET_ADVICE)
    data = _read_body(c, body)
    failure = explain_failure(secret, data, signature.strip())
    if c.output_mode in ("json", "jsonl"):
        c.out.object(
            {
                "valid": failure is None,
                "reason": failure.kind if failure else None,
                "message": failure.message if failure else None,
                "hint": failure.hint if failure else None,
            }
        )
        c.out.flush()
    if failure is None:
        c.msg.notice("the signature is valid")
        return
    raise CliError(
        failure.message, code=failure.code, hint=failure.hint, exit_code=ExitCode.CHECK_FAILED
    )


def listen(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="Address to bind. Only loopback unless you name another; any other "
            "address needs a secret.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", min=0, max=65535, help="Port (0 = any free one).")
    ] = 8787,
    secret_env: SecretEnvOption = None,
    secret_file: SecretFileOption = None,
    forward_to: Annotated[
        str | None,
        typer.Option(
            "--forward-to",
            metavar="URL",
            help="Relay each verified delivery (headers and body as received) to this URL.",
        ),
    ] = None,
) -> None:
    """Receive webhook deliveries on this machine and show each one as it arrives.

    Every POST, on any path, is a delivery. Its X-Webhook-Signature is checked in
    constant time over the raw body: genuine ones are answered 204 at once, forged or
    unsigned ones 401 (and shown as such); a repeated X-Webhook-Id is answered 204 too
    but shown as a duplicate and not forwarded again. Without a secret nothing is
    checked and every delivery shows as `unverified`.

    On a terminal (or with -o table): one line per delivery (time, verdict, event,
    connection, id). Piped, or with -o jsonl: one JSON object per line, flushed as it
    comes (-o json and csv are exit 2):
    {"received_at","id","event","connection_key","verdict","forwarded"}, where verdict
    is ok, unverified, forged, unsigned, duplicate or bad_json, and forwarded is null
    without --forward-to. With --forward-to, a delivery is relayed while new ones keep
    being answered, retried with backoff (5 attempts in all), and its line is printed
    once its forward has succeeded or been given up.

    The URL goes to stderr (and, on a terminal, stdout first). Ctrl-C or SIGTERM stops
    it (exit 0) with a count of what was received.

    \b
    Examples:
      makini webhooks listen --secret-env WEBHOOK_SECRET
      makini webhooks listen --secret-file ./wh-secret --forward-to http://localhost:3000/hooks
      makini webhooks listen --port 0 --secret-env WEBHOOK_SECRET -o jsonl | jq .event
    """
    from makini_cli.binding import BindError
    from makini_cli.output.deliveries import DeliveryLines
    from makini_cli.sandbox.settings import is_loopback
    from makini_cli.webhooks.listener import Listener, serve_until_signalled

    c = app_ctx(ctx)
    secret = read_secret(c, secret_env, secret_file)
    mode = c.out.mode_for("stream")
    if mode not in ("table", "wide", "jsonl"):
        raise UsageError(
            f"listen never ends, so it prints lines or JSON lines, not {mode}"
            + (" (one document)" if mode == "json" else ""),
            hint="use -o jsonl (the default when piped): one delivery per line",
        )
    stdout_tty = c.terminal.is_tty("stdout")
    json_lines = mode == "jsonl"
    if forward_to is not None:
        _check_forward_url(forward_to)
    if not is_loopback(host):
        if secret is None:
            raise UsageError(
                f"refusing to listen on {host} without a secret: anyone who reaches it "
                "could post deliveries",
                hint="give --secret-env VAR or --secret-file FILE, or keep --host 127.0.0.1",
            )
        c.msg.warn(
            f"listening on {host}, reachable from other machines; only deliveries with a "
            "valid signature are accepted"
        )
    if secret is None:
        c.msg.warn("no secret given: signatures are not checked (verdict `unverified`)")
    color = str(c.settings["color"])
    view = DeliveryLines(
        c.out,
        json_lines=json_lines,
        color=not json_lines and (color == "always" or (color == "auto" and stdout_tty)),
    )
    listener = Listener(
        secret=secret, forward_to=forward_to, on_delivery=view, on_warning=c.msg.warn
    )

    def ready(url: str) -> None:
        where = f"listening for webhook deliveries on {url}"
        if forward_to:
            where += f", forwarding to {forward_to}"
        c.msg.notice(f"{where} (Ctrl-C to stop)")
        if not json_lines:
            c.out.text(url)
            c.out.flush()

    try:
        counts = serve_until_signalled(listener, host, port, on_ready=ready)
    except BindError as exc:
        raise UsageError(
            str(exc), hint="choose another --port, or --port 0 for any free one"
        ) from None
    c.msg.notice(f"stopped: {counts.summary()}")


def _check_forward_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--forward-to {url!r} is not an http:// or https:// URL",
            hint="e.g. --forward-to http://localhost:3000/webhooks",
        )
    if parts.username or parts.password:
        raise UsageError(
            "--forward-to must not carry credentials in the URL",
            hint="the delivery's own headers and signature go with it",
        )
