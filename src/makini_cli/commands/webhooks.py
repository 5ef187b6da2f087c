"""`makini webhooks`: where Makini sends events, their signing secrets, and deliveries."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from makini_cli import completion
from makini_cli.commands._common import YesOption, app_ctx, new_app
from makini_cli.commands.events import EventName, EventsOption, event_values
from makini_cli.completion import (
    complete_connection_keys,
    complete_delivery_ids,
    complete_webhook_ids,
)
from makini_cli.errors import UsageError

if TYPE_CHECKING:
    from makini_cli.context import AppContext
    from makini_cli.models.webhook import Delivery, Webhook
    from makini_cli.output.render import Column

app = new_app(
    """Manage webhooks: where Makini sends events, their secrets, and each delivery.

    \b
    Examples:
      makini webhooks create --url https://example.com/hooks/makini --event sync.failed
      makini webhooks deliveries wh_3f9a1c2e4b5d6f70 --status failed
      makini webhooks listen --forward-to http://localhost:3000/hooks
      makini webhooks verify --secret-env MAKINI_WEBHOOK_SECRET --signature "$SIG" --body -"""
)

DeliveryStatus = Literal["pending", "succeeded", "failed"]

IdArg = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="Webhook id (wh_…; see `makini webhooks list`).",
        autocompletion=complete_webhook_ids,
    ),
]
UrlOption = Annotated[
    str,
    typer.Option("--url", metavar="URL", help="Where to POST events (http or https)."),
]
ConnectionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--connection",
        metavar="KEY",
        help="Only events of this connection (repeatable; default: every connection).",
        autocompletion=complete_connection_keys,
    ),
]


def _check_url(url: str) -> str:
    """Caught here, before a request, so a typo is exit 2 with the flag named."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise UsageError(
            f"--url {url!r} is not an http or https URL",
            hint="write it like https://example.com/hooks/makini",
        )
    return url.strip()


def _keys(values: list[str] | None) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values or () if v.strip()))


def _scope(c: "AppContext") -> str:
    return completion.scope_of(c.settings)


def _remember(c: "AppContext", hooks: "list[Webhook]", *, complete: bool = False) -> None:
    """Offer these webhook ids on Tab from now on (best effort, never raises)."""
    completion.remember_webhooks(
        _scope(c), [(w.id, _describe(w)) for w in hooks], complete=complete
    )


def _describe(hook: "Webhook") -> str | None:
    if hook.enabled is False:
        return f"{hook.url or '?'} (disabled)"
    return hook.url


def _remember_deliveries(c: "AppContext", found: "list[Delivery]") -> None:
    items = [(d.id, f"{d.event or '?'} · {d.status or '?'}") for d in found]
    if items:
        completion.remember_deliveries(_scope(c), items)


def _forget(c: "AppContext", webhook_id: str) -> None:
    completion.forget_webhooks(_scope(c), [webhook_id])


def _get_or_forget(c: "AppContext", webhook_id: str) -> "Webhook":
    from makini_cli.api.errors import APIStatusError

    try:
        return c.api.webhooks.get(webhook_id)
    except APIStatusError as exc:
        if exc.status == 404:
            _forget(c, webhook_id)
        raise


def _print_webhook(c: "AppContext", hook: "Webhook") -> None:
    from makini_cli.output import columns

    c.out.object(hook.to_api(), columns.WEBHOOKS)


def _print_with_secret(c: "AppContext", hook: "Webhook", what: str) -> None:
    """The answer to create or rotate-secret: the only time the secret is shown.

    Machine formats print the answer whole (the secret is its `secret` field); a table
    shows the webhook, then the secret alone on its line, so it can be copied whole."""
    from makini_cli.output import columns

    data = hook.to_api()
    if c.out.mode_for("object") not in ("table", "wide"):
        c.out.object(data)
        return
    c.out.object({k: v for k, v in data.items() if k != "secret"}, columns.WEBHOOKS)
    c.msg.notice(f"{what}: the signing secret follows. Store it now: it will not be shown again.")
    c.out.text(hook.secret or "")


# ---------------------------------------------------------------------- commands


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", min=1, help="Stop after N webhooks.")
    ] = None,
) -> None:
    """List webhooks (every page; --limit stops early).

    \b
    Examples:
      makini webhooks list
      makini webhooks list -o jsonl | jq -r .url
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    seen: list[Webhook] = []

    def rows() -> Iterator[dict[str, Any]]:
        for hook in c.api.webhooks.list(limit=limit):
            seen.append(hook)
            yield hook.to_api()

    c.out.stream(rows(), columns.WEBHOOKS)
    # A complete list replaces what Tab offers; a limited one adds to it.
    _remember(c, seen, complete=limit is None)


@app.command("get")
def get(ctx: typer.Context, webhook_id: IdArg) -> None:
    """Show one webhook (never its secret: that is shown once, by create and rotate-secret).

    \b
    Examples:
      makini webhooks get wh_3f9a1c2e4b5d6f70
      makini webhooks get wh_3f9a1c2e4b5d6f70 -o json
    """
    c = app_ctx(ctx)
    hook = _get_or_forget(c, webhook_id)
    _remember(c, [hook])
    _print_webhook(c, hook)


@app.command("create")
def create(
    ctx: typer.Context,
    url: UrlOption,
    event: EventsOption = None,
    connection: ConnectionsOption = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create it switched off (enable with update).")
    ] = False,
) -> None:
    """Create a webhook; prints its signing secret, this once.

    Without --event it gets every event; without --connection, every connection's.

    \b
    Examples:
      makini webhooks create --url https://example.com/hooks/makini
      makini webhooks create --url https://example.com/hooks --event sync.failed \\
        --event connection.auth_required --connection 10000715260448
      SECRET=$(makini webhooks create --url https://example.com/hooks -o json | jq -r .secret)
    """
    url = _check_url(url)  # before the API (and a login) is needed
    c = app_ctx(ctx)
    hook = c.api.webhooks.create(
        url=url,
        events=event_values(event),
        connection_keys=_keys(connection),
        enabled=not disabled,
    )
    _remember(c, [hook])
    _print_with_secret(c, hook, f"created webhook {hook.id}")


@app.command("update")
def update(
    ctx: typer.Context,
    webhook_id: IdArg,
    url: Annotated[
        str | None, typer.Option("--url", metavar="URL", help="A new URL (http or https).")
    ] = None,
    event: Annotated[
        list[EventName] | None,
        typer.Option(
            "--event",
            metavar="EVENT",
            help="Send only these events from now on (repeatable; replaces the list).",
        ),
    ] = None,
    all_events: Annotated[
        bool, typer.Option("--all-events", help="Send every event from now on.")
    ] = False,
    connection: Annotated[
        list[str] | None,
        typer.Option(
            "--connection",
            metavar="KEY",
            help="Only these connections' events (repeatable; replaces the list).",
            autocompletion=complete_connection_keys,
        ),
    ] = None,
    all_connections: Annotated[
        bool, typer.Option("--all-connections", help="Every connection's events from now on.")
    ] = False,
    enabled: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Switch deliveries on or off."),
    ] = None,
) -> None:
    """Change a webhook's URL, events, connections, or switch it on or off.

    \b
    Examples:
      makini webhooks update wh_3f9a1c2e4b5d6f70 --url https://example.com/new
      makini webhooks update wh_3f9a1c2e4b5d6f70 --event sync.completed --event sync.failed
      makini webhooks update wh_3f9a1c2e4b5d6f70 --all-events --all-connections
      makini webhooks update wh_3f9a1c2e4b5d6f70 --disable
    """
    if event and all_events:
        raise UsageError("give --event or --all-events, not both", hint="see --help")
    if connection and all_connections:
        raise UsageError("give --connection or --all-connections, not both", hint="see --help")
    events = [] if all_events else (event_values(event) if event else None)
    keys = [] if all_connections else (_keys(connection) if connection else None)
    if url is None and events is None and keys is None and enabled is None:
        raise UsageError(
            "nothing to change",
            hint="give --url, --event, --all-events, --connection, --all-connections, "
            "--enable or --disable",
        )
    if url is not None:
        url = _check_url(url)
    c = app_ctx(ctx)
    hook = c.api.webhooks.update(
        webhook_id,
        url=url,
        events=events,
        connection_keys=keys,
        enabled=enabled,
    )
    _remember(c, [hook])
    _print_webhook(c, hook)


@app.command("delete")
def delete(ctx: typer.Context, webhook_id: IdArg, yes: YesOption = False) -> None:
    """Delete a webhook: nothing more is sent to its URL, pending deliveries included.

    \b
    Examples:
      makini webhooks delete wh_3f9a1c2e4b5d6f70
      makini webhooks delete wh_3f9a1c2e4b5d6f70 --yes
    """
    c = app_ctx(ctx)
    if not yes:
        c.confirm(f"Delete webhook {webhook_id}? Nothing more will be sent to its URL")
    c.api.webhooks.delete(webhook_id)
    _forget(c, webhook_id)
    c.msg.notice(f"deleted webhook {webhook_id}")


@app.command("rotate-secret")
def rotate_secret(ctx: typer.Context, webhook_id: IdArg, yes: YesOption = False) -> None:
    """Give a webhook a new signing secret; the old one stops working at once.

    Prints the new secret, this once. Update your receiver with it before the next
    delivery, or that delivery fails its signature check (and is retried).

    \b
    Examples:
      makini webhooks rotate-secret wh_3f9a1c2e4b5d6f70
      makini webhooks rotate-secret wh_3f9a1c2e4b5d6f70 --yes -o json | jq -r .secret
    """
    c = app_ctx(ctx)
    if not yes:
        c.confirm(f"Rotate the secret of webhook {webhook_id}? The old one stops working at once")
    hook = c.api.webhooks.rotate_secret(webhook_id)
    _remember(c, [hook])
    _print_with_secret(c, hook, f"rotated the secret of webhook {hook.id}")


def _delivery_columns(c: "AppContext", kind: str) -> "list[Column] | None":
    """The deliveries' table columns; none for -o csv, which then has every field (two
    of the table's columns read `attempts`)."""
    from makini_cli.output import columns

    return columns.DELIVERIES if c.out.mode_for(kind) != "csv" else None


def _print_delivery(c: "AppContext", delivery: "Delivery") -> None:
    c.out.object(delivery.to_api(), _delivery_columns(c, "object"))


@app.command("test")
def test(
    ctx: typer.Context,
    webhook_id: IdArg,
    event: Annotated[
        EventName | None,
        typer.Option("--event", metavar="EVENT", help="The event to send (default: ping)."),
    ] = None,
) -> None:
    """Send a test event to a webhook now; prints the delivery it made.

    \b
    Examples:
      makini webhooks test wh_3f9a1c2e4b5d6f70
      makini webhooks test wh_3f9a1c2e4b5d6f70 --event sync.failed
    """
    c = app_ctx(ctx)
    delivery = c.api.webhooks.test(webhook_id, event=event.value if event else None)
    _remember_deliveries(c, [delivery])
    c.msg.notice(
        f"sent {delivery.event or 'a test event'} to webhook {webhook_id}: delivery "
        f"{delivery.id} is {delivery.status or 'queued'}"
    )
    _print_delivery(c, delivery)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    webhook_id: IdArg,
    status: Annotated[
        DeliveryStatus | None,
        typer.Option(metavar="[pending|succeeded|failed]", help="Only deliveries in this status."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", min=1, help="Stop after N deliveries.")
    ] = None,
) -> None:
    """A webhook's deliveries, newest first: status, attempts, last answer, next attempt.

    \b
    Examples:
      makini webhooks deliveries wh_3f9a1c2e4b5d6f70
      makini webhooks deliveries wh_3f9a1c2e4b5d6f70 --status failed --limit 20
    """
    c = app_ctx(ctx)
    seen: list[Delivery] = []

    def rows() -> Iterator[dict[str, Any]]:
        for delivery in c.api.webhooks.deliveries(webhook_id, status=status, limit=limit):
            seen.append(delivery)
            yield delivery.to_api()

    c.out.stream(rows(), _delivery_columns(c, "stream"))
    _remember_deliveries(c, seen)


@app.command("retry")
def retry(
    ctx: typer.Context,
    delivery_id: Annotated[
        str,
        typer.Argument(
            metavar="DELIVERY_ID",
            help="Delivery id (dlv_…; see `makini webhooks deliveries ID`).",
            autocompletion=complete_delivery_ids,
        ),
    ],
) -> None:
    """Attempt a delivery again now; a failed one becomes pending and is retried as new.

    \b
    Examples:
      makini webhooks retry dlv_8e1f0a9b7c6d5e4f
    """
    c = app_ctx(ctx)
    delivery = c.api.webhooks.retry(delivery_id)
    _remember_deliveries(c, [delivery])
    c.msg.notice(f"delivery {delivery.id}: a new attempt is due now")
    _print_delivery(c, delivery)


def _add_receivers() -> None:
    """`webhooks listen` and `webhooks verify` live in their own module, which may not be
    installed yet: without it the other commands work all the same."""
    import importlib

    name = "makini_cli.commands.webhooks_receive"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the module is there but something it needs is not: a real error
        return
    module.register(app)


_add_receivers()
