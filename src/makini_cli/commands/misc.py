"""Top-level commands that are not nouns: version, completion."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from makini_cli import __version__
from makini_cli.errors import UsageError

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_MAKINI_COMPLETE"


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print the version."""
        typer.echo(f"makini {__version__}")

    @app.command("completion")
    def completion(
        shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
    ) -> None:
        """Print the shell completion script.

        For example: makini completion bash > ~/.local/share/bash-completion/completions/makini
        """
        if shell not in SHELLS:
            raise UsageError(
                f"unsupported shell {shell!r}", hint=f"choose one of {', '.join(SHELLS)}"
            )
        # Typer's documented protocol: with _MAKINI_COMPLETE=source_<shell> the program
        # prints its completion script. Reusing it keeps `completions/` identical to it.
        os.environ[COMPLETE_VAR] = f"source_{shell}"
        try:
            typer.main.get_command(app).main(args=[], prog_name="makini", standalone_mode=False)
        finally:
            os.environ.pop(COMPLETE_VAR, None)
