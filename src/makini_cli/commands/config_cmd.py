"""`makini config`: read and change the active profile's settings."""

from typing import Annotated, Any

import typer

from makini_cli.commands._common import app_ctx, new_app
from makini_cli.completion import choices
from makini_cli.config.store import PROFILE_KEYS
from makini_cli.errors import UsageError

app = new_app(
    """Read and change settings of the active profile (or -p NAME).

    \b
    Examples:
      makini config list --show-origin
      makini config set output json
      makini -p prod config get base_url"""
)

SettingArg = Annotated[
    str,
    typer.Argument(
        metavar="SETTING",
        help=f"One of: {', '.join(PROFILE_KEYS)}.",
        autocompletion=choices(*PROFILE_KEYS.items()),
    ),
]


def _check_key(key: str) -> str:
    if key not in PROFILE_KEYS:
        raise UsageError(
            f"unknown setting {key!r}",
            hint=f"settings are: {', '.join(PROFILE_KEYS)}",
        )
    return key


@app.command("get")
def get(ctx: typer.Context, key: SettingArg) -> None:
    """Print the value in force for SETTING (after flags and environment).

    \b
    Examples:
      makini config get base_url
    """
    c = app_ctx(ctx)
    _check_key(key)
    value = c.settings[key]
    c.out.text("" if value is None else str(value))


@app.command("set")
def set_(
    ctx: typer.Context, key: SettingArg, value: Annotated[str, typer.Argument(metavar="VALUE")]
) -> None:
    """Set SETTING in the profile.

    \b
    Examples:
      makini config set output json
      makini -p prod config set timeout 60
    """
    from makini_cli.config.settings import coerce

    c = app_ctx(ctx)
    _check_key(key)
    checked = coerce(key, value, "argument")
    profile = c.settings.profile_name

    def change(doc: dict[str, Any]) -> None:
        doc.setdefault("profiles", {}).setdefault(profile, {})[key] = checked

    c.store.update(change)
    c.msg.notice(f"{key} = {checked} (profile {profile})")


@app.command("unset")
def unset(ctx: typer.Context, key: SettingArg) -> None:
    """Remove SETTING from the profile, so the default applies again.

    \b
    Examples:
      makini config unset output
    """
    c = app_ctx(ctx)
    _check_key(key)
    profile = c.settings.profile_name

    def change(doc: dict[str, Any]) -> bool:
        section = doc.get("profiles", {}).get(profile, {})
        return section.pop(key, None) is not None

    if not c.store.update(change):
        c.msg.notice(f"{key} was not set in profile {profile}")


@app.command("list")
def list_(
    ctx: typer.Context,
    show_origin: Annotated[
        bool, typer.Option("--show-origin", help="Show where each value comes from.")
    ] = False,
) -> None:
    """List every setting in force and, with --show-origin, where it came from.

    \b
    Examples:
      makini config list --show-origin
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    s = c.settings
    rows: list[dict[str, Any]] = [
        {"key": "profile", "value": s.profile_name, "origin": s.profile.origin}
    ]
    for key in (
        "base_url",
        "client_id",
        "output",
        "color",
        "timeout",
        "max_retries",
        "ca_bundle",
        "no_input",
        "debug",
    ):
        value = s[key]
        rows.append({"key": key, "value": value, "origin": s.origin(key)})
    cols = columns.CONFIG_WITH_ORIGIN if show_origin else columns.CONFIG
    if not show_origin:
        rows = [{"key": r["key"], "value": r["value"]} for r in rows]
    c.out.stream(rows, cols, light=True)


@app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the config file's path.

    \b
    Examples:
      makini config path
    """
    c = app_ctx(ctx)
    c.out.text(str(c.store.path))
    if not c.store.path.exists():
        c.msg.notice(
            "(the file does not exist yet; `makini profile create` or `config set` creates it)"
        )
