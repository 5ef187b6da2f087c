"""`makini profile`: named sets of settings in the config file."""

from typing import Annotated, Any

import typer

from makini_cli.commands._common import YesOption, app_ctx, complete_profiles, new_app
from makini_cli.config.settings import shown_base_url
from makini_cli.config.store import (
    BUILTIN_SANDBOX,
    DEFAULT_BASE_URL,
    SANDBOX_BASE_URL,
    check_profile_name,
)
from makini_cli.errors import ConfigError

app = new_app(
    """Manage profiles: named sets of settings (base URL, client id, defaults).

    \b
    Examples:
      makini profile create prod --base-url https://api.makini.io --use
      makini profile list
      makini profile use sandbox"""
)

NameArg = Annotated[
    str, typer.Argument(metavar="NAME", help="Profile name.", autocompletion=complete_profiles)
]


def _rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    profiles: dict[str, dict[str, Any]] = doc.get("profiles", {})
    active = doc.get("active_profile") or BUILTIN_SANDBOX
    names = [BUILTIN_SANDBOX, *sorted(n for n in profiles if n != BUILTIN_SANDBOX)]
    rows = []
    for name in names:
        section = profiles.get(name, {})
        default_url = SANDBOX_BASE_URL if name == BUILTIN_SANDBOX else DEFAULT_BASE_URL
        rows.append(
            {
                "name": name,
                "active": name == active,
                "builtin": name == BUILTIN_SANDBOX,
                # A hand-edited URL may hold a password: never print it.
                "base_url": shown_base_url(section.get("base_url", default_url), quoted=False),
                "client_id": section.get("client_id"),
                **{k: v for k, v in section.items() if k not in ("base_url", "client_id")},
            }
        )
    return rows


@app.command("list")
def list_profiles(ctx: typer.Context) -> None:
    """List profiles; the active one is marked.

    \b
    Examples:
      makini profile list
      makini profile list -o json
    """
    from makini_cli.output import columns

    c = app_ctx(ctx)
    c.out.stream(_rows(c.store.load()), columns.PROFILES, light=True)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME]",
            help="Profile name (default: the active one).",
            autocompletion=complete_profiles,
        ),
    ] = None,
) -> None:
    """Show one profile's settings.

    \b
    Examples:
      makini profile show
      makini profile show prod -o json
    """
    c = app_ctx(ctx)
    target = name or c.settings.profile_name
    for row in _rows(c.store.load()):
        if row["name"] == target:
            c.out.object(row, light=True)
            return
    raise ConfigError(f"profile {target!r} does not exist", hint="run `makini profile list`")


@app.command("use")
def use(ctx: typer.Context, name: NameArg) -> None:
    """Make a profile the active one.

    \b
    Examples:
      makini profile use prod
    """
    c = app_ctx(ctx)
    check_profile_name(name)

    def change(doc: dict[str, Any]) -> None:
        if name != BUILTIN_SANDBOX and name not in doc.get("profiles", {}):
            raise ConfigError(
                f"profile {name!r} does not exist",
                hint=f"create it with `makini profile create {name} --base-url URL`",
            )
        doc["active_profile"] = name

    c.store.update(change)
    c.msg.notice(f"active profile: {name}")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="New profile name.")],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help=f"API base URL (default {DEFAULT_BASE_URL}; `sandbox` for the bundled sandbox).",
        ),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Admin API client id.")
    ] = None,
    activate: Annotated[
        bool, typer.Option("--use", help="Also make it the active profile.")
    ] = False,
) -> None:
    """Create a profile. Log in to it with `makini auth login -p NAME`.

    \b
    Examples:
      makini profile create prod --base-url https://api.makini.io
      makini profile create staging --base-url https://staging.example.com --use
    """
    from makini_cli.config.settings import coerce

    c = app_ctx(ctx)
    check_profile_name(name)
    # `--base-url` is also a global option; the root keeps it, so read it from there.
    url = base_url or c.flags.get("base_url") or DEFAULT_BASE_URL
    url = coerce("base_url", url, "flag")

    def change(doc: dict[str, Any]) -> None:
        profiles = doc.setdefault("profiles", {})
        if name in profiles or name == BUILTIN_SANDBOX:
            raise ConfigError(
                f"profile {name!r} already exists",
                hint=f"change it with `makini -p {name} config set KEY VALUE`",
            )
        section: dict[str, Any] = {"base_url": url}
        if client_id:
            section["client_id"] = client_id
        profiles[name] = section
        if activate:
            doc["active_profile"] = name

    c.store.update(change)
    c.msg.notice(f"created profile {name} ({url})" + (", now active" if activate else ""))


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: YesOption = False,
) -> None:
    """Delete a profile and the credentials stored for it.

    \b
    Examples:
      makini profile delete staging --yes
    """
    c = app_ctx(ctx)
    if name == BUILTIN_SANDBOX:
        raise ConfigError(
            "the built-in sandbox profile cannot be deleted", hint="choose another profile"
        )
    section = c.store.profiles().get(name)
    if section is None:
        raise ConfigError(f"profile {name!r} does not exist", hint="run `makini profile list`")
    # Read before the profile goes: the token caches are named after its base URL.
    base_url = section.get("base_url", DEFAULT_BASE_URL)
    if not yes:
        c.confirm(f"Delete profile {name} and its stored credentials?")

    def change(doc: dict[str, Any]) -> None:
        doc.get("profiles", {}).pop(name, None)
        if doc.get("active_profile") == name:
            doc.pop("active_profile")

    from makini_cli.commands.auth import forget_credentials

    # Secrets first: should that fail, the profile is still there to log out of or delete
    # again; the other way round, its secrets would outlive it with nothing naming them.
    forget_credentials(c, name, str(base_url))
    c.store.update(change)
    c.msg.notice(f"deleted profile {name}")
