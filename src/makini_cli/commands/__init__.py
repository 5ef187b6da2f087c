"""One Typer sub-app per noun. Modules here import only typer and light helpers at the top:
anything heavy is imported inside the command that needs it."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from makini_cli.commands import (
        auth,
        config_cmd,
        connections,
        help_cmd,
        misc,
        profile,
        sandbox,
        sync,
    )

    app.add_typer(auth.app, name="auth")
    app.add_typer(profile.app, name="profile")
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(connections.app, name="connections")
    # Singular alias, hidden from help so the listing stays short.
    app.add_typer(connections.app, name="connection", hidden=True)
    app.add_typer(sync.app, name="sync")
    app.add_typer(sandbox.app, name="sandbox")
    app.add_typer(help_cmd.app, name="help")
    misc.register(app)
