"""One Typer sub-app per noun. Modules here import only typer and light helpers at the top:
anything heavy is imported inside the command that needs it.

Only the noun a command line names is imported and built: building every sub-app cost
each run, `--help` included, more than the interpreter's own start-up. The others are
stand-ins that carry their one-line summary, so `makini --help` still lists them all.
"""

import importlib

import typer

from makini_cli.helpcache import HELP_PAGES as HELP_PAGES

#: noun → (module, summary). The summary is the first line of the module's own help (a
#: test keeps them equal); it is here so listing a noun does not import it.
NOUNS: dict[str, tuple[str, str]] = {
    "auth": ("auth", "Log in to Makini, and see or print the credentials in use."),
    "profile": (
        "profile",
        "Manage profiles: named sets of settings (base URL, client id, defaults).",
    ),
    "config": ("config_cmd", "Read and change settings of the active profile (or -p NAME)."),
    "connections": (
        "connections",
        "List, inspect, create and delete connections to industrial systems.",
    ),
    "sync": ("sync", "Run syncs and watch them finish; list, inspect, cancel and schedule them."),
    "webhooks": (
        "webhooks",
        "Manage webhooks: where Makini sends events, their secrets, and each delivery.",
    ),
    "events": (
        "events",
        "Read the event log: syncs, connection changes and record updates, as webhooks get them.",
    ),
    "custom-fields": (
        "custom_fields",
        "Define custom fields per connection, and keep them as code: export, diff, apply.",
    ),
    "records": (
        "records",
        "Read unified records (work orders, assets, …) of a connection, or export them.",
    ),
    "raw": ("raw_cmd", "Read a connected system's own tables, as Makini sees them."),
    "sandbox": ("sandbox", "Run the bundled sandbox: a local server that behaves like Makini."),
    "help": ("help_cmd", "Reference pages, and help on any command: `makini help sync run`."),
}
#: singular aliases, hidden from help so the listing stays short
ALIASES: dict[str, str] = {
    "connection": "connections",
    "webhook": "webhooks",
    "event": "events",
    "custom-field": "custom-fields",
    "record": "records",
}


def noun_of(name: str) -> str | None:
    """The noun a command-line word names (aliases resolved), or None."""
    name = ALIASES.get(name, name)
    return name if name in NOUNS else None


def sub_app(noun: str) -> typer.Typer:
    module = importlib.import_module(f"makini_cli.commands.{NOUNS[noun][0]}")
    found: typer.Typer = module.app
    return found


def register(app: typer.Typer, only: str | None = None) -> None:
    """Add the nouns to `app`: all of them built (`only=None`), only `only` (a noun), or
    stand-ins for all of them (`only=""`: the root's own help)."""
    from makini_cli.commands import misc
    from makini_cli.commands._common import new_app

    built: dict[str, typer.Typer] = {}
    for noun, (_, summary) in NOUNS.items():
        if only is None or noun == only:
            built[noun] = sub_app(noun)
            app.add_typer(built[noun], name=noun)
        elif not only:
            # Stand-ins only where a listing shows them (`makini --help`): a run of one
            # noun never lists the others, and each costs a group to build.
            app.add_typer(new_app(summary), name=noun)
    for alias, noun in ALIASES.items():
        if noun in built:
            app.add_typer(built[noun], name=alias, hidden=True)
    misc.register(app)
