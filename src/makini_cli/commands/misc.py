"""Top-level commands that are not nouns: version, completion."""

from __future__ import annotations

from typing import Annotated

import typer

from makini_cli import __version__, completion
from makini_cli.errors import UsageError

SHELLS = completion.SHELLS
COMPLETE_VAR = completion.COMPLETE_VAR

# "\b" keeps click from re-wrapping the paragraph: each command stays on its line.
_INSTALL_HELP = "\b\n" + "\n".join(
    f"{shell if i == 0 else '':<6}{line}"
    for shell in SHELLS
    for i, line in enumerate(completion.INSTALL[shell])
)


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print the version."""
        typer.echo(f"makini {__version__}")

    @app.command(
        "completion",
        epilog=f"Install it once (makini never edits shell start-up files):\n\n{_INSTALL_HELP}",
    )
    def completion_(
        shell: Annotated[
            str,
            typer.Argument(
                metavar="SHELL",
                help="bash, zsh or fish.",
                autocompletion=completion.choices(*SHELLS),
            ),
        ],
    ) -> None:
        """Print the shell completion script, for you to install.

        Tab then completes commands, options, enum values, profile names, and the
        connection keys and sync ids that earlier commands showed (a local cache: Tab
        never touches the network).
        """
        if shell not in SHELLS:
            raise UsageError(
                f"unsupported shell {shell!r}", hint=f"choose one of {', '.join(SHELLS)}"
            )
        # The same text `_MAKINI_COMPLETE=source_<shell> makini` prints (Typer's protocol);
        # completions/ holds copies, and a test keeps them identical.
        typer.echo(completion.script(shell), nl=False)
