"""Top-level commands that are not nouns: version, completion, api."""

from typing import Annotated

import typer

from makini_cli import __version__, completion
from makini_cli.commands import api_cmd
from makini_cli.errors import UsageError

SHELLS = completion.SHELLS
COMPLETE_VAR = completion.COMPLETE_VAR


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print the version (also `makini --version`).

        \b
        Examples:
          makini version
        """
        typer.echo(f"makini {__version__}")

    @app.command("completion")
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
        """Print the shell completion script, for you to install once.

        Tab then completes commands, options, enum values, profile names, and the
        connection keys and sync ids earlier commands showed (a local cache: Tab never
        touches the network). Install it once as below, then open a new shell; makini
        never edits shell start-up files itself.

        \b
        Examples:
          makini completion bash > ~/.local/share/bash-completion/completions/makini
          makini completion fish > ~/.config/fish/completions/makini.fish
          mkdir -p ~/.zfunc && makini completion zsh > ~/.zfunc/_makini
            (zsh: and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath))
        """
        if shell not in SHELLS:
            raise UsageError(
                f"unsupported shell {shell!r}", hint=f"choose one of {', '.join(SHELLS)}"
            )
        # The same text `_MAKINI_COMPLETE=source_<shell> makini` prints (Typer's protocol);
        # completions/ holds copies, and a test keeps them identical.
        typer.echo(completion.script(shell), nl=False)

    api_cmd.register(app)
